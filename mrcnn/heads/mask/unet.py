"""U-Net mask head: an encoder-decoder with a skip at RoI resolution.

14x14 -> convs kept as the skip -> max-pool to 7x7 -> bottleneck convs -> upsample to 14
-> concatenate the skip -> convs -> upsample to 28 -> convs -> 1x1 per-class logits.
Widths come from the head's settings (defaults: the proposal's), so a small variant
exists: ``UNET_SKIP_FILTERS`` (skip convs), ``UNET_BOTTLENECK_FILTERS``,
``UNET_UP14_FILTERS`` and ``UNET_UP28_FILTERS`` (convs after each upsampling).

At ``MASK_UPSAMPLING = 4`` (56x56 masks) the decoder has one more stage, and the 28x28
stage gets a skip of its own: a 28x28 RoIAlign of P2 (stride 4, the finest pyramid level)
through ``UNET_FINE_SKIP_FILTERS`` convs, concatenated before the 28x28 convs; then
upsample to 56 -> ``UNET_UP56_FILTERS`` convs -> logits. The fine skip carries detail the
14x14 pooling never saw, not an upsampled copy of it.
"""

from __future__ import annotations

import keras

from mrcnn.heads.mask.registry import check_widths, mask_upsampling, register_mask_head
from mrcnn.layers.normalization import Norm
from mrcnn.precision import OUTPUT_DTYPE


def _conv_stack(x, widths, stage: str, norm: Norm):
    """3x3 conv + norm + ReLU for each width, named ``mrcnn_mask_unet_{stage}_conv{i}``."""
    for i, width in enumerate(widths, start=1):
        x = keras.layers.Conv2D(int(width), 3, padding="same",
                                name=f"mrcnn_mask_unet_{stage}_conv{i}")(x)
        x = norm(x, f"mrcnn_mask_unet_{stage}_bn{i}")
        x = keras.layers.Activation("relu", name=f"mrcnn_mask_unet_{stage}_relu{i}")(x)
    return x


# The head's settings: conv widths of each stage, in order.
UNET_SETTINGS = {
    "UNET_SKIP_FILTERS": (256, 256),
    "UNET_BOTTLENECK_FILTERS": (256, 512, 256),
    "UNET_UP14_FILTERS": (256, 128),
    "UNET_UP28_FILTERS": (256, 256),
    # At 56x56 only: the P2 skip's convs and the convs after upsampling to 56.
    "UNET_FINE_SKIP_FILTERS": (32, 32),
    "UNET_UP56_FILTERS": (32, 32),
}


def validate_unet(config, fail) -> None:
    """Even MASK_POOL_SIZE (the head max-pools by 2) and non-empty positive widths."""
    if config.MASK_POOL_SIZE % 2:
        fail("MASK_POOL_SIZE", "the U-Net head max-pools by 2, so it must be even")
    for field in UNET_SETTINGS:
        check_widths(config, field, fail)


# LightConfig's "light" preset: a quarter of the proposal's widths.
UNET_LIGHT = {"UNET_SKIP_FILTERS": (64, 64), "UNET_BOTTLENECK_FILTERS": (64, 128, 64),
              "UNET_UP14_FILTERS": (64, 32), "UNET_UP28_FILTERS": (64, 64),
              "UNET_FINE_SKIP_FILTERS": (8, 8), "UNET_UP56_FILTERS": (8, 8)}


@register_mask_head("unet", upsampling=(2, 4), settings=UNET_SETTINGS, validate=validate_unet,
                    presets={"light": UNET_LIGHT}, fine_features=(4,),
                    class_specific_layers=("mrcnn_mask_unet_out",))
def build_unet_mask_head(roi_features, config, fine_features=None):
    """``[N, 14, 14, D]`` -> ``[N, 28, 28, NUM_CLASSES]`` mask logits; at upsampling 4,
    with ``fine_features`` ``[N, 28, 28, D]``, ``[N, 56, 56, NUM_CLASSES]``."""
    norm = Norm.of(config)
    skip = _conv_stack(roi_features, config.UNET_SKIP_FILTERS, "skip", norm)
    x = keras.layers.MaxPooling2D(2, name="mrcnn_mask_unet_pool")(skip)
    x = _conv_stack(x, config.UNET_BOTTLENECK_FILTERS, "bottleneck", norm)
    x = keras.layers.UpSampling2D(2, interpolation="bilinear", name="mrcnn_mask_unet_up14")(x)
    x = keras.layers.Concatenate(name="mrcnn_mask_unet_concat")([x, skip])
    x = _conv_stack(x, config.UNET_UP14_FILTERS, "up14", norm)
    x = keras.layers.UpSampling2D(2, interpolation="bilinear", name="mrcnn_mask_unet_up28")(x)
    if mask_upsampling(config) == 4:
        fine_skip = _conv_stack(fine_features, config.UNET_FINE_SKIP_FILTERS, "fine_skip", norm)
        x = keras.layers.Concatenate(name="mrcnn_mask_unet_concat28")([x, fine_skip])
    x = _conv_stack(x, config.UNET_UP28_FILTERS, "up28", norm)
    if mask_upsampling(config) == 4:
        x = keras.layers.UpSampling2D(2, interpolation="bilinear",
                                      name="mrcnn_mask_unet_up56")(x)
        x = _conv_stack(x, config.UNET_UP56_FILTERS, "up56", norm)
    return keras.layers.Conv2D(config.NUM_CLASSES, 1, name="mrcnn_mask_unet_out",
                               dtype=OUTPUT_DTYPE)(x)
