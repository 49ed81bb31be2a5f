"""``fcn_deep``: the FCN made as costly as the U-Net, the control of the head comparison.

The paper's FCN with more and wider convs and nothing else: ``FCN_DEEP_NUM_CONVS`` x
(3x3 conv, norm, ReLU) of width ``FCN_DEEP_CONV_DIM`` at 14x14, one 2x2 deconv to 28x28,
1x1 per-class logits. No skip connection and a single scale (no pooled 7x7 context), but
the U-Net's depth (9 3x3 convs) and, at the defaults (9 x 288), its FLOPs per RoI within
1% (about 2.7 GFLOPs, 2.6x the paper's FCN) and about its parameters (7.0M vs 6.5M). So
"U-Net vs fcn_deep" measures skip connections and multi-scale context at equal compute
(and where it is spent: the U-Net spends half of it on convs at 28x28, this head all at
14x14), and "fcn_deep vs fcn" what the compute alone buys.

At ``MASK_UPSAMPLING = 4`` (56x56 masks), where the U-Net adds a P2 skip and a 56x56
stage, this head still spends the extra compute at 14x14: ``FCN_DEEP_NUM_CONVS_56`` convs
(11) instead of 9, then a second, narrow 2x2 deconv (``FCN_DEEP_UP56_DIM``, 96) to 56x56:
the U-Net's FLOPs at 56 (3.5 GFLOPs a RoI) within 1%, and a final layer about as narrow as
the U-Net's, so the per-class 1x1 at 56x56 costs about the same with many classes too.

Its "light" preset (LightConfig) narrows it to a quarter, as the U-Net's narrows its widths;
the FLOPs still match there (``tests/heads/test_heads.py`` checks both presets at both
sizes). Keep them matched when changing the U-Net's widths: compare
``mrcnn.flops.mask_head_profile`` of the two configs.
"""

from __future__ import annotations

import keras

from mrcnn.heads.mask.registry import check_positive_int, mask_upsampling, register_mask_head
from mrcnn.layers.normalization import Norm
from mrcnn.precision import OUTPUT_DTYPE

FCN_DEEP_SETTINGS = {
    "FCN_DEEP_NUM_CONVS": 9,   # 3x3 convs at 14x14 (the paper's FCN: 4)
    "FCN_DEEP_CONV_DIM": 288,  # their width and the deconv's (the paper's FCN: 256)
    # At 56x56 masks only: 3x3 convs at 14x14, and the width of the second deconv.
    "FCN_DEEP_NUM_CONVS_56": 11,
    "FCN_DEEP_UP56_DIM": 96,
}


def validate_fcn_deep(config, fail) -> None:
    """Depth and width must be positive integers."""
    for field in FCN_DEEP_SETTINGS:
        check_positive_int(config, field, fail)


@register_mask_head("fcn_deep", upsampling=(2, 4), settings=FCN_DEEP_SETTINGS,
                    presets={"light": {"FCN_DEEP_CONV_DIM": 72, "FCN_DEEP_UP56_DIM": 24}},
                    validate=validate_fcn_deep, class_specific_layers=("mrcnn_mask_fcn_deep_out",))
def build_fcn_deep_mask_head(roi_features, config):
    """``[N, 14, 14, D]`` -> ``[N, 28, 28, NUM_CLASSES]`` mask logits (56x56 at
    upsampling 4)."""
    width, at_56 = int(config.FCN_DEEP_CONV_DIM), mask_upsampling(config) == 4
    convs = int(config.FCN_DEEP_NUM_CONVS_56 if at_56 else config.FCN_DEEP_NUM_CONVS)
    norm = Norm.of(config)
    x = roi_features
    for i in range(1, convs + 1):
        x = keras.layers.Conv2D(width, 3, padding="same", name=f"mrcnn_mask_fcn_deep_conv{i}")(x)
        x = norm(x, f"mrcnn_mask_fcn_deep_bn{i}")
        x = keras.layers.Activation("relu", name=f"mrcnn_mask_fcn_deep_relu{i}")(x)
    x = keras.layers.Conv2DTranspose(width, 2, strides=2, activation="relu",
                                     name="mrcnn_mask_fcn_deep_deconv")(x)
    if at_56:
        x = keras.layers.Conv2DTranspose(int(config.FCN_DEEP_UP56_DIM), 2, strides=2,
                                         activation="relu", name="mrcnn_mask_fcn_deep_deconv2")(x)
    return keras.layers.Conv2D(config.NUM_CLASSES, 1, name="mrcnn_mask_fcn_deep_out",
                               dtype=OUTPUT_DTYPE)(x)
