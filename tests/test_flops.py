"""FLOPs counting: hand-computed values for each layer kind and for the FCN head; every
registered head's profile, and narrow widths for it in the tests' and the light preset."""

from __future__ import annotations

import keras
import pytest

from mrcnn.config import Config, LightConfig
from mrcnn.flops import flops_by_region, mask_head_profile, model_flops
from mrcnn.graph import build_graph
from mrcnn.heads.mask import MASK_HEADS
from tests.helpers import tiny_config


def test_layer_kinds_by_hand():
    x = keras.Input((8, 8, 3))
    y = keras.layers.Conv2D(4, 3, padding="same")(x)           # 2*9*3*4*64
    y = keras.layers.Conv2D(6, 1, strides=2)(y)                 # 2*1*4*6*16
    y = keras.layers.Conv2DTranspose(2, 2, strides=2)(y)        # 2*4*6*2*16
    y = keras.layers.Dense(5)(y)                                # 2*2*5*64
    assert model_flops(keras.Model(x, y)) == (2 * 9 * 3 * 4 * 64 + 2 * 4 * 6 * 16
                                              + 2 * 4 * 6 * 2 * 16 + 2 * 2 * 5 * 64)


def test_fcn_head_flops_per_roi():
    config = tiny_config(MASK_HEAD="fcn")
    d, w, c = config.TOP_DOWN_PYRAMID_SIZE, config.MASK_HEAD_CONV_DIM, config.NUM_CLASSES
    convs = 2 * 9 * (d * w + 3 * w * w) * 14 * 14
    deconv = 2 * 4 * w * w * 14 * 14
    final = 2 * w * c * 28 * 28
    assert mask_head_profile(config)["flops_per_roi"] == convs + deconv + final


def test_a_shared_layer_counts_once_per_call():
    a, b = keras.Input((8, 8, 3)), keras.Input((4, 4, 3))
    shared = keras.layers.Conv2D(2, 1)
    model = keras.Model([a, b], [shared(a), shared(b)])
    assert model_flops(model) == 2 * 3 * 2 * (64 + 16)


def test_detection_graph_splits_per_image_and_per_roi_flops():
    config = tiny_config(MASK_HEAD="fcn")
    regions = flops_by_region(build_graph("inference", config))
    assert set(regions) == {"image", "roi_align_classifier", "roi_align_mask"}
    d, w, c = config.TOP_DOWN_PYRAMID_SIZE, config.MASK_HEAD_CONV_DIM, config.NUM_CLASSES
    assert regions["roi_align_mask"] == (2 * 9 * (d * w + 3 * w * w) * 14 * 14
                                         + 2 * 4 * w * w * 14 * 14 + 2 * w * c * 28 * 28)
    # The RPN's shared 3x3 conv runs on P2..P6 (16, 8, 4, 2, 1 px squares for 64 px images).
    rpn = 2 * 9 * d * config.RPN_CONV_DIM * (256 + 64 + 16 + 4 + 1)
    assert regions["image"] > rpn


@pytest.mark.parametrize("head", sorted(MASK_HEADS))
def test_every_heads_profile_is_its_share_of_the_detection_graph(head):
    config = tiny_config(MASK_HEAD=head)
    profile = mask_head_profile(config)
    assert profile["parameters"] > 0 and profile["flops_per_roi"] > 0
    regions = flops_by_region(build_graph("inference", config))
    assert regions["roi_align_mask"] == profile["flops_per_roi"]


def head_flops(base: type[Config], head: str) -> int:
    """FLOPs per RoI of ``head`` with the widths ``base`` gives it (4 classes)."""
    # LightConfig leaves POST_NMS_ROIS_TRAINING to its presets; no proposals are made here.
    fields = {"NAME": "flops", "NUM_CLASSES": 4, "MASK_HEAD": head, "PRE_NMS_LIMIT": 2000}
    return mask_head_profile(type("Flops", (base,), fields)())["flops_per_roi"]


@pytest.mark.parametrize("head", sorted(MASK_HEADS))
def test_tiny_and_light_configs_narrow_every_head(head):
    """A head's settings default to full widths: TinyConfig (widths / 16) and LightConfig
    (widths / 4) must narrow each head, or its tests and CPU training build it full-width.
    A new head gets its narrow widths in both (next to the other heads')."""
    full = head_flops(Config, head)
    assert head_flops(LightConfig, head) < full / 8, "LightConfig: narrow this head's widths"
    tiny = mask_head_profile(tiny_config(MASK_HEAD=head))["flops_per_roi"]
    assert tiny < full / 64, "tests/conftest.py TinyConfig: narrow this head's widths"
