"""Feature pyramid network (Lin et al.): top-down path with lateral connections."""

from __future__ import annotations

import keras


def build_fpn(c2, c3, c4, c5, channels: int) -> list:
    """``[P2, P3, P4, P5, P6]`` with ``channels`` maps each; P6 subsamples P5 for the RPN."""
    p5 = keras.layers.Conv2D(channels, 1, name="fpn_c5p5")(c5)
    p4 = keras.layers.Add(name="fpn_p4add")([
        keras.layers.UpSampling2D(2, name="fpn_p5upsampled")(p5),
        keras.layers.Conv2D(channels, 1, name="fpn_c4p4")(c4)])
    p3 = keras.layers.Add(name="fpn_p3add")([
        keras.layers.UpSampling2D(2, name="fpn_p4upsampled")(p4),
        keras.layers.Conv2D(channels, 1, name="fpn_c3p3")(c3)])
    p2 = keras.layers.Add(name="fpn_p2add")([
        keras.layers.UpSampling2D(2, name="fpn_p3upsampled")(p3),
        keras.layers.Conv2D(channels, 1, name="fpn_c2p2")(c2)])
    p2 = keras.layers.Conv2D(channels, 3, padding="same", name="fpn_p2")(p2)
    p3 = keras.layers.Conv2D(channels, 3, padding="same", name="fpn_p3")(p3)
    p4 = keras.layers.Conv2D(channels, 3, padding="same", name="fpn_p4")(p4)
    p5 = keras.layers.Conv2D(channels, 3, padding="same", name="fpn_p5")(p5)
    p6 = keras.layers.MaxPooling2D(1, strides=2, name="fpn_p6")(p5)
    return [p2, p3, p4, p5, p6]
