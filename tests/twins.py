"""Plain-numpy reference implementations ("numpy twins") shared by the tests.

Boxes are ``(y1, x1, y2, x2)``.
"""

import numpy as np


def np_iou(a, b) -> float:
    """IoU of two single boxes, 0 when the union is empty."""
    inter = (max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
             * max(0.0, min(a[3], b[3]) - max(a[1], b[1])))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def np_iou_matrix(a, b) -> np.ndarray:
    """IoU ``[N, M]`` of boxes ``a [N, 4]`` vs ``b [M, 4]`` (float64), 0 for an empty union."""
    a, b = np.asarray(a, np.float64)[:, None], np.asarray(b, np.float64)[None]
    ih = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    iw = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    inter = ih * iw
    union = ((a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
             + (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1]) - inter)
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def np_decode(boxes, deltas) -> np.ndarray:
    """Apply ``(dy, dx, log dh, log dw)`` deltas to boxes; ``[..., 4]``, a single box included."""
    boxes, deltas = np.asarray(boxes), np.asarray(deltas)
    h, w = boxes[..., 2] - boxes[..., 0], boxes[..., 3] - boxes[..., 1]
    cy = boxes[..., 0] + 0.5 * h + deltas[..., 0] * h
    cx = boxes[..., 1] + 0.5 * w + deltas[..., 1] * w
    h, w = h * np.exp(deltas[..., 2]), w * np.exp(deltas[..., 3])
    return np.stack([cy - h / 2, cx - w / 2, cy + h / 2, cx + w / 2], -1)


def np_crop_and_resize(image: np.ndarray, box, size, edge=0.0) -> np.ndarray:
    """``tf.image.crop_and_resize`` of one ``[H, W]`` image (normalized box, 0 outside).

    A sample up to ``edge`` pixels outside the image still counts as inside (clamped).
    """
    h, w = image.shape
    y1, x1, y2, x2 = box
    out = np.zeros(size, np.float64)
    for i in range(size[0]):
        y = y1 * (h - 1) + i * (y2 - y1) * (h - 1) / (size[0] - 1) if size[0] > 1 \
            else 0.5 * (y1 + y2) * (h - 1)
        if not -edge <= y <= h - 1 + edge:
            continue
        for j in range(size[1]):
            x = x1 * (w - 1) + j * (x2 - x1) * (w - 1) / (size[1] - 1) if size[1] > 1 \
                else 0.5 * (x1 + x2) * (w - 1)
            if not -edge <= x <= w - 1 + edge:
                continue
            out[i, j] = bilinear(image, y, x)
    return out


def bilinear(image: np.ndarray, y: float, x: float) -> float:
    """Bilinear sample at ``(y, x)``, coordinates clamped to the image (edge replication)."""
    h, w = image.shape
    y = min(max(y, 0.0), h - 1.0)
    x = min(max(x, 0.0), w - 1.0)
    y0, x0 = int(np.floor(y)), int(np.floor(x))
    y1, x1 = min(y0 + 1, h - 1), min(x0 + 1, w - 1)
    dy, dx = y - y0, x - x0
    top = image[y0, x0] * (1 - dx) + image[y0, x1] * dx
    bottom = image[y1, x0] * (1 - dx) + image[y1, x1] * dx
    return top * (1 - dy) + bottom * dy
