"""Shared fixtures: a tiny configuration and shapes data sets small enough for CI."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

from mrcnn.data import ShapesConfig, ShapesDataset  # noqa: E402


class TinyConfig(ShapesConfig):
    """64x64 images and narrow layers: graphs build and step in seconds."""

    NAME = "tiny"
    IMAGES_PER_GPU = 2
    IMAGE_MIN_DIM = 64
    IMAGE_MAX_DIM = 64
    TOP_DOWN_PYRAMID_SIZE = 32
    RPN_CONV_DIM = 32
    PRE_NMS_LIMIT = 256
    POST_NMS_ROIS_TRAINING = 64
    POST_NMS_ROIS_INFERENCE = 32
    TRAIN_ROIS_PER_IMAGE = 16
    FPN_CLASSIF_FC_LAYERS_SIZE = 32
    MASK_HEAD_CONV_DIM = 16
    UNET_SKIP_FILTERS = (16, 16)
    UNET_BOTTLENECK_FILTERS = (16, 32, 16)
    UNET_UP14_FILTERS = (16, 8)
    UNET_UP28_FILTERS = (16, 16)
    DETECTION_MAX_INSTANCES = 10
    STEPS_PER_EPOCH = 4
    VALIDATION_STEPS = 1


def tiny_config(**overrides) -> TinyConfig:
    """A TinyConfig instance with class attributes overridden."""
    return type("TinyOverride", (TinyConfig,), overrides)()


@pytest.fixture(scope="session")
def shapes64() -> ShapesDataset:
    dataset = ShapesDataset()
    dataset.load_shapes(16, 64, 64, seed=3)
    dataset.prepare()
    return dataset
