"""The real-data samples: Penn-Fudan and balloon loaders (mrcnn.data.public), splits, configs,
and the data sets the samples register.

Tests that read the data skip cleanly where ../shared/data (or $MRCNN_DATA) is absent.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import mrcnn.experiments.compare
from mrcnn.data import public
from mrcnn.data.catalog import get_dataset, register_dataset, remove_dataset
from mrcnn.engine.input_pipeline import load_image_gt
from mrcnn.experiments.compare import CompareSettings
from tests.helpers import HANG_GUARD_S
from tests.samples import SAMPLES, sample_module

pennfudan = sample_module("pennfudan", SAMPLES / "pennfudan" / "pennfudan.py")
balloon = sample_module("balloon", SAMPLES / "balloon" / "balloon.py")


def _require(name):
    try:
        return public.dataset_dir(name)
    except public.DataNotFound as error:
        pytest.skip(f"../shared/data not found: {error}")


def test_missing_data_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("MRCNN_DATA", str(tmp_path))
    with pytest.raises(public.DataNotFound, match=r"Penn-Fudan.*MRCNN_DATA"):
        public.dataset_dir("pennfudan")
    with pytest.raises(public.DataNotFound, match=str(tmp_path / "balloon" / "balloon")):
        public.dataset_dir("balloon")


def test_train_script_exits_with_a_message_when_the_data_is_absent(tmp_path):
    env = {**os.environ, "MRCNN_DATA": str(tmp_path), "TF_CPP_MIN_LOG_LEVEL": "3"}
    run = subprocess.run([sys.executable, str(SAMPLES / "pennfudan" / "train.py")], env=env,
                         capture_output=True, text=True, timeout=HANG_GUARD_S)
    assert run.returncode == 1
    assert "error: Penn-Fudan (PennFudanPed/) not found at" in run.stderr


def test_pennfudan_split_is_fixed_last_50_by_file_name_held_out():
    root = _require("pennfudan")
    split = public.pennfudan_split(root)
    assert len(split["train"]) == 120 and len(split["val"]) == 50
    names = [image.stem for image, _ in split["train"] + split["val"]]
    assert names == sorted(names)
    assert split["val"][0][0].stem == "PennPed00047" and split["val"][-1][0].stem == \
        "PennPed00096"
    assert all(label.exists() for _, label in split["train"] + split["val"])


def test_pennfudan_has_423_pedestrians_with_masks_the_size_of_their_images():
    _require("pennfudan")
    total = 0
    for subset in ("train", "val"):
        dataset = public.load_pennfudan(subset, cache=False)
        assert dataset.class_names == ["BG", "pedestrian"]
        for image_id in dataset.image_ids:
            masks, class_ids = dataset.load_mask(image_id)
            info = dataset.image_info[image_id]
            assert masks.shape[:2] == (info["height"], info["width"])
            assert len(class_ids) >= 1 and (class_ids == 1).all()
            total += len(class_ids)
    assert total == 423


def test_balloon_train_and_val_regions_and_masks():
    _require("balloon")
    counts = {}
    for subset in ("train", "val"):
        dataset = public.load_balloon(subset, cache_max_dim=None)
        assert dataset.class_names == ["BG", "balloon"]
        counts[subset] = (dataset.num_images,
                          sum(len(info["regions"]) for info in dataset.image_info))
    assert counts == {"train": (61, 255), "val": (13, 50)}
    cached = public.load_balloon("val")
    full = public.load_balloon("val", cache_max_dim=None)
    for image_id in (0, 1):
        image = cached.load_image(image_id)
        masks, class_ids = cached.load_mask(image_id)
        assert max(image.shape[:2]) <= public.BALLOON_CACHE_MAX_DIM
        assert masks.shape[:2] == image.shape[:2] and masks.any(axis=(0, 1)).all()
        full_masks, _ = full.load_mask(image_id)
        assert len(class_ids) == full_masks.shape[-1]
        # Same share of the picture covered at both resolutions.
        assert abs(masks.mean() - full_masks.mean()) < 0.01


@pytest.mark.parametrize("name", ["pennfudan", "balloon"])
def test_registered_data_sets_have_the_runner_signature_and_a_valid_config(name):
    _require(name)
    experiment = get_dataset(name)
    assert experiment is getattr({"pennfudan": pennfudan, "balloon": balloon}[name],
                                 f"{name}_experiment")
    # What a report records: the public set by name, so the viewer rebuilds it alone.
    assert experiment.record() == {"spec": name, "val": None, "holdout": None,
                                   "check": "off", "caps": True}
    settings = CompareSettings(dataset=name, image_size=192, steps_per_epoch=7,
                               train_images=6, val_images=3)
    config_class, train_set, val_set = experiment(settings, 0)
    config = config_class()
    assert config.IMAGE_MAX_DIM == 192 and config.STEPS_PER_EPOCH == 7
    assert config.NUM_CLASSES == train_set.num_classes == val_set.num_classes == 2
    assert (train_set.num_images, val_set.num_images) == (6, 3)
    image, _, class_ids, boxes, masks = load_image_gt(
        train_set, config, 0, config.AUGMENTATION, np.random.default_rng(0))
    assert image.shape == (192, 192, 3) and len(class_ids) == len(boxes) >= 1
    assert len(class_ids) <= config.MAX_GT_INSTANCES
    assert masks.shape == (192, 192, len(class_ids))


def test_runner_trains_with_the_config_augmentation(monkeypatch, tmp_path):
    calls = []

    class Stop(Exception):
        pass

    def fake_train_head(config, *args, **kwargs):
        calls.append(kwargs.get("augmentation"))
        raise Stop

    def experiment(settings, seed):
        return pennfudan.PennFudanConfig, None, None

    monkeypatch.setattr(mrcnn.experiments.compare, "train_head", fake_train_head)
    register_dataset("fake", experiment)
    try:
        with pytest.raises(Stop):
            mrcnn.experiments.compare.run(mrcnn.experiments.compare.CompareSettings(
                dataset="fake", heads=("fcn",), out=str(tmp_path)))
    finally:
        remove_dataset("fake")
    assert calls == [pennfudan.PennFudanConfig.AUGMENTATION]
