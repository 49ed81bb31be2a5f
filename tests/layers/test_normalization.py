"""Config.NORM: BatchNorm (classic) or GroupNorm in the backbone, the FPN and the heads."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from mrcnn.config import ConfigError
from mrcnn.engine.input_pipeline import layers_regex
from mrcnn.heads.box import build_box_head
from mrcnn.layers.normalization import Norm, group_count
from mrcnn.model import MaskRCNN
from tests.helpers import tiny_config


def group_norm_reference(x: np.ndarray, groups: int, gamma, beta, eps: float) -> np.ndarray:
    """Wu & He's definition: per sample, mean and variance over (H, W, C / G) of each group."""
    n, h, w, c = x.shape
    out = np.empty_like(x, dtype=np.float64)
    size = c // groups
    for i in range(n):
        for g in range(groups):
            part = x[i, :, :, g * size:(g + 1) * size].astype(np.float64)
            out[i, :, :, g * size:(g + 1) * size] = (part - part.mean()) / np.sqrt(part.var() + eps)
    return out * gamma + beta


@pytest.mark.parametrize("channels, groups, expected",
                         [(256, 32, 32), (64, 32, 32), (16, 32, 16), (72, 32, 24), (7, 4, 1),
                          (30, 32, 30)])
def test_group_count_is_the_largest_divisor_within_the_limit(channels, groups, expected):
    assert group_count(channels, groups) == expected


def test_unknown_norm_is_a_config_error_naming_the_field():
    with pytest.raises(ConfigError, match="NORM"):
        tiny_config(NORM="layer")
    with pytest.raises(ConfigError, match="GROUP_NORM_GROUPS"):
        tiny_config(NORM="group", GROUP_NORM_GROUPS=0)


@pytest.fixture(scope="module")
def group_norm_model(tmp_path_factory):
    config = tiny_config(NORM="group", MASK_HEAD="unet", GROUP_NORM_GROUPS=4)
    return config, MaskRCNN("training", config, str(tmp_path_factory.mktemp("gn"))).keras_model


def test_group_norm_replaces_every_batch_norm_and_follows_the_fpn_convs(group_norm_model):
    config, model = group_norm_model
    layers = {layer.name: layer for layer in model.layers}
    assert not [n for n, layer in layers.items()
                if isinstance(layer, keras.layers.BatchNormalization)]
    batch = MaskRCNN("training", tiny_config(MASK_HEAD="unet"), "unused").keras_model
    bn_names = sorted(layer.name for layer in batch.layers
                      if isinstance(layer, keras.layers.BatchNormalization))
    fpn_convs = sorted(n for n in layers if n.startswith("fpn_") and
                       isinstance(layers[n], keras.layers.Conv2D))
    gn_names = sorted(n for n, layer in layers.items()
                      if isinstance(layer, keras.layers.GroupNormalization))
    # The same places as the BatchNorms (bn -> gn) but the box head's fc layers, plus one
    # after each of the 8 FPN convs.
    assert len(fpn_convs) == 8
    assert gn_names == sorted([n.replace("bn", "gn", 1) for n in bn_names
                               if not n.startswith("mrcnn_class_bn")]
                              + [n + "_gn" for n in fpn_convs])
    for name in gn_names:
        layer = layers[name]
        channels = layer.input.shape[-1]
        assert layer.groups == group_count(channels, config.GROUP_NORM_GROUPS)


def test_group_norm_layer_matches_the_definition(group_norm_model):
    _, model = group_norm_model
    layer = model.get_layer("mrcnn_mask_unet_bottleneck_gn2")  # 32 channels in 4 groups
    rng = np.random.default_rng(0)
    gamma = rng.normal(size=layer.gamma.shape).astype("float32")
    beta = rng.normal(size=layer.beta.shape).astype("float32")
    layer.set_weights([gamma, beta])
    x = rng.normal(2.0, 3.0, size=(3, 7, 7, 32)).astype("float32")
    expected = group_norm_reference(x, 4, gamma, beta, layer.epsilon)
    np.testing.assert_allclose(np.asarray(layer(x)), expected, atol=1e-4)


def test_with_group_norm_an_image_is_normalised_alone(group_norm_model):
    """In a training step BatchNorm mixes the batch's images; GroupNorm must not."""
    _, model = group_norm_model
    c2 = keras.Model(model.get_layer("input_image").output, model.get_layer("fpn_p2_gn").output)
    rng = np.random.default_rng(1)
    a, b, c = (rng.normal(size=(1, 64, 64, 3)).astype("float32") * 50 for _ in range(3))
    with_b = np.asarray(c2(np.concatenate([a, b]), training=True))[0]
    with_c = np.asarray(c2(np.concatenate([a, c]), training=True))[0]
    np.testing.assert_allclose(with_b, with_c, rtol=1e-5, atol=1e-5)


def test_the_box_head_tells_rois_apart_under_group_norm():
    """Its fc layers' outputs are 1x1 maps: GroupNorm there would make every RoI alike."""
    features = keras.Input((7, 7, 16))
    logits, _, _ = build_box_head(features, num_classes=3, fc_size=32,
                                  norm=Norm("group", groups=32))
    head = keras.Model(features, logits)
    out = np.asarray(head(np.random.default_rng(0).normal(size=(5, 7, 7, 16)).astype("float32")))
    assert out.std(axis=0).min() > 1e-4


def test_unknown_channels_are_a_clear_error():
    with pytest.raises(ValueError, match="'mrcnn_mask_gn1'.*channel count"):
        Norm("group")(keras.Input((14, 14, None)), "mrcnn_mask_bn1")


@pytest.mark.parametrize("preset, stages", [("3+", (3, 4, 5)), ("4+", (4, 5)), ("5+", (5,))])
def test_stage_presets_reach_group_norm_layers(preset, stages):
    import re

    regex = layers_regex(preset)
    for stage in range(2, 6):
        for name in (f"gn{stage}a_branch2a", f"bn{stage}b_branch2c", f"res{stage}a_branch1"):
            assert bool(re.fullmatch(regex, name)) is (stage in stages), name
