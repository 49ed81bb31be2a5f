"""The data-set catalog (mrcnn.data.catalog): registering and looking up data sets by name,
data-set functions made from a data spec (a public set by name included), and the records
that rebuild them."""

from __future__ import annotations

import re

import numpy as np
import pytest
from PIL import Image

from mrcnn.data import ShapesConfig, public
from mrcnn.data.catalog import (
    SeededShapes,
    SpecData,
    UnknownDataset,
    from_record,
    get_dataset,
    register_dataset,
    registered_datasets,
    remove_dataset,
)
from mrcnn.data.specs import DataSpecError, parse_spec
from mrcnn.experiments.settings import CompareSettings
from mrcnn.presets import RealDataConfig


def write_labels(images, labels, count, size=16, suffix=""):
    """``count`` images ``img<i>.png`` with one square each, and their label images."""
    images.mkdir(parents=True)
    labels.mkdir(parents=True)
    for i in range(count):
        image = np.full((size, size, 3), 20, np.uint8)
        label = np.zeros((size, size), np.uint8)
        image[2:8, 2 + i % 6:8 + i % 6] = 200
        label[2:8, 2 + i % 6:8 + i % 6] = 1
        Image.fromarray(image).save(images / f"img{i:03d}.png")
        Image.fromarray(label).save(labels / f"img{i:03d}{suffix}.png")


@pytest.fixture
def labels_spec(tmp_path):
    write_labels(tmp_path / "images", tmp_path / "labels", 5)
    return f"labels:{tmp_path / 'images'}:{tmp_path / 'labels'}"


def test_a_name_is_registered_once_looked_up_and_removed():
    def data(settings, seed):
        return ShapesConfig, None, None

    assert "shapes" in registered_datasets() and isinstance(get_dataset("shapes"), SeededShapes)
    assert register_dataset("mine", data) is data
    try:
        assert get_dataset("mine") is data and "mine" in registered_datasets()
        register_dataset("mine", data)  # the same function again: nothing changes
        with pytest.raises(ValueError, match="'mine' is already registered .* replace=True"):
            register_dataset("mine", lambda settings, seed: None)
        register_dataset("mine", SeededShapes(), replace=True)
        assert isinstance(get_dataset("mine"), SeededShapes)
    finally:
        remove_dataset("mine")
    with pytest.raises(UnknownDataset, match=r"'mine' is not registered \(registered: "
                                             r"\[.*'shapes'.*\]\); register it with"):
        get_dataset("mine")
    with pytest.raises(ValueError, match="not registered"):  # a ValueError too
        remove_dataset("mine")
    for name in ("", "a/b", " x", ".."):
        with pytest.raises(ValueError, match="expected a non-empty folder name"):
            register_dataset(name, data)
    with pytest.raises(ValueError, match="is not a function"):
        register_dataset("mine", "shapes")


def test_spec_data_loads_once_and_trains_with_the_specs_config(labels_spec):
    data = SpecData(labels_spec, holdout=2)
    settings = CompareSettings(image_size=64, steps_per_epoch=7, train_images=2, val_images=1)
    config, train_set, held_out = data(settings, seed=0)
    assert (train_set.num_images, held_out.num_images) == (3, 2)  # no caps by default
    assert held_out.image_reference(1).endswith("img004.png")
    assert issubclass(config, RealDataConfig) and config.NUM_CLASSES == 2
    assert (config.IMAGE_MAX_DIM, config.STEPS_PER_EPOCH) == (64, 7)
    again = data(settings, seed=1)
    assert again[1] is train_set and again[2] is held_out  # loaded once, split fixed
    assert data.record() == {"spec": labels_spec, "val": None, "holdout": 2, "check": "stop"}


def test_spec_data_with_a_config_class_and_caps(labels_spec):
    class Mine(RealDataConfig):
        NAME = "mine"
        NUM_CLASSES = 7
        MAX_GT_INSTANCES = 3

    data = SpecData(labels_spec, holdout=2, config_class=Mine, caps=True, check="off")
    settings = CompareSettings(image_size=128, steps_per_epoch=5, train_images=2, val_images=1)
    config, train_set, held_out = data(settings, seed=0)
    assert (train_set.num_images, held_out.num_images) == (2, 1)
    assert held_out.image_reference(0).endswith("img003.png")  # the first of the last two
    assert issubclass(config, Mine) and config.MAX_GT_INSTANCES == 3
    assert (config.NUM_CLASSES, config.IMAGE_MIN_DIM, config.STEPS_PER_EPOCH) == (2, 128, 5)
    assert data.record() == {"spec": labels_spec, "val": None, "holdout": 2, "check": "off",
                             "caps": True}


def test_bad_spec_data_is_named(labels_spec):
    with pytest.raises(ValueError, match="give val or holdout, not both"):
        SpecData(labels_spec, val=labels_spec, holdout=1)
    with pytest.raises(ValueError, match="check must be one of"):
        SpecData(labels_spec, check="maybe")
    with pytest.raises(ValueError, match="holdout must be a count of images"):
        SpecData(labels_spec, holdout="2")
    with pytest.raises(DataSpecError, match="brings no held-out split: give --holdout N"):
        SpecData(labels_spec).load()
    with pytest.raises(DataSpecError, match="only a coco spec can keep some classes"):
        SpecData(labels_spec, holdout=1, classes=["object"]).load()


def test_a_record_rebuilds_the_same_data(labels_spec):
    settings = CompareSettings(image_size=64, train_images=2, val_images=1)
    data = SpecData(labels_spec, holdout=2, caps=True)
    rebuilt = from_record(data.record())
    assert isinstance(rebuilt, SpecData) and rebuilt.record() == data.record()
    held_out = rebuilt(settings, 0)[2]
    assert [held_out.image_reference(i) for i in range(held_out.num_images)] == [
        data(settings, 0)[2].image_reference(0)]
    shapes = from_record(SeededShapes().record())
    assert isinstance(shapes, SeededShapes)
    settings = CompareSettings(image_size=64, train_images=3, val_images=2)
    config, train_a, val_a = shapes(settings, 0)
    _, train_b, val_b = shapes(settings, 1)
    assert config.IMAGE_MAX_DIM == 64 and (train_a.num_images, val_a.num_images) == (3, 2)
    np.testing.assert_array_equal(val_a.load_image(1), val_b.load_image(1))  # fixed
    assert not np.array_equal(train_a.load_image(0), train_b.load_image(0))  # per seed
    with pytest.raises(ValueError, match="only the shapes are seeded"):
        from_record({"spec": labels_spec, "seeded": True})
    with pytest.raises(ValueError, match="expected a 'spec' string"):
        from_record({"val": labels_spec})


@pytest.fixture
def public_root(tmp_path, monkeypatch):
    """A data root the public sets are looked for in (and nowhere else)."""
    monkeypatch.delenv(public.DATA_ENV, raising=False)
    public.set_data_root(tmp_path)
    yield tmp_path
    public.set_data_root(None)


def test_a_public_data_set_is_a_spec_by_name(public_root):
    with pytest.raises(DataSpecError, match=r"'pennfudan': Penn-Fudan .* not found at "
                                            rf"{re.escape(str(public_root))}.* set "
                                            r"MRCNN_DATA=DIR, or fetch "
                                            r"it with mrcnn.data.public.fetch_dataset"):
        parse_spec("pennfudan")
    folder = public_root / "pennfudan" / "PennFudanPed"
    write_labels(folder / "PNGImages", folder / "PedMasks", public.PENNFUDAN_HELD_OUT + 2,
                 suffix="_mask")
    spec = parse_spec("pennfudan")
    assert (spec.kind, spec.name, spec.parts) == ("pennfudan", "pennfudan", (str(folder),))
    with pytest.raises(DataSpecError, match="expected pennfudan alone"):
        parse_spec("pennfudan:x")
    data = SpecData("pennfudan", caps=True, check="off")
    settings = CompareSettings(image_size=64, train_images=2000, val_images=3)
    config, train_set, held_out = data(settings, 0)
    # The fixed split: the last 50 images by file name held out (here capped to 3).
    assert (train_set.num_images, held_out.num_images) == (2, 3)
    assert held_out.class_names == ["BG", "pedestrian"] and config.NAME == "pennfudan"
    assert held_out.image_reference(0).endswith("img002.png")
    masks, class_ids = held_out.load_mask(0)
    assert masks.shape == (16, 16, 1) and list(class_ids) == [1]
