"""PyramidROIAlign: bilinear RoI pooling from the FPN level each RoI is assigned to."""

from __future__ import annotations

import keras
import tensorflow as tf

from mrcnn.precision import Float32Layer


def assign_roi_levels(rois: tf.Tensor, image_area: tf.Tensor, canonical_size: float = 224.0,
                      canonical_level: int = 4, min_level: int = 2,
                      max_level: int = 5) -> tf.Tensor:
    """Pyramid level of each RoI: ``k = k0 + log2(sqrt(wh) / 224)``, rounded and clipped.

    ``rois`` are normalized ``[..., 4]``; ``image_area`` is the molded image's pixel area,
    so ``sqrt(wh)`` is measured in pixels. Returns int32 ``[...]``.
    """
    h = rois[..., 2] - rois[..., 0]
    w = rois[..., 3] - rois[..., 1]
    size = tf.sqrt(tf.maximum(h * w, 1e-12)) * tf.sqrt(tf.cast(image_area, tf.float32))
    k = canonical_level + tf.math.log(size / canonical_size) / tf.math.log(2.0)
    k = tf.clip_by_value(tf.round(k), min_level, max_level)
    return tf.cast(k, tf.int32)


@keras.saving.register_keras_serializable(package="mrcnn")
class PyramidROIAlign(Float32Layer):
    """Pool every RoI to ``pool_size x pool_size`` from its pyramid level.

    Inputs: ``rois`` ``[B, R, 4]`` normalized, ``image`` ``[B, H, W, C]`` (for its area),
    then the feature maps P2..P5 ``[B, h_l, w_l, D]``.
    Returns ``[B * R, pool, pool, D]``, RoIs of image ``b`` at rows ``b * R .. b * R + R - 1``
    in their input order. Sampling is one bilinear sample per bin, at the bin centres
    of ``tf.image.crop_and_resize``; gradients flow to the features, not to the boxes.
    """

    def __init__(self, pool_size: int, canonical_size: float = 224.0,
                 canonical_level: int = 4, **kwargs):
        super().__init__(**kwargs)
        self.pool_size = int(pool_size)
        self.canonical_size = float(canonical_size)
        self.canonical_level = int(canonical_level)

    def call(self, rois, image, *feature_maps):
        rois = tf.stop_gradient(rois)
        batch = tf.shape(rois)[0]
        num_rois = tf.shape(rois)[1]
        flat_rois = tf.reshape(rois, [-1, 4])
        box_index = tf.repeat(tf.range(batch), num_rois)
        shape = tf.shape(image)
        levels = assign_roi_levels(flat_rois, shape[1] * shape[2], self.canonical_size,
                                   self.canonical_level, 2, 1 + len(feature_maps))
        pooled, order = [], []
        for i, features in enumerate(feature_maps):
            ix = tf.where(tf.equal(levels, i + 2))[:, 0]
            order.append(ix)
            pooled.append(tf.image.crop_and_resize(
                features, tf.gather(flat_rois, ix), tf.gather(box_index, ix),
                [self.pool_size, self.pool_size]))
        pooled = tf.concat(pooled, axis=0)
        inverse = tf.math.invert_permutation(tf.cast(tf.concat(order, axis=0), tf.int32))
        return tf.gather(pooled, inverse)

    def get_config(self):
        return {**super().get_config(), "pool_size": self.pool_size,
                "canonical_size": self.canonical_size, "canonical_level": self.canonical_level}


@keras.saving.register_keras_serializable(package="mrcnn")
class RoiBatchReshape(Float32Layer):
    """``[B * R, ...]`` per-RoI tensor -> ``[B, R, ...]``, with ``B, R`` read from ``rois``."""

    def call(self, x, rois):
        shape = tf.concat([tf.shape(rois)[:2], tf.shape(x)[1:]], axis=0)
        return tf.reshape(x, shape)

