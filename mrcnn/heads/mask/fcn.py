"""The paper's FCN mask head: 4 x (3x3 conv, norm, ReLU), 2x2 deconv, 1x1 per-class logits.

Its one setting, ``MASK_HEAD_CONV_DIM`` (default 256, the paper's), is the width of the
convs and the deconvs; a config overrides it like any field. At ``MASK_UPSAMPLING = 4``
a second 2x2 deconv predicts 56x56 masks (the 56-px variant of PointRend's baseline).
"""

from __future__ import annotations

import keras

from mrcnn.heads.mask.registry import check_positive_int, mask_upsampling, register_mask_head
from mrcnn.layers.normalization import Norm
from mrcnn.precision import OUTPUT_DTYPE


def validate_fcn(config, fail) -> None:
    """The FCN's width must be a positive integer."""
    check_positive_int(config, "MASK_HEAD_CONV_DIM", fail)


@register_mask_head("fcn", upsampling=(2, 4), settings={"MASK_HEAD_CONV_DIM": 256},
                    presets={"light": {"MASK_HEAD_CONV_DIM": 64}},
                    validate=validate_fcn, class_specific_layers=("mrcnn_mask",))
def build_fcn_mask_head(roi_features, config):
    """``[N, 14, 14, D]`` -> ``[N, 28, 28, NUM_CLASSES]`` mask logits (56x56 at
    upsampling 4)."""
    width = config.MASK_HEAD_CONV_DIM
    norm = Norm.of(config)
    x = roi_features
    for i in range(1, 5):
        x = keras.layers.Conv2D(width, 3, padding="same", name=f"mrcnn_mask_conv{i}")(x)
        x = norm(x, f"mrcnn_mask_bn{i}")
        x = keras.layers.Activation("relu")(x)
    x = keras.layers.Conv2DTranspose(width, 2, strides=2, activation="relu",
                                     name="mrcnn_mask_deconv")(x)
    if mask_upsampling(config) == 4:
        x = keras.layers.Conv2DTranspose(width, 2, strides=2, activation="relu",
                                         name="mrcnn_mask_deconv2")(x)
    return keras.layers.Conv2D(config.NUM_CLASSES, 1, name="mrcnn_mask",
                               dtype=OUTPUT_DTYPE)(x)
