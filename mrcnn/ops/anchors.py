"""Anchors for every pyramid level, in the order the RPN head emits its outputs."""

from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf


def level_anchors(scale: float, ratios: Sequence[float], feature_shape: tf.Tensor,
                  feature_stride: int, anchor_stride: int = 1) -> tf.Tensor:
    """Pixel anchors ``[H' * W' * len(ratios), 4]`` for one level, position-major.

    Anchor ``(i, j, r)`` is centred on pixel ``(i * feature_stride, j * feature_stride)``
    with height ``scale / sqrt(r)`` and width ``scale * sqrt(r)`` (``r`` = width/height).
    """
    ratios = tf.constant(ratios, tf.float32)
    heights = scale / tf.sqrt(ratios)  # [R]
    widths = scale * tf.sqrt(ratios)
    ys = tf.range(0, feature_shape[0], anchor_stride, dtype=tf.float32) * feature_stride
    xs = tf.range(0, feature_shape[1], anchor_stride, dtype=tf.float32) * feature_stride
    cy, cx = tf.meshgrid(ys, xs, indexing="ij")  # [H', W']
    cy = tf.reshape(cy, [-1, 1])
    cx = tf.reshape(cx, [-1, 1])
    boxes = tf.stack([cy - 0.5 * heights, cx - 0.5 * widths,
                      cy + 0.5 * heights, cx + 0.5 * widths], axis=-1)  # [P, R, 4]
    return tf.reshape(boxes, [-1, 4])


def feature_shapes(image_shape: tf.Tensor, strides: Sequence[int]) -> list[tf.Tensor]:
    """Feature-map (height, width) of each level: ``ceil(image / stride)``."""
    hw = tf.cast(image_shape[:2], tf.int32)
    return [(hw + s - 1) // s for s in strides]


def pyramid_anchors(scales: Sequence[float], ratios: Sequence[float], image_shape: tf.Tensor,
                    strides: Sequence[int], anchor_stride: int = 1) -> tf.Tensor:
    """All anchors ``[A, 4]`` in pixels, levels P2..P6 concatenated in order."""
    shapes = feature_shapes(image_shape, strides)
    return tf.concat([level_anchors(scale, ratios, shape, stride, anchor_stride)
                      for scale, shape, stride in zip(scales, shapes, strides)], axis=0)
