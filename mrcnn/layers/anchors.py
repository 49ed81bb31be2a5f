"""Anchors of the whole pyramid for the current image size."""

from __future__ import annotations

from collections.abc import Sequence

import keras
import tensorflow as tf

from mrcnn.ops.anchors import pyramid_anchors
from mrcnn.ops.boxes import norm_boxes
from mrcnn.precision import Float32Layer


@keras.saving.register_keras_serializable(package="mrcnn")
class AnchorsLayer(Float32Layer):
    """Image batch ``[B, H, W, C]`` -> normalized anchors ``[A, 4]`` for that image size."""

    def __init__(self, scales: Sequence[float], ratios: Sequence[float],
                 strides: Sequence[int], anchor_stride: int = 1, **kwargs):
        super().__init__(**kwargs)
        self.scales = [float(s) for s in scales]
        self.ratios = [float(r) for r in ratios]
        self.strides = [int(s) for s in strides]
        self.anchor_stride = int(anchor_stride)

    def call(self, images):
        shape = tf.shape(images)[1:3]
        anchors = pyramid_anchors(self.scales, self.ratios, shape, self.strides,
                                  self.anchor_stride)
        return norm_boxes(anchors, shape)

    def get_config(self):
        return {**super().get_config(), "scales": self.scales, "ratios": self.ratios,
                "strides": self.strides, "anchor_stride": self.anchor_stride}
