"""Glue layers that run the mask head on the final detections only and pick their masks.

Padding rows of the detection layer (class id 0) never reach the mask head: with few
objects in an image that skips most of its work. Graphs built for XLA (static shapes)
run the head on every row instead.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from mrcnn.precision import Float32Layer


@keras.saving.register_keras_serializable(package="mrcnn")
class DetectionBoxes(Float32Layer):
    """``[B, D, 6]`` detections -> their ``[B, D, 4]`` normalized boxes (no gradient)."""

    def call(self, detections):
        return tf.stop_gradient(detections[..., :4])


def _valid_rows(detections):
    """``[B * D]`` bool: rows of ``[B, D, 6]`` detections that are real (class id > 0)."""
    return tf.reshape(detections[..., 4] > 0, [-1])


@keras.saving.register_keras_serializable(package="mrcnn")
class ValidDetectionRows(Float32Layer):
    """Keep the rows of a per-detection tensor ``[B * D, ...]`` that are real detections,
    in row order, plus one zero row at the end: ``[N + 1, ...]``.

    The extra row keeps the batch non-empty: TensorFlow's oneDNN Conv2D returns a wrongly
    shaped tensor for an empty batch, which would break images without detections.
    """

    def call(self, x, detections):
        rows = tf.boolean_mask(x, _valid_rows(detections))
        return tf.concat([rows, tf.zeros_like(x[:1])], axis=0)


@keras.saving.register_keras_serializable(package="mrcnn")
class SelectClassMasks(Float32Layer):
    """Each real detection's class channel, back in detection order.

    ``masks`` ``[N + 1, h, w, C]`` for the real detections and the extra row of
    :class:`ValidDetectionRows` (``compact``, the default), or ``[B * D, h, w, C]`` for
    every row when the mask head ran on padding rows too (static shapes, for XLA);
    ``detections`` ``[B, D, 6]`` -> ``[B, D, h, w]``, zeros on padding rows.
    """

    def __init__(self, compact: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.compact = bool(compact)

    def call(self, masks, detections):
        valid = _valid_rows(detections)
        class_ids = tf.cast(tf.reshape(detections[..., 4], [-1]), tf.int32)
        size = tf.shape(masks)[1:3]
        by_class = tf.transpose(masks, [0, 3, 1, 2])  # [rows, C, h, w]
        if self.compact:
            chosen = tf.gather(by_class[:-1], tf.boolean_mask(class_ids, valid), batch_dims=1)
            rows = tf.cast(tf.where(valid), tf.int32)  # [N, 1]
            flat = tf.scatter_nd(rows, chosen, tf.concat([tf.shape(valid), size], axis=0))
        else:
            chosen = tf.gather(by_class, class_ids, batch_dims=1)  # padding rows: class 0
            flat = tf.where(valid[:, None, None], chosen, 0.0)
        return tf.reshape(flat, tf.concat([tf.shape(detections)[:2], size], axis=0))

    def get_config(self):
        return {**super().get_config(), "compact": self.compact}
