"""A checkpoint carries its config and class names; detect() thresholds per call and reads
paths."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from mrcnn.config import ConfigError
from mrcnn.data import augment
from mrcnn.heads.mask import MASK_HEADS
from mrcnn.model import MaskRCNN
from mrcnn.weights.checkpoint_info import (
    checkpoint_info,
    config_fields,
    config_from_checkpoint,
    config_from_fields,
    read_info,
)
from tests.helpers import tiny_config

NAMES = ["BG", "square", "circle", "triangle"]


def module_level_backbone(input_image, config):  # stored by its import path
    from mrcnn.backbones import BACKBONES

    return BACKBONES["resnet_light"](input_image, config)


def test_config_fields_round_trip_arrays_tuples_and_callables():
    config = tiny_config(MEAN_PIXEL=np.array([1.0, 2.0, 3.0]),
                         RPN_ANCHOR_SCALES=(8, 16, 32, 64, 128), BACKBONE=module_level_backbone,
                         AUGMENTATION=augment.default_augmentation())
    fields = config_fields(config)
    assert fields["BACKBONE"] == {"callable": f"{__name__}:module_level_backbone"}
    assert fields["MEAN_PIXEL"] == [1.0, 2.0, 3.0] and "BATCH_SIZE" not in fields
    rebuilt = config_from_fields(fields)
    assert rebuilt.BACKBONE is module_level_backbone
    assert isinstance(rebuilt.MEAN_PIXEL, np.ndarray)
    np.testing.assert_array_equal(rebuilt.MEAN_PIXEL, [1.0, 2.0, 3.0])
    assert list(rebuilt.RPN_ANCHOR_SCALES) == [8, 16, 32, 64, 128]
    assert rebuilt.BATCH_SIZE == config.BATCH_SIZE
    assert rebuilt.IMAGE_META_SIZE == config.IMAGE_META_SIZE


def test_a_backbone_that_cannot_be_imported_is_named():
    fields = config_fields(tiny_config())
    fields["BACKBONE"] = {"callable": "no_such_module:build"}
    with pytest.raises(ConfigError, match="no_such_module:build"):
        config_from_fields(fields)


def test_weights_without_info_say_what_to_do(tmp_path):
    model = MaskRCNN("inference", tiny_config(), str(tmp_path))
    path = str(tmp_path / "plain.weights.h5")
    model.keras_model.save_weights(path)
    assert read_info(path) is None
    with pytest.raises(ValueError, match="carries no config"):
        config_from_checkpoint(path)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """An untrained tiny model saved with class names, and the path."""
    folder = tmp_path_factory.mktemp("ckpt")
    model = MaskRCNN("inference", tiny_config(DETECTION_MIN_CONFIDENCE=0.0), str(folder),
                     class_names=NAMES)
    # Scale the first conv down so scores spread out instead of saturating at 1.0.
    conv1 = model.keras_model.get_layer("conv1")
    conv1.kernel.assign(conv1.kernel * 0.01)
    path = str(folder / "model.weights.h5")
    model.save_weights(path)
    return model, path


def test_save_then_from_checkpoint_restores_config_names_and_weights(saved):
    model, path = saved
    assert read_info(path) == checkpoint_info(model.config, NAMES)
    loaded = MaskRCNN.from_checkpoint(path)
    assert loaded.class_names == NAMES
    assert loaded.config.DETECTION_MIN_CONFIDENCE == 0.0
    for a, b in zip(model.keras_model.get_weights(), loaded.keras_model.get_weights()):
        np.testing.assert_array_equal(a, b)
    overridden = MaskRCNN.from_checkpoint(path, DETECTION_MIN_CONFIDENCE=0.5)
    assert overridden.config.DETECTION_MIN_CONFIDENCE == 0.5


@pytest.mark.parametrize("head", sorted(MASK_HEADS))
def test_every_head_saves_and_restores_from_its_checkpoint(head, tmp_path):
    """The head, its mask size (its largest, 56x56 for the built-in heads) and its settings
    travel with the weights; the rebuilt model is the same."""
    config = tiny_config(MASK_HEAD=head, MASK_UPSAMPLING=MASK_HEADS[head].upsampling[-1])
    model = MaskRCNN("inference", config, str(tmp_path), class_names=NAMES)
    path = str(tmp_path / f"{head}.weights.h5")
    model.save_weights(path)
    loaded = MaskRCNN.from_checkpoint(path)
    assert loaded.config.MASK_HEAD == head and loaded.class_names == NAMES
    assert loaded.config.MASK_SHAPE == config.MASK_SHAPE
    for name in MASK_HEADS[head].settings:
        np.testing.assert_equal(getattr(loaded.config, name), getattr(model.config, name), name)
    assert [w.shape for w in loaded.keras_model.weights] == [
        w.shape for w in model.keras_model.weights]
    for a, b in zip(model.keras_model.get_weights(), loaded.keras_model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_wrong_number_of_class_names_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="3 class names for NUM_CLASSES = 4"):
        MaskRCNN("inference", tiny_config(), str(tmp_path), class_names=NAMES[:3])


def test_per_call_min_score_equals_filtering_and_cannot_go_below_the_graph(saved):
    model, _ = saved
    image = np.random.default_rng(1).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    everything = model.detect([image])[0]
    scores = everything["scores"]
    assert len(scores) >= 2, "the fixture should give several detections"
    cut = float(np.median(scores))
    some = model.detect([image], min_score=cut)[0]
    keep = scores >= cut
    assert 0 < len(some["scores"]) < len(scores)
    np.testing.assert_array_equal(some["scores"], scores[keep])
    np.testing.assert_array_equal(some["rois"], everything["rois"][keep])
    np.testing.assert_array_equal(some["masks"], everything["masks"][..., keep])
    assert some["class_names"] == [NAMES[i] for i in some["class_ids"]]
    strict = MaskRCNN.from_checkpoint(saved[1], DETECTION_MIN_CONFIDENCE=0.5)
    with pytest.raises(ValueError, match="below the threshold this model was built with"):
        strict.detect([image], min_score=0.1)


def test_detect_takes_paths_and_pil_images(saved, tmp_path):
    model, _ = saved
    image = np.random.default_rng(2).integers(0, 255, (48, 80, 3), dtype=np.uint8)
    path = tmp_path / "photo.png"
    Image.fromarray(image).save(path)
    from_array, from_path, from_pil = model.detect([image, str(path), Image.fromarray(image)])
    for other in (from_path, from_pil):
        np.testing.assert_array_equal(other["rois"], from_array["rois"])
        np.testing.assert_array_equal(other["masks"], from_array["masks"])
    with pytest.raises(FileNotFoundError, match="missing.jpg"):
        model.detect([str(tmp_path / "missing.jpg")])
