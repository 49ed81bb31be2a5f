"""Weights from the Keras 2 world: classic Mask R-CNN HDF5 files and ImageNet ResNets.

Classic Keras Mask R-CNN weight files (``mask_rcnn_coco.h5``, checkpoints
``mask_rcnn_<name>_<epoch>.h5``) and the Keras-applications ImageNet files
(``resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5``) use the Keras 2 HDF5 layout:
the root attribute ``layer_names`` lists the layers; each layer's group has the attribute
``weight_names`` (``"conv1/kernel:0"``, ...) and one dataset per weight, in the layer's
weight order (BatchNorm: gamma, beta, moving_mean, moving_variance). Whole-model files
keep that layout under ``model_weights``.

Our layers carry the classic names (backbone ``conv1``, ``bn_conv1``,
``res2a_branch2a``...; FPN ``fpn_*``; RPN ``rpn_conv_shared``, ``rpn_class_raw``,
``rpn_bbox_pred``; box head ``mrcnn_class_conv1/2``, ``mrcnn_class_bn1/2``,
``mrcnn_class_logits``, ``mrcnn_bbox_fc``; FCN mask head ``mrcnn_mask_conv1..4``,
``mrcnn_mask_bn1..4``, ``mrcnn_mask_deconv``, ``mrcnn_mask``) and the same kernel shapes:
the classic heads wrapped Conv2D / Dense / BatchNorm in ``TimeDistributed``, which adds no
weights, and its RPN was a nested model ``rpn_model`` whose weights are named
``rpn_conv_shared/kernel:0`` etc. So weights load by layer name::

    from mrcnn.weights.migration import (class_specific_layers, load_classic_weights,
                                         load_imagenet_backbone)

    model = MaskRCNN("training", config, "logs")
    # COCO-trained classic weights, without the class-specific layers (other classes):
    report = load_classic_weights(model, "mask_rcnn_coco.h5", exclude=class_specific_layers())
    # or only an ImageNet backbone (a local file; nothing is downloaded):
    report = load_imagenet_backbone(model, "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5")

Classic weights were trained with the classic RoIAlign and mask-target sampling: set
``ROI_ALIGN_ALIGNED = False`` in the config to use them as they are (fine-tuning with the
aligned default adapts them). Its ``mrcnn_mask`` layer had a sigmoid activation; ours
outputs the logits and the graph applies the sigmoid, with the same kernel and bias.

Both return the report of :func:`mrcnn.weights.files.load_weights_by_name`: ``loaded``,
``skipped`` (in the file, not loaded: excluded or no such layer here), ``mismatched``
(``(name, file shapes, model shapes)``) and ``missing`` (layers of the model with weights
the file does not provide, e.g. a U-Net mask head).

Numerical notes for ImageNet files of newer Keras (``conv1_conv`` naming): their ResNet
pads explicitly (ZeroPadding2D + "valid") where ours uses "same", and their BatchNorm
epsilon is 1.001e-5 where ours is 1e-3; the weights are the same shapes, the features
differ slightly, which fine-tuning absorbs.
"""

from __future__ import annotations

import logging
import os
import re
import string
from collections.abc import Mapping, Sequence

import h5py
import keras
import numpy as np

from mrcnn.backbones.resnet import RESNETS
from mrcnn.heads.box import CLASS_SPECIFIC_LAYERS as BOX_CLASS_SPECIFIC_LAYERS
from mrcnn.heads.mask import mask_head_class_specific_layers

logger = logging.getLogger(__name__)



def class_specific_layers() -> tuple[str, ...]:
    """Layers whose shapes depend on NUM_CLASSES (exclude them to fine-tune on other
    classes): the box head's and those every registered mask head declares, as of now."""
    return tuple(dict.fromkeys(BOX_CLASS_SPECIFIC_LAYERS + mask_head_class_specific_layers()))


# Our backbone layers (stem and res/bn stages): what an ImageNet file can initialise.
BACKBONE_LAYERS = r"(conv1)|(bn_conv1)|(res\d.*)|(bn\d.*)"


def is_classic_weights_file(path: str | os.PathLike) -> bool:
    """True for a Keras 2 HDF5 weights file (root or ``model_weights`` has ``layer_names``)."""
    try:
        with h5py.File(path, "r") as f:
            return "layer_names" in f.attrs or (
                "model_weights" in f and "layer_names" in f["model_weights"].attrs)
    except OSError:
        return False


def _text(value) -> str:
    return value.decode("utf8") if isinstance(value, bytes) else str(value)


def read_classic_weights(path: str | os.PathLike) -> dict[str, list[tuple[str, np.ndarray]]]:
    """``{layer group name: [(weight name, array), ...]}`` of a Keras 2 HDF5 weights file,
    in file order; layers without weights are left out. A nested model (the classic
    ``rpn_model``) is one group holding its inner layers' weights."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"weights file not found: {path}")
    groups: dict[str, list[tuple[str, np.ndarray]]] = {}
    with h5py.File(path, "r") as f:
        root = f
        if "layer_names" not in root.attrs and "model_weights" in root:
            root = root["model_weights"]
        if "layer_names" not in root.attrs:
            raise ValueError(f"{path}: not a Keras 2 HDF5 weights file (no 'layer_names' "
                             "attribute); Keras 3 '.weights.h5' files load with "
                             "MaskRCNN.load_weights / mrcnn.weights.files.load_weights_by_name")
        for layer_name in (_text(n) for n in root.attrs["layer_names"]):
            if layer_name not in root:
                raise ValueError(f"{path}: layer {layer_name!r} is listed in 'layer_names' "
                                 "but has no group")
            group = root[layer_name]
            weights = []
            for name in (_text(n) for n in group.attrs.get("weight_names", [])):
                if name not in group:
                    raise ValueError(f"{path}: layer {layer_name!r}: weight {name!r} is listed "
                                     "in 'weight_names' but not stored")
                weights.append((name, np.asarray(group[name])))
            if weights:
                groups[layer_name] = weights
    return groups


def _layer_weights(groups, known, name_map):
    """Yield ``(our layer name, [(weight name, array)])``: a group whose (mapped) name is
    not one of ``known`` is split by the layer part of its weight names (nested models)."""
    for group_name, weights in groups.items():
        name = name_map.get(group_name, group_name)
        if name in known:
            yield name, weights
            continue
        owners: dict[str, list] = {}
        for weight_name, value in weights:
            owner = _owner(weight_name, group_name)
            owners.setdefault(name_map.get(owner, owner), []).append((weight_name, value))
        if len(owners) == 1 and not set(owners) & set(known):
            yield name, weights  # an unknown single layer: reported under its group name
        else:
            yield from owners.items()


def _owner(weight_name: str, group_name: str) -> str:
    """Layer a weight belongs to: the path component before its variable name."""
    parts = weight_name.split("/")
    return parts[-2] if len(parts) >= 2 else group_name


def _short(name: str) -> str:
    """``"res2a_branch2a/kernel:0"`` -> ``"kernel"``."""
    return name.split("/")[-1].split(":")[0]


def _keras_model(model) -> keras.Model:
    return getattr(model, "keras_model", model)


def load_classic_weights(model, path: str | os.PathLike, exclude: Sequence[str] = (),
                         name_map: Mapping[str, str] | None = None,
                         only: str | None = None) -> dict[str, list]:
    """Load a Keras 2 HDF5 weights file into ``model`` (a MaskRCNN or a Keras model) by
    layer name.

    Args:
        exclude: our layer names not to load (e.g. :func:`class_specific_layers`).
        name_map: file layer name -> our layer name, for files with other names; names
            not in the map are used as they are.
        only: a regular expression; only our layers whose name fully matches are loaded
            or reported missing (others count as skipped).

    Within a layer, weights are matched by variable name (kernel, bias, gamma, beta,
    moving_mean, moving_variance) when the names agree, else by position. A layer whose
    weight shapes differ is left untouched and reported in ``mismatched``.
    """
    keras_model = _keras_model(model)
    ours = {layer.name: layer for layer in keras_model.layers if layer.weights}
    exclude = set(exclude)
    selected = re.compile(only) if only else None
    report: dict[str, list] = {"loaded": [], "skipped": [], "mismatched": [], "missing": []}
    groups = read_classic_weights(path)
    for name, stored in _layer_weights(groups, set(ours), dict(name_map or {})):
        if name in exclude or name not in ours or (selected and not selected.fullmatch(name)):
            report["skipped"].append(name)
            continue
        layer = ours[name]
        variables = list(layer.weights)
        stored_names = [_short(n) for n, _ in stored]
        our_names = [v.name.split("/")[-1].split(":")[0] for v in variables]
        if sorted(stored_names) == sorted(our_names) and len(set(our_names)) == len(our_names):
            by_name = dict(zip(stored_names, (value for _, value in stored)))
            values = [by_name[n] for n in our_names]
        else:
            values = [value for _, value in stored]
        file_shapes = {n: tuple(v.shape) for n, (_, v) in zip(stored_names, stored)}
        our_shapes = {n: tuple(v.shape) for n, v in zip(our_names, variables)}
        if len(values) != len(variables) or any(
                tuple(value.shape) != tuple(variable.shape)
                for value, variable in zip(values, variables)):
            report["mismatched"].append((name, file_shapes, our_shapes))
            continue
        for variable, value in zip(variables, values):
            variable.assign(value.astype(variable.dtype))
        report["loaded"].append(name)
    seen = set(report["loaded"]) | set(report["skipped"]) | {m[0] for m in report["mismatched"]}
    report["missing"] = sorted(n for n in set(ours) - seen - exclude
                               if not selected or selected.fullmatch(n))
    for kind in ("skipped", "mismatched", "missing"):
        if report[kind]:
            logger.info("load_classic_weights(%s): %d layer(s) %s: %s", path,
                        len(report[kind]), kind, report[kind])
    return report


def keras_applications_resnet_names(backbone: str = "resnet50") -> dict[str, str]:
    """Layer names of the newer ``keras.applications`` ResNet (``conv1_conv``,
    ``conv2_block1_1_conv``...) -> our classic names (``conv1``, ``res2a_branch2a``...).

    In a block, ``_0_`` is the projection shortcut (classic ``branch1``) and ``_1_``,
    ``_2_``, ``_3_`` the bottleneck convs (``branch2a/2b/2c``); block ``k`` is letter
    ``k-1`` (``a``, ``b``...).
    """
    if backbone not in ("resnet50", "resnet101"):
        raise ValueError(f"no keras.applications name map for {backbone!r}; "
                         "known: resnet50, resnet101")
    names = {"conv1_conv": "conv1", "conv1_bn": "bn_conv1"}
    branches = {0: "1", 1: "2a", 2: "2b", 3: "2c"}
    for i, count in enumerate(RESNETS[backbone].blocks):
        stage = i + 2
        for block in range(1, count + 1):
            letter = string.ascii_lowercase[block - 1]
            for k, branch in branches.items():
                if k == 0 and block > 1:
                    continue
                prefix = f"conv{stage}_block{block}_{k}"
                names[f"{prefix}_conv"] = f"res{stage}{letter}_branch{branch}"
                names[f"{prefix}_bn"] = f"bn{stage}{letter}_branch{branch}"
    return names


# The explicit maps, for reference and for tests.
KERAS_APPLICATIONS_NAMES = {name: keras_applications_resnet_names(name)
                            for name in ("resnet50", "resnet101")}

IMAGENET_FILES = {
    "resnet50": "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5",
    "resnet101": "resnet101_weights_tf_dim_ordering_tf_kernels_notop.h5",
}


def load_imagenet_backbone(model, path: str | os.PathLike,
                           backbone: str | None = None) -> dict[str, list]:
    """Initialise the ResNet backbone of ``model`` from a local ImageNet weights file.

    Accepts the Keras-applications "notop" files in either naming: old Keras (<= 2.2.4,
    classic names ``conv1``, ``bn_conv1``, ``res2a_branch2a``...) or newer Keras
    (``conv1_conv``, ``conv2_block1_1_conv``..., mapped by
    :func:`keras_applications_resnet_names`). Only backbone layers are loaded; the report's
    ``missing`` lists backbone layers the file lacked. ``backbone`` defaults to the
    model's ``config.BACKBONE`` (or "resnet50").
    """
    path = os.fspath(path)
    if backbone is None:
        config = getattr(model, "config", None)
        backbone = config.BACKBONE if config is not None and isinstance(
            config.BACKBONE, str) else "resnet50"
    if not os.path.isfile(path):
        expected = IMAGENET_FILES.get(backbone, "<backbone>_weights_..._notop.h5")
        raise FileNotFoundError(
            f"ImageNet weights file not found: {path}. Nothing is downloaded: put the Keras "
            f"applications file ({expected}, from the keras-applications releases or "
            f"~/.keras/models/ on a machine that has it) there, or train from scratch.")
    stored = read_classic_weights(path)
    new_naming = any(re.fullmatch(r"conv\d_block\d+_\d_(conv|bn)", n) for n in stored)
    name_map = keras_applications_resnet_names(backbone) if new_naming else None
    report = load_classic_weights(model, path, name_map=name_map, only=BACKBONE_LAYERS)
    if not report["loaded"]:
        raise ValueError(f"{path}: no backbone layer of the model was found in the file "
                         f"(file layers such as {sorted(stored)[:5]}); is it a ResNet "
                         f"ImageNet file for {backbone!r}?")
    return report
