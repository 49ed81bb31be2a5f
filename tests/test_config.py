"""Config: derived fields, validation messages that name the field, display()."""

from __future__ import annotations

import numpy as np
import pytest

from mrcnn.config import Config, ConfigError
from tests.conftest import TinyConfig, tiny_config


def test_derived_fields():
    config = tiny_config(IMAGES_PER_GPU=3, GPU_COUNT=2)
    assert config.BATCH_SIZE == 6
    assert list(config.IMAGE_SHAPE) == [64, 64, 3]
    assert config.IMAGE_META_SIZE == 12 + config.NUM_CLASSES
    assert config.backbone_shapes.tolist() == [[16, 16], [8, 8], [4, 4], [2, 2], [1, 1]]


@pytest.mark.parametrize("field, value, message", [
    ("IMAGE_MAX_DIM", 100, "divisible by 64"),
    ("NUM_CLASSES", 1, "background"),
    ("MASK_HEAD", "mlp", "registered heads are ['fcn', 'unet']"),
    ("MASK_SHAPE", [14, 14], "set [28, 28]"),
    ("BACKBONE", "vgg", "resnet50"),
    ("RPN_ANCHOR_SCALES", (8, 16, 32), "one scale per pyramid level"),
    ("TRAIN_ROIS_PER_IMAGE", 10_000, "cannot sample more RoIs"),
    ("LEARNING_RATE", -1.0, "positive"),
    ("ROI_POSITIVE_RATIO", 0.0, "(0, 1]"),
    ("OPTIMIZER", "lbfgs", "'sgd' or 'adamw'"),
    ("RPN_BBOX_STD_DEV", [0.1, 0.1], "4 positive numbers"),
    ("UNET_BOTTLENECK_FILTERS", (), "non-empty"),
])
def test_validation_names_the_field(field, value, message):
    with pytest.raises(ConfigError) as err:
        tiny_config(**{field: value})
    assert f".{field} = " in str(err.value)
    assert message in str(err.value)


def test_unnamed_config_is_rejected():
    with pytest.raises(ConfigError, match="NAME"):
        type("Unnamed", (Config,), {"NUM_CLASSES": 2})()


def test_crop_mode_uses_min_dim():
    config = tiny_config(IMAGE_RESIZE_MODE="crop", IMAGE_MIN_DIM=64, IMAGE_MAX_DIM=128)
    assert list(config.IMAGE_SHAPE) == [64, 64, 3]


def test_display_prints_every_field(capsys):
    TinyConfig().display()
    out = capsys.readouterr().out
    assert "MASK_HEAD" in out and "BATCH_SIZE" in out and "LEARNING_RATE" in out
    line = next(line for line in out.splitlines() if line.startswith("IMAGE_MAX_DIM"))
    assert line.split()[-1] == "64"


def test_defaults_match_the_classic_config():
    class Classic(Config):
        NAME = "classic"
        NUM_CLASSES = 81
    config = Classic()
    assert config.BATCH_SIZE == 2 and config.POOL_SIZE == 7 and config.MASK_POOL_SIZE == 14
    assert config.MASK_SHAPE == [28, 28] and config.MASK_HEAD == "fcn"
    assert np.allclose(config.BBOX_STD_DEV, [0.1, 0.1, 0.2, 0.2])


def test_plain_functions_as_fields_are_not_bound_to_the_config():
    def flip(image, masks, rng):
        return image, masks

    def backbone(image, config):
        return [image] * 4

    config = tiny_config(AUGMENTATION=flip, BACKBONE=backbone)
    assert config.AUGMENTATION is flip and config.BACKBONE is backbone
    assert config.AUGMENTATION("image", "masks", None) == ("image", "masks")
