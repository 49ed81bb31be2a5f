"""Classic Keras-2 HDF5 weights (Mask R-CNN files, Keras-applications ImageNet ResNets)
load by layer name into our graphs."""

from __future__ import annotations

import h5py
import keras
import numpy as np
import pytest

from mrcnn.model import MaskRCNN
from mrcnn.weights.migration import (
    KERAS_APPLICATIONS_NAMES,
    class_specific_layers,
    is_classic_weights_file,
    load_classic_weights,
    load_imagenet_backbone,
    read_classic_weights,
)
from tests.helpers import tiny_config


def write_keras2_h5(path, groups) -> None:
    """The Keras 2 ``save_weights`` HDF5 layout: root attribute ``layer_names``; per layer
    a group with attribute ``weight_names`` and one dataset per weight, at the weight's
    name inside the group (``conv1/kernel:0`` -> ``f["conv1"]["conv1"]["kernel:0"]``)."""
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = np.array([name.encode() for name, _ in groups])
        f.attrs["backend"] = b"tensorflow"
        f.attrs["keras_version"] = b"2.2.4"
        for name, weights in groups:
            group = f.create_group(name)
            group.attrs["weight_names"] = np.array([w.encode() for w, _ in weights])
            for weight_name, value in weights:
                group.create_dataset(weight_name, data=value)


def classic_groups(keras_model, names=None, shuffle_bn: str | None = None):
    """Our model's weights laid out as the classic Mask R-CNN file: every layer listed
    (weightless ones with no weights), the RPN layers inside a nested ``rpn_model``."""
    groups, rpn = [], []
    for layer in keras_model.layers:
        name = (names or {}).get(layer.name, layer.name)
        weights = [(f"{name}/{v.name}:0", keras.ops.convert_to_numpy(v))
                   for v in layer.weights]
        if layer.name == shuffle_bn:  # stored in another order: matched by name
            weights = weights[2:] + weights[:2]
        if layer.name.startswith("rpn_") and weights:
            rpn += weights
        else:
            groups.append((name, weights))
    groups.append(("rpn_model", rpn))
    groups.append(("some_old_layer", [("some_old_layer/kernel:0", np.zeros((3, 3)))]))
    return groups


def outputs(model, image):
    molded, metas, _ = model.mold_inputs([image])
    out = model.keras_model([molded, metas], training=False)
    return {k: keras.ops.convert_to_numpy(out[k]) for k in ("detections", "mrcnn_mask",
                                                             "rpn_class", "mrcnn_class")}


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    keras.utils.set_random_seed(1)
    model = MaskRCNN("inference", tiny_config(DETECTION_MIN_CONFIDENCE=0.0),
                     str(tmp_path_factory.mktemp("logs")))
    path = tmp_path_factory.mktemp("classic") / "mask_rcnn_tiny.h5"
    write_keras2_h5(path, classic_groups(model.keras_model, shuffle_bn="bn_conv1"))
    return model, path


def test_classic_file_loads_into_a_fresh_model_with_identical_outputs(source, tmp_path):
    model, path = source
    assert is_classic_weights_file(path)
    groups = read_classic_weights(path)
    assert "rpn_model" in groups and "input_image" not in groups
    keras.utils.set_random_seed(2)
    fresh = MaskRCNN("inference", tiny_config(DETECTION_MIN_CONFIDENCE=0.0), str(tmp_path))
    image = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    expected = outputs(model, image)
    assert not np.allclose(outputs(fresh, image)["rpn_class"], expected["rpn_class"])
    report = load_classic_weights(fresh, path)
    weighted = {layer.name for layer in fresh.keras_model.layers if layer.weights}
    assert set(report["loaded"]) == weighted
    assert {"rpn_conv_shared", "rpn_class_raw", "rpn_bbox_pred", "bn_conv1",
            "mrcnn_mask_deconv", "mrcnn_bbox_fc"} <= set(report["loaded"])
    assert report["skipped"] == ["some_old_layer"]
    assert report["mismatched"] == [] and report["missing"] == []
    got = outputs(fresh, image)
    for key, value in expected.items():
        np.testing.assert_array_equal(got[key], value, err_msg=key)


def test_other_class_counts_report_mismatches_and_exclude_skips_them(source, tmp_path):
    _, path = source
    other = MaskRCNN("inference", tiny_config(NUM_CLASSES=6), str(tmp_path))
    report = load_classic_weights(other, path)
    mismatched = {name: (stored, ours) for name, stored, ours in report["mismatched"]}
    assert set(mismatched) == {"mrcnn_class_logits", "mrcnn_bbox_fc", "mrcnn_mask"}
    assert mismatched["mrcnn_class_logits"] == ({"kernel": (32, 4), "bias": (4,)},
                                                {"kernel": (32, 6), "bias": (6,)})
    report = load_classic_weights(other, path, exclude=class_specific_layers())
    assert report["mismatched"] == [] and report["missing"] == []
    assert {"mrcnn_class_logits", "mrcnn_bbox_fc", "mrcnn_mask"} <= set(report["skipped"])
    unet = MaskRCNN("inference", tiny_config(MASK_HEAD="unet"), str(tmp_path))
    report = load_classic_weights(unet, path)
    assert report["missing"] and all(n.startswith("mrcnn_mask") for n in report["missing"])
    assert "mrcnn_mask_conv1" in report["skipped"]


def test_keras3_files_are_not_classic_and_say_how_to_load_them(source, tmp_path):
    model, _ = source
    path = tmp_path / "new.weights.h5"
    model.keras_model.save_weights(path)
    assert not is_classic_weights_file(path)
    with pytest.raises(ValueError, match="Keras 3 '.weights.h5' files load with"):
        read_classic_weights(path)
    assert not is_classic_weights_file(tmp_path / "absent.h5")


def _applications_groups(app):
    return [(layer.name, [(f"{layer.name}/{v.name}:0", keras.ops.convert_to_numpy(v))
                          for v in layer.weights]) for layer in app.layers]


@pytest.fixture(scope="module")
def resnet50_detector(tmp_path_factory):
    return MaskRCNN("inference", tiny_config(BACKBONE="resnet50"),
                    str(tmp_path_factory.mktemp("logs")))


def test_imagenet_resnet50_with_newer_keras_names_initialises_the_backbone(
        resnet50_detector, tmp_path):
    keras.utils.set_random_seed(3)
    app = keras.applications.ResNet50(weights=None, include_top=False,
                                      input_shape=(64, 64, 3))
    weighted = {layer.name for layer in app.layers if layer.weights}
    names = KERAS_APPLICATIONS_NAMES["resnet50"]
    assert set(names) == weighted, "the explicit map covers every layer with weights"
    path = tmp_path / "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"
    write_keras2_h5(path, _applications_groups(app))
    report = load_imagenet_backbone(resnet50_detector, path)
    assert len(report["loaded"]) == len(weighted) == 106
    assert report["mismatched"] == [] and report["missing"] == []
    ours = resnet50_detector.keras_model
    for theirs, mine in (("conv1_conv", "conv1"), ("conv4_block6_3_conv", "res4f_branch2c"),
                         ("conv3_block1_0_bn", "bn3a_branch1")):
        for a, b in zip(app.get_layer(theirs).weights, ours.get_layer(mine).weights):
            np.testing.assert_array_equal(keras.ops.convert_to_numpy(a),
                                          keras.ops.convert_to_numpy(b))


def test_imagenet_file_with_classic_names_and_missing_file(resnet50_detector, tmp_path):
    backbone = [layer for layer in resnet50_detector.keras_model.layers if layer.weights and (
        layer.name in ("conv1", "bn_conv1") or layer.name[:3] in ("res", "bn2", "bn3", "bn4",
                                                                   "bn5"))]
    groups = [(layer.name, [(f"{layer.name}/{v.name}:0",
                             np.full(v.shape, 0.5, np.float32)) for v in layer.weights])
              for layer in backbone]
    groups.append(("fc1000", [("fc1000/kernel:0", np.zeros((2048, 1000), np.float32))]))
    path = tmp_path / "old_keras_resnet50_notop.h5"
    write_keras2_h5(path, groups)
    report = load_imagenet_backbone(resnet50_detector, path)
    assert len(report["loaded"]) == len(backbone) and report["missing"] == []
    assert "fc1000" in report["skipped"]
    assert np.all(keras.ops.convert_to_numpy(
        resnet50_detector.keras_model.get_layer("res5c_branch2c").kernel) == 0.5)
    with pytest.raises(FileNotFoundError, match="resnet50_weights_tf_dim_ordering"):
        load_imagenet_backbone(resnet50_detector, tmp_path / "absent.h5")


def test_resnet101_name_map_matches_keras_applications():
    app = keras.applications.ResNet101(weights=None, include_top=False,
                                       input_shape=(64, 64, 3))
    weighted = {layer.name for layer in app.layers if layer.weights}
    names = KERAS_APPLICATIONS_NAMES["resnet101"]
    assert set(names) == weighted
    assert names["conv4_block23_2_conv"] == "res4w_branch2b"
