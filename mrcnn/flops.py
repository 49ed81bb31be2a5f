"""Counting multiply-adds of convolution and dense layers from a built Keras model."""

from __future__ import annotations

import math

import keras


def layer_flops(layer: keras.layers.Layer) -> int:
    """FLOPs (2 per multiply-add) of one example through ``layer``; 0 for other layers.

    Conv2D: ``2 * kh * kw * cin / groups * cout * H_out * W_out``; Conv2DTranspose:
    ``2 * kh * kw * cin * cout * H_in * W_in``; Dense: ``2 * cin * cout`` per position.
    """
    if isinstance(layer, keras.layers.Conv2DTranspose):
        kh, kw = layer.kernel_size
        _, h, w, cin = layer.input.shape
        return 2 * kh * kw * cin * layer.filters * h * w
    if isinstance(layer, keras.layers.Conv2D):
        kh, kw = layer.kernel_size
        cin = layer.input.shape[-1]
        _, h, w, cout = layer.output.shape
        return 2 * kh * kw * (cin // layer.groups) * cout * h * w
    if isinstance(layer, keras.layers.Dense):
        positions = math.prod(layer.input.shape[1:-1])
        return 2 * layer.input.shape[-1] * layer.units * positions
    return 0


def model_flops(model: keras.Model) -> int:
    """FLOPs of one example through all conv/dense layers of a model with static shapes."""
    return sum(layer_flops(layer) for layer in model.layers)


def mask_head_profile(config) -> dict[str, int]:
    """Parameters and FLOPs per RoI of ``config.MASK_HEAD`` on its RoIAlign features."""
    from mrcnn.heads.mask import build_mask_head

    size = config.MASK_POOL_SIZE
    features = keras.Input((size, size, config.TOP_DOWN_PYRAMID_SIZE))
    head = keras.Model(features, build_mask_head(features, config))
    return {"parameters": head.count_params(), "flops_per_roi": model_flops(head)}
