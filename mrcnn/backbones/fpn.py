"""Feature pyramid network (Lin et al.): top-down path with lateral connections."""

from __future__ import annotations

import keras

from mrcnn.layers.normalization import Norm


def build_fpn(c2, c3, c4, c5, channels: int, norm: Norm | None = None) -> list:
    """``[P2, P3, P4, P5, P6]`` with ``channels`` maps each; P6 subsamples P5 for the RPN.

    Under GroupNorm (``Config.NORM = "group"``) a norm layer follows every lateral and
    output conv; otherwise (BatchNorm, None) this is the classic FPN, not normalised.
    """
    def conv(x, size: int, name: str):
        x = keras.layers.Conv2D(channels, size, padding="same", name=name)(x)
        return norm(x, name + "_bn") if norm is not None and norm.kind == "group" else x

    p5 = conv(c5, 1, "fpn_c5p5")
    p4 = keras.layers.Add(name="fpn_p4add")([
        keras.layers.UpSampling2D(2, name="fpn_p5upsampled")(p5), conv(c4, 1, "fpn_c4p4")])
    p3 = keras.layers.Add(name="fpn_p3add")([
        keras.layers.UpSampling2D(2, name="fpn_p4upsampled")(p4), conv(c3, 1, "fpn_c3p3")])
    p2 = keras.layers.Add(name="fpn_p2add")([
        keras.layers.UpSampling2D(2, name="fpn_p3upsampled")(p3), conv(c2, 1, "fpn_c2p2")])
    p2, p3, p4, p5 = (conv(p, 3, f"fpn_p{level}") for level, p in enumerate((p2, p3, p4, p5), 2))
    p6 = keras.layers.MaxPooling2D(1, strides=2, name="fpn_p6")(p5)
    return [p2, p3, p4, p5, p6]
