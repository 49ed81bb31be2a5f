"""Resizing images and masks to the network's input size, and mini masks.

Boxes and masks follow the image: a resize returns the ``window`` (the image's place in
the padded canvas), the ``scale`` and the ``padding`` so callers can map back.
"""

from __future__ import annotations

import cv2
import numpy as np


def resize_image(image: np.ndarray, min_dim: int | None = None, max_dim: int | None = None,
                 min_scale: float | None = None, mode: str = "square",
                 rng: np.random.Generator | None = None):
    """Resize (keeping the aspect ratio) and pad ``image`` ``[H, W, C]``.

    Modes: ``none`` (unchanged), ``square`` (longest side <= ``max_dim`` after scaling
    the shortest to ``min_dim``, padded to ``max_dim x max_dim``), ``pad64`` (like square
    but padded only to multiples of 64), ``crop`` (scaled, then a random
    ``min_dim x min_dim`` crop drawn from ``rng``).

    Returns ``(image, window, scale, padding, crop)``: window ``(y1, x1, y2, x2)`` in the
    output, padding ``[(top, bottom), (left, right), (0, 0)]``, crop ``(y, x, h, w)`` or None.
    """
    dtype = image.dtype
    h, w = image.shape[:2]
    window = (0, 0, h, w)
    scale = 1.0
    padding = [(0, 0), (0, 0), (0, 0)]
    crop = None
    if mode == "none":
        return image, window, scale, padding, crop
    if min_dim:
        scale = max(1.0, min_dim / min(h, w))
    if min_scale and scale < min_scale:
        scale = min_scale
    if max_dim and mode == "square":
        longest = max(h, w)
        if round(longest * scale) > max_dim:
            scale = max_dim / longest
    if scale != 1:
        new_h, new_w = max(1, round(h * scale)), max(1, round(w * scale))
        image = _resize(image, (new_h, new_w), cv2.INTER_LINEAR).astype(dtype)
    h, w = image.shape[:2]
    if mode == "square":
        top = (max_dim - h) // 2
        left = (max_dim - w) // 2
        padding = [(top, max_dim - h - top), (left, max_dim - w - left), (0, 0)]
    elif mode == "pad64":
        pad_h = (64 - h % 64) % 64
        pad_w = (64 - w % 64) % 64
        padding = [(pad_h // 2, pad_h - pad_h // 2), (pad_w // 2, pad_w - pad_w // 2), (0, 0)]
    elif mode == "crop":
        rng = rng or np.random.default_rng()
        y = int(rng.integers(0, h - min_dim + 1))
        x = int(rng.integers(0, w - min_dim + 1))
        crop = (y, x, min_dim, min_dim)
        return image[y:y + min_dim, x:x + min_dim], (0, 0, min_dim, min_dim), scale, padding, crop
    else:
        raise ValueError(f"unknown IMAGE_RESIZE_MODE {mode!r}")
    image = np.pad(image, padding[:image.ndim], mode="constant")
    window = (padding[0][0], padding[1][0], padding[0][0] + h, padding[1][0] + w)
    return image, window, scale, padding, crop


def inference_resize_mode(config) -> str:
    """``config.IMAGE_RESIZE_MODE`` as inference applies it: "crop" (a random crop, for
    training) resizes as "square", so the whole image is seen."""
    return "square" if config.IMAGE_RESIZE_MODE == "crop" else config.IMAGE_RESIZE_MODE


def _resize(array: np.ndarray, size: tuple[int, int], interpolation: int) -> np.ndarray:
    """cv2.resize for ``[H, W]`` or ``[H, W, C]`` arrays with any number of channels."""
    out_h, out_w = size
    if array.ndim == 3 and array.shape[2] > 512:  # cv2's channel limit: resize in chunks
        return np.concatenate([_resize(array[..., i:i + 512], size, interpolation)
                               for i in range(0, array.shape[2], 512)], axis=2)
    resized = cv2.resize(array, (out_w, out_h), interpolation=interpolation)
    if array.ndim == 3 and resized.ndim == 2:
        resized = resized[..., None]
    return resized


def resize_mask(mask: np.ndarray, scale: float, padding, crop=None) -> np.ndarray:
    """Apply the scale, padding and crop of :func:`resize_image` to ``[H, W, N]`` bool masks.

    Masks are resampled bilinearly on the image's pixel centres and thresholded at 0.5
    (:mod:`mrcnn.ops.geometry`), so their boundaries stay on the resized image's (nearest
    neighbour would shift them by up to half a pixel).
    """
    h, w = mask.shape[:2]
    if scale != 1 and mask.shape[2]:
        size = (max(1, round(h * scale)), max(1, round(w * scale)))
        mask = _resize(mask.astype(np.float32), size, cv2.INTER_LINEAR) >= 0.5
    elif scale != 1:
        mask = np.zeros((max(1, round(h * scale)), max(1, round(w * scale)), 0), bool)
    if crop is not None:
        y, x, ch, cw = crop
        return mask[y:y + ch, x:x + cw]
    return np.pad(mask, padding, mode="constant")


def minimize_mask(boxes: np.ndarray, masks: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Crop each ``[H, W, N]`` mask to its box ``[N, 4]`` and resize it to ``shape``.

    Mini masks save memory for large images; they are pasted back by the target layer.
    Cell ``k`` of a mini mask samples the centre of the ``k``-th of ``shape`` equal cells of
    the box (OpenCV's bilinear resize, thresholded at 0.5; :mod:`mrcnn.ops.geometry`).
    """
    out = np.zeros(tuple(shape) + (masks.shape[-1],), dtype=bool)
    for i in range(masks.shape[-1]):
        y1, x1, y2, x2 = boxes[i]
        if y2 <= y1 or x2 <= x1:
            continue
        crop = masks[y1:y2, x1:x2, i].astype(np.float32)
        out[..., i] = cv2.resize(crop, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR) >= 0.5
    return out

