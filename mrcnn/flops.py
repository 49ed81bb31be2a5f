"""Counting FLOPs (2 per multiply-add) of the conv, deconv and dense layers of a Keras
functional model, from the static shapes of every call.

Every call (node) of a layer counts with that call's shapes, so the RPN layers shared by
P2..P6 count five times. Layers downstream of a ``PyramidROIAlign`` see ``[B * R, ...]``
tensors: their count is per RoI and is reported in a region named after that layer.
RoIAlign, NMS, normalisation and activations are not counted.
"""

from __future__ import annotations

import math

import keras

from mrcnn.heads.mask import build_mask_head, takes_fine_features
from mrcnn.layers.roi_align import PyramidROIAlign

COUNTED = (keras.layers.Conv2D, keras.layers.Conv2DTranspose, keras.layers.Dense)


def call_flops(layer: keras.layers.Layer, input_shape, output_shape) -> int:
    """FLOPs of one example (one leading-dimension row) through one call of ``layer``.

    Conv2D: ``2 * kh * kw * cin / groups * cout * H_out * W_out``; Conv2DTranspose:
    ``2 * kh * kw * cin * cout * H_in * W_in``; Dense: ``2 * cin * cout`` per position.
    Other layers: 0.
    """
    if not isinstance(layer, COUNTED):
        return 0
    if any(d is None for d in (*input_shape[1:], *output_shape[1:])):
        raise ValueError(f"{layer.name}: shapes {input_shape} -> {output_shape} are not "
                         "static; counting FLOPs needs a fixed image size")
    if isinstance(layer, keras.layers.Conv2DTranspose):
        kh, kw = layer.kernel_size
        return 2 * kh * kw * input_shape[-1] * layer.filters * input_shape[1] * input_shape[2]
    if isinstance(layer, keras.layers.Conv2D):
        kh, kw = layer.kernel_size
        _, h, w, cout = output_shape
        return 2 * kh * kw * (input_shape[-1] // layer.groups) * cout * h * w
    return 2 * input_shape[-1] * layer.units * math.prod(input_shape[1:-1])


def flops_by_region(model: keras.Model) -> dict[str, int]:
    """``{"image": FLOPs per example, "<RoIAlign layer name>": FLOPs per RoI, ...}``.

    A call belongs to the region of the call producing its first input; a
    ``PyramidROIAlign`` call starts a region named after its layer.
    """
    nodes = [node for depth in sorted(model._nodes_by_depth, reverse=True)
             for node in model._nodes_by_depth[depth]]  # inputs first
    region_of: dict[int, str] = {}
    totals: dict[str, int] = {"image": 0}
    for node in nodes:
        layer = node.operation
        if isinstance(layer, PyramidROIAlign):
            region = layer.name
        elif node.input_tensors:
            parent, index, _ = node.input_tensors[0]._keras_history
            region = region_of.get(id(parent._inbound_nodes[index]), "image")
        else:
            region = "image"
        region_of[id(node)] = region
        if isinstance(layer, COUNTED):
            totals[region] = totals.get(region, 0) + call_flops(
                layer, node.input_tensors[0].shape, node.output_tensors[0].shape)
    return totals


def model_flops(model: keras.Model) -> int:
    """FLOPs of one example through every conv/dense call of a model without RoI regions
    (a backbone, a head on its own); see :func:`flops_by_region` for detection graphs."""
    regions = flops_by_region(model)
    if len(regions) > 1:
        raise ValueError(f"{model.name} has per-RoI regions {sorted(set(regions) - {'image'})}:"
                         " use flops_by_region and multiply each by its RoI count")
    return regions["image"]


def mask_head_model(config) -> keras.Model:
    """``config.MASK_HEAD`` alone as a model on its RoIAlign features ``[N, MASK_POOL_SIZE,
    MASK_POOL_SIZE, TOP_DOWN_PYRAMID_SIZE]`` (and, for a head that takes them, the fine
    features of P2 at twice that side as its second input)."""
    size, depth = config.MASK_POOL_SIZE, config.TOP_DOWN_PYRAMID_SIZE
    features = keras.Input((size, size, depth))
    fine = (keras.Input((2 * size, 2 * size, depth)) if takes_fine_features(config)
            else None)
    inputs = features if fine is None else [features, fine]
    return keras.Model(inputs, build_mask_head(features, config, fine))


def mask_head_profile(config) -> dict[str, int]:
    """Parameters and FLOPs per RoI of ``config.MASK_HEAD`` on its RoIAlign features
    (:func:`mask_head_model`)."""
    head = mask_head_model(config)
    return {"parameters": head.count_params(), "flops_per_roi": model_flops(head)}
