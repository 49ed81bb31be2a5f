"""Config: derived fields, validation messages that name the field, display(), and the
settings, validation, MASK_SHAPE and class-specific layers a registered mask head brings."""

from __future__ import annotations

import numpy as np
import pytest

from mrcnn.config import Config, ConfigError, LightConfig
from mrcnn.heads.mask import MASK_HEADS, register_mask_head
from mrcnn.weights.checkpoint_info import config_fields, config_from_fields
from mrcnn.weights.migration import class_specific_layers
from tests.helpers import TinyConfig, tiny_config


def test_derived_fields():
    config = tiny_config(IMAGES_PER_GPU=3, GPU_COUNT=2)
    assert config.BATCH_SIZE == 6
    assert list(config.IMAGE_SHAPE) == [64, 64, 3]
    assert config.IMAGE_META_SIZE == 12 + config.NUM_CLASSES
    assert config.backbone_shapes.tolist() == [[16, 16], [8, 8], [4, 4], [2, 2], [1, 1]]


@pytest.mark.parametrize("field, value, message", [
    ("IMAGE_MAX_DIM", 100, "divisible by 64"),
    ("NUM_CLASSES", 1, "background"),
    ("MASK_HEAD", "mlp", f"registered heads are {sorted(MASK_HEADS)}"),
    ("MASK_SHAPE", [14, 14], "set [28, 28]"),
    ("BACKBONE", "vgg", "resnet50"),
    ("RPN_ANCHOR_SCALES", (8, 16, 32), "one scale per pyramid level"),
    ("TRAIN_ROIS_PER_IMAGE", 10_000, "cannot sample more RoIs"),
    ("LEARNING_RATE", -1.0, "positive"),
    ("ROI_POSITIVE_RATIO", 0.0, "(0, 1]"),
    ("OPTIMIZER", "lbfgs", "'sgd' or 'adamw'"),
    ("RPN_BBOX_STD_DEV", [0.1, 0.1], "4 positive numbers"),
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


class Classic(Config):
    NAME = "classic"
    NUM_CLASSES = 81


@pytest.mark.parametrize("head", sorted(MASK_HEADS))
def test_every_head_gets_its_defaults_and_mask_shape(head):
    spec = MASK_HEADS[head]
    config = type("Head", (Classic,), {"MASK_HEAD": head})()
    for name, default in spec.settings.items():
        assert getattr(config, name) == default
    side = spec.upsampling[0] * config.MASK_POOL_SIZE  # the head's default
    assert config.MASK_SHAPE == [side, side]
    for upsampling in spec.upsampling:
        chosen = type("Head", (Classic,), {"MASK_HEAD": head, "MASK_UPSAMPLING": upsampling})()
        assert chosen.MASK_SHAPE == [upsampling * config.MASK_POOL_SIZE] * 2
    assert set(spec.class_specific_layers) <= set(class_specific_layers())


@pytest.mark.parametrize("head, field, value, message", [
    ("fcn", "MASK_HEAD_CONV_DIM", 0, "positive integer"),
    ("unet", "UNET_BOTTLENECK_FILTERS", (), "non-empty"),
    ("unet", "MASK_POOL_SIZE", 7, "must be even"),
    ("fcn_deep", "FCN_DEEP_NUM_CONVS", 0, "positive integer"),
    ("fcn_deep", "FCN_DEEP_UP56_DIM", 0, "positive integer"),
    ("unet", "UNET_UP56_FILTERS", (), "non-empty"),
    ("fcn", "MASK_UPSAMPLING", 3, "predicts at upsampling 2 or 4"),
])
def test_the_selected_head_validates_its_settings(head, field, value, message):
    with pytest.raises(ConfigError) as err:
        tiny_config(MASK_HEAD=head, **{field: value})
    assert f".{field} = " in str(err.value) and message in str(err.value)
    other = next(h for h in sorted(MASK_HEADS) if h != head)
    if field not in ("MASK_POOL_SIZE", "MASK_UPSAMPLING"):  # not another head's settings
        assert getattr(tiny_config(MASK_HEAD=other, **{field: value}), field) == value


class Light(LightConfig):
    NAME = "light"
    NUM_CLASSES = 2


@pytest.fixture
def mine_head():
    """A head registered by the test: one setting, a validation, 4x upsampling."""
    import keras

    def validate(config, fail):
        if config.MINE_WIDTH % 8:
            fail("MINE_WIDTH", "must be a multiple of 8")

    @register_mask_head("test_mine", upsampling=4, settings={"MINE_WIDTH": 8},
                        validate=validate, class_specific_layers=("mrcnn_mask_mine_out",),
                        presets={"light": {"MINE_WIDTH": 16}})
    def build(features, config):
        x = keras.layers.Conv2DTranspose(config.MINE_WIDTH, 4, strides=4,
                                         name="mrcnn_mask_mine_up")(features)
        return keras.layers.Conv2D(config.NUM_CLASSES, 1, name="mrcnn_mask_mine_out")(x)

    yield MASK_HEADS["test_mine"]
    MASK_HEADS.pop("test_mine")


def test_a_registered_head_brings_its_settings(mine_head, capsys):
    config = tiny_config(MASK_HEAD="test_mine")
    assert config.MINE_WIDTH == 16  # its "light" preset value (TinyConfig is a LightConfig)
    assert config.MASK_SHAPE == [56, 56]  # 4 x MASK_POOL_SIZE
    assert tiny_config(MASK_HEAD="test_mine", MINE_WIDTH=16).MINE_WIDTH == 16  # override wins
    assert tiny_config().MINE_WIDTH == 16  # every config can switch to it
    config.display()
    lines = capsys.readouterr().out.splitlines()
    assert any(line.split() == ["MINE_WIDTH", "16"] for line in lines)
    assert "mrcnn_mask_mine_out" in class_specific_layers()
    assert {"mrcnn_class_logits", "mrcnn_mask"} <= set(class_specific_layers())


def test_a_registered_heads_preset_fills_light_configs(mine_head):
    """LightConfig (MASK_HEAD_PRESET "light") takes the head's light value; the classic
    Config its default; a class that sets the field keeps its own."""
    assert Light().MINE_WIDTH == 16
    assert Classic().MINE_WIDTH == 8
    assert type("Mine", (Light,), {"MINE_WIDTH": 24})().MINE_WIDTH == 24
    assert type("NoPreset", (Light,), {"MASK_HEAD_PRESET": None})().MINE_WIDTH == 8


@pytest.mark.parametrize("head", sorted(MASK_HEADS))
def test_light_widths_come_from_each_heads_module(head):
    """No head setting is written in config.py: LightConfig's narrow widths are the heads'
    own "light" presets."""
    spec = MASK_HEADS[head]
    config = type("LightHead", (Light,), {"MASK_HEAD": head})()
    for name, default in spec.settings.items():
        assert name not in vars(LightConfig)
        assert getattr(config, name) == spec.presets.get("light", {}).get(name, default)
    assert "light" in spec.presets  # every built-in head narrows itself for LightConfig


def test_a_preset_may_only_set_the_heads_settings():
    with pytest.raises(ValueError, match=r"preset 'light' sets \['OTHER'\]"):
        register_mask_head("test_bad", settings={"MINE_WIDTH": 8},
                           presets={"light": {"OTHER": 1}})
    assert "test_bad" not in MASK_HEADS


def test_a_registered_head_validates_its_settings(mine_head):
    with pytest.raises(ConfigError, match=r"\.MINE_WIDTH = 12: must be a multiple of 8"):
        tiny_config(MASK_HEAD="test_mine", MINE_WIDTH=12)
    assert tiny_config(MINE_WIDTH=12).MASK_HEAD == "fcn"  # only the selected head checks
    with pytest.raises(ConfigError, match=r"MASK_SHAPE = \[28, 28\]: the 'test_mine' head "
                                          r"turns MASK_POOL_SIZE 14 into 56x56 masks"):
        tiny_config(MASK_HEAD="test_mine", MASK_SHAPE=[28, 28])


def test_a_registered_heads_settings_round_trip_through_checkpoints(mine_head):
    config = tiny_config(MASK_HEAD="test_mine", MINE_WIDTH=24)
    fields = config_fields(config)
    assert fields["MINE_WIDTH"] == 24 and "MASK_SHAPE" not in fields  # derived, not stored
    assert config_fields(tiny_config(MASK_HEAD="test_mine"))["MINE_WIDTH"] == 16  # unset too
    rebuilt = config_from_fields(fields)
    assert rebuilt.MINE_WIDTH == 24 and rebuilt.MASK_SHAPE == [56, 56]
    assert config_from_fields(fields, MINE_WIDTH=32).MINE_WIDTH == 32


@pytest.mark.parametrize("field", ["NUM_CLASSES", "MASK_SHAPE"])
def test_a_head_setting_that_is_a_config_field_stops_every_config(field):
    register_mask_head("test_bad", settings={field: 3})(lambda features, config: features)
    try:
        with pytest.raises(ConfigError, match=f"mask head 'test_bad': setting {field} is a "
                                              "Config field"):
            tiny_config()
    finally:
        del MASK_HEADS["test_bad"]
    tiny_config()


@pytest.mark.parametrize("settings, message", [
    ({"mine_width": 8}, "upper-case"),
    ({"UNET_SKIP_FILTERS": (8, 8)}, "already the 'unet' head's"),
])
def test_a_head_cannot_take_other_fields(settings, message):
    with pytest.raises(ValueError, match=message):
        register_mask_head("test_bad", settings=settings)
    assert "test_bad" not in MASK_HEADS
