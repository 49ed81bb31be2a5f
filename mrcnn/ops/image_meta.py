"""The image-meta vector that travels with each molded image: its layout, defined once.

``[1 + 3 + 3 + 4 + 1 + NUM_CLASSES]`` float32: image id, original shape ``(H, W, C)``,
molded shape, window ``(y1, x1, y2, x2)`` (the image, without padding, in molded pixels),
scale, active-class flags. Written by :mod:`mrcnn.preprocessing` (detect, the SavedModel
export) and the training input pipeline, read by the graph (:class:`DetectionLayer`).

NumPy only at import time: :mod:`mrcnn.config` sizes its ``IMAGE_META_SIZE`` from here.
"""

from __future__ import annotations

import numpy as np

# (field, size) in layout order; ``active_class_ids`` (NUM_CLASSES values) follows them.
IMAGE_META_FIELDS: tuple[tuple[str, int], ...] = (
    ("image_id", 1),
    ("original_image_shape", 3),
    ("image_shape", 3),
    ("window", 4),
    ("scale", 1),
)
_FIXED_SIZE = sum(size for _, size in IMAGE_META_FIELDS)


def image_meta_size(num_classes: int) -> int:
    """Length of an image-meta vector for ``num_classes`` classes (background included)."""
    return _FIXED_SIZE + num_classes


def image_meta_parts(image_id, original_shape, image_shape, window, scale,
                     active_class_ids) -> tuple:
    """The fields in layout order, for a concatenation in NumPy
    (:func:`compose_image_meta`) or TensorFlow (:func:`mrcnn.preprocessing.mold_inputs_tf`)."""
    return image_id, original_shape, image_shape, window, scale, active_class_ids


def compose_image_meta(image_id: int, original_shape, image_shape, window, scale: float,
                       active_class_ids) -> np.ndarray:
    """One image's meta vector, float32 (see the module docstring)."""
    parts = [np.asarray(p, np.float32).reshape(-1)
             for p in image_meta_parts(image_id, original_shape, image_shape, window, scale,
                                       active_class_ids)]
    for (name, size), part in zip(IMAGE_META_FIELDS, parts):
        if part.size != size:
            raise ValueError(f"image meta: {name} needs {size} value(s), got {part.size}")
    return np.concatenate(parts)


def parse_image_meta(meta) -> dict:
    """Split ``[..., META]`` image metas (NumPy arrays or tf tensors) into named fields;
    single-value fields drop their last axis."""
    fields = {}
    start = 0
    for name, size in IMAGE_META_FIELDS:
        fields[name] = meta[..., start] if size == 1 else meta[..., start:start + size]
        start += size
    fields["active_class_ids"] = meta[..., start:]
    return fields
