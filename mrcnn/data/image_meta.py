"""The per-image metadata vector that travels with each molded image."""

from __future__ import annotations

import numpy as np


def compose_image_meta(image_id: int, original_shape, image_shape, window, scale: float,
                       active_class_ids) -> np.ndarray:
    """``[1 + 3 + 3 + 4 + 1 + NUM_CLASSES]`` float32: id, original shape, molded shape,
    window ``(y1, x1, y2, x2)`` in molded pixels, scale, active-class flags."""
    return np.array([image_id, *original_shape, *image_shape, *window, scale,
                     *active_class_ids], dtype=np.float32)


def parse_image_meta(meta: np.ndarray) -> dict[str, np.ndarray]:
    """Split ``[..., META]`` image metas into named fields (works on numpy and tf tensors)."""
    return {
        "image_id": meta[..., 0],
        "original_image_shape": meta[..., 1:4],
        "image_shape": meta[..., 4:7],
        "window": meta[..., 7:11],
        "scale": meta[..., 11],
        "active_class_ids": meta[..., 12:],
    }
