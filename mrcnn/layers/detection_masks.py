"""Small glue layers that feed final detections to the mask head and pick their masks."""

from __future__ import annotations

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="mrcnn")
class DetectionBoxes(keras.layers.Layer):
    """``[B, D, 6]`` detections -> their ``[B, D, 4]`` normalized boxes (no gradient)."""

    def call(self, detections):
        return tf.stop_gradient(detections[..., :4])


@keras.saving.register_keras_serializable(package="mrcnn")
class SelectClassMasks(keras.layers.Layer):
    """Keep the detected class's channel: ``[B * D, h, w, C]`` -> ``[B, D, h, w]``."""

    def call(self, masks, detections):
        class_ids = tf.cast(detections[..., 4], tf.int32)  # [B, D]
        flat_ids = tf.reshape(class_ids, [-1])
        chosen = tf.gather(tf.transpose(masks, [0, 3, 1, 2]), flat_ids, batch_dims=1)
        shape = tf.concat([tf.shape(class_ids), tf.shape(masks)[1:3]], axis=0)
        return tf.reshape(chosen, shape)
