"""ResNet backbones with the classic Keras Mask R-CNN layer names (C2..C5 outputs).

``resnet50`` / ``resnet101`` follow He et al. (bottleneck blocks 3-4-6-3 / 3-4-23-3);
``resnet_light`` keeps that layout with 2 blocks a stage and a quarter of the widths,
small enough to train on a laptop CPU.
"""

from __future__ import annotations

import string
from collections.abc import Callable
from dataclasses import dataclass

import keras

from mrcnn.layers.normalization import Norm


@dataclass(frozen=True)
class ResNetSpec:
    """Blocks per stage (2..5, at most 26: blocks are named a..z) and the stem / stage-2
    width; later stages double it."""

    blocks: tuple[int, int, int, int]
    width: int = 64


RESNETS = {
    "resnet50": ResNetSpec((3, 4, 6, 3)),
    "resnet101": ResNetSpec((3, 4, 23, 3)),
    "resnet_light": ResNetSpec((2, 2, 2, 2), width=16),
}


def _bottleneck(x, filters: tuple[int, int, int], stage: int, block: str, strides: int,
                norm: Norm, projection: bool):
    """Bottleneck residual block (1x1, 3x3, 1x1) named ``res{stage}{block}_branch*``."""
    conv = f"res{stage}{block}_branch"
    bn = f"bn{stage}{block}_branch"
    f1, f2, f3 = filters
    y = keras.layers.Conv2D(f1, 1, strides=strides, name=conv + "2a")(x)
    y = norm(y, bn + "2a")
    y = keras.layers.Activation("relu")(y)
    y = keras.layers.Conv2D(f2, 3, padding="same", name=conv + "2b")(y)
    y = norm(y, bn + "2b")
    y = keras.layers.Activation("relu")(y)
    y = keras.layers.Conv2D(f3, 1, name=conv + "2c")(y)
    y = norm(y, bn + "2c")
    shortcut = x
    if projection:
        shortcut = keras.layers.Conv2D(f3, 1, strides=strides, name=conv + "1")(x)
        shortcut = norm(shortcut, bn + "1")
    y = keras.layers.Add()([y, shortcut])
    return keras.layers.Activation("relu", name=f"res{stage}{block}_out")(y)


def resnet(input_image, spec: ResNetSpec, norm: Norm | None = None) -> list:
    """Build the stages on ``input_image`` and return ``[C2, C3, C4, C5]``; ``norm``
    follows every conv (default: frozen BatchNorm, the classic)."""
    norm = Norm() if norm is None else norm
    x = keras.layers.Conv2D(spec.width, 7, strides=2, padding="same", name="conv1")(input_image)
    x = norm(x, "bn_conv1")
    x = keras.layers.Activation("relu")(x)
    x = keras.layers.MaxPooling2D(3, strides=2, padding="same")(x)
    outputs = []
    for i, count in enumerate(spec.blocks):
        stage = i + 2
        width = spec.width * 2 ** i
        for j in range(count):
            x = _bottleneck(x, (width, width, 4 * width), stage, string.ascii_lowercase[j],
                            strides=(1 if stage == 2 or j else 2), norm=norm,
                            projection=(j == 0))
        outputs.append(x)
    return outputs


def _resnet_builder(name: str) -> Callable:
    def build(input_image, config):
        return resnet(input_image, RESNETS[name], Norm.of(config))
    build.__name__ = f"build_{name}"
    return build


BACKBONES: dict[str, Callable] = {name: _resnet_builder(name) for name in RESNETS}


def build_backbone(input_image, config) -> list:
    """``[C2, C3, C4, C5]`` of ``config.BACKBONE`` (a registered name or a callable)."""
    if callable(config.BACKBONE):
        return config.BACKBONE(input_image, config)
    return BACKBONES[config.BACKBONE](input_image, config)
