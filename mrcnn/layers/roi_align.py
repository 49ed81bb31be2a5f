"""PyramidROIAlign: bilinear RoI pooling from the FPN level each RoI is assigned to."""

from __future__ import annotations

import keras
import tensorflow as tf

from mrcnn.ops.boxes import denorm_boxes
from mrcnn.ops.geometry import cell_centre_crops
from mrcnn.ops.resample import IMPLS, crop_and_resize, crop_and_resize_gather
from mrcnn.precision import Float32Layer

# In octaves (log2 of the size): 1e-4 is 0.007% of a RoI's side.
LEVEL_TOLERANCE = 1e-4


def assign_roi_levels(rois: tf.Tensor, image_area: tf.Tensor, canonical_size: float = 224.0,
                      canonical_level: int = 4, min_level: int = 2,
                      max_level: int = 5) -> tf.Tensor:
    """Pyramid level of each RoI: ``k = floor(k0 + log2(sqrt(wh) / 224))``, clipped (the
    FPN paper's equation 1, as Detectron2's ``assign_boxes_to_levels`` and torchvision's
    ``LevelMapper``): a RoI of 112 to 223 px is pooled from P3, 224 to 447 px from P4.

    ``rois`` are normalized ``[..., 4]``; ``image_area`` is the molded image's pixel area,
    so ``sqrt(wh)`` is measured in pixels. ``LEVEL_TOLERANCE`` keeps a RoI of exactly
    ``224 * 2**j`` px at level ``k0 + j`` although normalized coordinates round its size
    a little below. Returns int32 ``[...]``.
    """
    h = rois[..., 2] - rois[..., 0]
    w = rois[..., 3] - rois[..., 1]
    size = tf.sqrt(tf.maximum(h * w, 1e-12)) * tf.sqrt(tf.cast(image_area, tf.float32))
    k = canonical_level + tf.math.log(size / canonical_size) / tf.math.log(2.0)
    k = tf.clip_by_value(tf.floor(k + LEVEL_TOLERANCE), min_level, max_level)
    return tf.cast(k, tf.int32)


@keras.saving.register_keras_serializable(package="mrcnn")
class PyramidROIAlign(Float32Layer):
    """Pool every RoI to ``pool_size x pool_size`` from its pyramid level.

    Inputs: ``rois`` ``[B, R, 4]`` normalized, ``image`` ``[B, H, W, C]`` (for its size),
    then the feature maps P2..P5 ``[B, h_l, w_l, D]`` of ``strides`` (4, 8, 16, 32).
    Returns ``[B * R, pool, pool, D]``, RoIs of image ``b`` at rows ``b * R .. b * R + R - 1``
    in their input order; gradients flow to the features, not to the boxes.

    ``aligned`` (the default): each bin averages ``sampling_ratio``² bilinear samples at
    the centres of its sub-bins, the RoI in feature coordinates being ``box / stride -
    0.5`` (the convention of :mod:`mrcnn.ops.geometry`); samples up to one feature pixel
    outside the map read its border, further out 0. ``aligned=False`` is the classic
    Keras Mask R-CNN: one sample per bin on ``crop_and_resize``'s end-point grid of the
    normalized box (for weights trained that way).

    ``impl="native"`` groups the RoIs by level and calls ``tf.image.crop_and_resize``
    per level; ``"gather"`` samples every RoI from its level of one flat table with
    static shapes (:func:`mrcnn.ops.resample.crop_and_resize_gather`), equal outputs,
    and compiles with XLA.
    """

    def __init__(self, pool_size: int, canonical_size: float = 224.0,
                 canonical_level: int = 4, aligned: bool = True, sampling_ratio: int = 2,
                 strides=(4, 8, 16, 32), impl: str = "native", **kwargs):
        super().__init__(**kwargs)
        if impl not in IMPLS:
            raise ValueError(f"impl must be one of {IMPLS}, got {impl!r}")
        self.pool_size = int(pool_size)
        self.canonical_size = float(canonical_size)
        self.canonical_level = int(canonical_level)
        self.aligned = bool(aligned)
        self.sampling_ratio = int(sampling_ratio)
        self.strides = [int(s) for s in strides]
        self.impl = impl

    def call(self, rois, image, *feature_maps):
        rois = tf.stop_gradient(rois)
        batch = tf.shape(rois)[0]
        num_rois = tf.shape(rois)[1]
        flat_rois = tf.reshape(rois, [-1, 4])
        box_index = tf.repeat(tf.range(batch), num_rois)
        shape = tf.shape(image)
        levels = assign_roi_levels(flat_rois, shape[1] * shape[2], self.canonical_size,
                                   self.canonical_level, 2, 1 + len(feature_maps))
        pixel_rois = denorm_boxes(flat_rois, shape[1:3])
        if self.impl == "gather":
            return self._gather(flat_rois, pixel_rois, box_index, levels - 2, feature_maps)
        pooled, order = [], []
        for i, features in enumerate(feature_maps):
            ix = tf.where(tf.equal(levels, i + 2))[:, 0]
            order.append(ix)
            index = tf.gather(box_index, ix)

            def sample(boxes, size, pad, features=features, index=index):
                return crop_and_resize(features, boxes, index, size, "native", pad)

            pooled.append(self._pool(sample, tf.shape(features)[1:3], tf.gather(flat_rois, ix),
                                     tf.gather(pixel_rois, ix), float(self.strides[i])))
        pooled = tf.concat(pooled, axis=0)
        inverse = tf.math.invert_permutation(tf.cast(tf.concat(order, axis=0), tf.int32))
        return tf.gather(pooled, inverse)

    def _gather(self, flat_rois, pixel_rois, box_index, level, feature_maps):
        """Every RoI at once from one table of all levels' rows; ``level`` ``[N]`` from 0."""
        shapes = [tf.shape(f) for f in feature_maps]
        table = tf.concat([tf.reshape(f, tf.stack([-1, s[3]]))
                           for f, s in zip(feature_maps, shapes)], axis=0)
        starts = tf.cumsum(tf.stack([s[0] * s[1] * s[2] for s in shapes]), exclusive=True)
        map_size = tf.gather(tf.stack([s[1:3] for s in shapes]), level)  # [N, 2]
        offsets = tf.gather(starts, level) + box_index * map_size[:, 0] * map_size[:, 1]
        stride = tf.gather(tf.constant(self.strides, tf.float32), level)[:, None]

        def sample(boxes, size, pad):
            return crop_and_resize_gather(table, offsets, map_size, boxes, size, pad)

        return self._pool(sample, map_size, flat_rois, pixel_rois, stride)

    def _pool(self, sample, map_size, rois, pixel_rois, stride):
        """RoIAlign of ``rois`` ``[N, 4]`` (normalized; ``pixel_rois`` in pixels) on maps of
        ``map_size`` and ``stride`` (one map, or ``[N, ...]`` per RoI); ``sample(boxes,
        crop_size, pad)`` is crop-and-resize on those maps."""
        if not self.aligned:
            return sample(rois, [self.pool_size, self.pool_size], 0)
        samples = self.pool_size * self.sampling_ratio
        # One replicated border row/column: samples in [-1, 0] read the edge (Detectron).
        crops = cell_centre_crops(pixel_rois, (samples, samples), map_size, stride=stride,
                                  pad=1)
        x = sample(crops, [samples, samples], 1)
        if self.sampling_ratio > 1:
            x = tf.nn.avg_pool2d(x, self.sampling_ratio, self.sampling_ratio, "VALID")
        return x

    def get_config(self):
        return {**super().get_config(), "pool_size": self.pool_size,
                "canonical_size": self.canonical_size, "canonical_level": self.canonical_level,
                "aligned": self.aligned, "sampling_ratio": self.sampling_ratio,
                "strides": self.strides, "impl": self.impl}


@keras.saving.register_keras_serializable(package="mrcnn")
class RoiBatchReshape(Float32Layer):
    """``[B * R, ...]`` per-RoI tensor -> ``[B, R, ...]``, with ``B, R`` read from ``rois``."""

    def call(self, x, rois):
        shape = tf.concat([tf.shape(rois)[:2], tf.shape(x)[1:]], axis=0)
        return tf.reshape(x, shape)

