"""Plain-numpy reference implementations ("numpy twins") shared by the tests, and the
former dense ``paste_masks`` (TensorFlow) that the box-only one must reproduce bit for bit
(also timed against it by ``bench/paste.py``).

Boxes are ``(y1, x1, y2, x2)``.
"""

import numpy as np
import tensorflow as tf


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


def np_nms(boxes, scores, threshold, limit, score_threshold=float("-inf")) -> list[int]:
    """Greedy NMS: indices kept, best first; scores at or below ``score_threshold`` never
    are."""
    keep = []
    for i in np.argsort(-scores, kind="stable"):
        if scores[i] <= score_threshold:
            break
        if all(np_iou(boxes[i], boxes[k]) <= threshold for k in keep):
            keep.append(i)
        if len(keep) == limit:
            break
    return keep


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


def dense_paste_samples(masks, boxes, image_shape):
    """The former, dense :func:`paste_masks`: samples and in-box flags of every pixel.

    ``crop_and_resize`` of the symmetric-padded masks over the whole ``[H, W]`` image
    (``[N, H, W]`` floats) and the pixel-centre-in-box test (``[N, H, W]`` bool): the
    reference the box-only implementation must reproduce bit for bit.
    """
    masks = tf.convert_to_tensor(masks, tf.float32)
    boxes = tf.convert_to_tensor(boxes, tf.float32)
    mh = tf.cast(tf.shape(masks)[1], tf.float32)
    mw = tf.cast(tf.shape(masks)[2], tf.float32)
    height, width = image_shape[0], image_shape[1]
    span_h = tf.maximum(tf.cast(height, tf.float32) - 1.0, 0.0)
    span_w = tf.maximum(tf.cast(width, tf.float32) - 1.0, 0.0)
    y1, x1, y2, x2 = tf.unstack(boxes, axis=-1)
    bh = tf.maximum(y2 - y1, 1e-3)
    bw = tf.maximum(x2 - x1, 1e-3)
    padded = tf.pad(masks, [[0, 0], [1, 1], [1, 1]], mode="SYMMETRIC")
    a_y = ((0.5 - y1) * mh / bh + 0.5) / (mh + 1.0)
    a_x = ((0.5 - x1) * mw / bw + 0.5) / (mw + 1.0)
    b_y = a_y + (mh / bh) * span_h / (mh + 1.0)
    b_x = a_x + (mw / bw) * span_w / (mw + 1.0)
    grid = tf.stack([a_y, a_x, b_y, b_x], axis=-1)
    n = tf.shape(masks)[0]
    samples = tf.image.crop_and_resize(tf.expand_dims(padded, -1), grid, tf.range(n),
                                       tf.stack([height, width]))[..., 0]
    centres_y = tf.cast(tf.range(height), tf.float32) + 0.5
    centres_x = tf.cast(tf.range(width), tf.float32) + 0.5
    inside_y = (centres_y[None] >= y1[:, None]) & (centres_y[None] < y2[:, None])
    inside_x = (centres_x[None] >= x1[:, None]) & (centres_x[None] < x2[:, None])
    return samples, inside_y[:, :, None] & inside_x[:, None, :]


def dense_paste_masks(masks, boxes, image_shape, threshold=0.5):
    """The former :func:`paste_masks` (whole-image resampling): ``[N, H, W]`` bool."""
    samples, inside = dense_paste_samples(masks, boxes, image_shape)
    return inside & (samples >= threshold)
