"""The COCO sample: class subsets by name, the held-out split, training and evaluation
from a COCO export, and a load -> export -> load round trip of a real COCO file where one
is in ``<data root>/coco/annotations/`` (skipped with the reason where none is)."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mrcnn.data import CocoDataset, ShapesDataset, export_coco
from mrcnn.data.catalog import remove_dataset
from mrcnn.data.specs import DataSpecError, coco_category_ids
from mrcnn.experiments.compare import CompareSettings
from mrcnn.viewer import held_out_set
from tests.samples import SAMPLES, sample_module

coco = sample_module("coco", SAMPLES / "coco" / "coco.py")
coco_train = sample_module("coco_train", SAMPLES / "coco" / "train.py")

REAL_FILE_IMAGES = 500  # images of each real file checked (instances_val2017 has 5000)


@pytest.fixture(scope="module")
def shapes_coco(tmp_path_factory) -> Path:
    """16 shapes images as PNGs and a COCO json with category ids 1..3 (square, circle,
    triangle) and image ids 0..15."""
    root = tmp_path_factory.mktemp("shapes_coco")
    shapes = ShapesDataset()
    shapes.load_shapes(16, 64, 64, seed=5)
    shapes.prepare()
    (root / "images").mkdir()
    for image_id in shapes.image_ids:
        path = root / "images" / f"{image_id:03d}.png"
        Image.fromarray(shapes.load_image(image_id)).save(path)
        shapes.image_info[image_id]["path"] = str(path)
    export_coco(shapes, root / "instances.json", image_dir=root / "images")
    return root


def test_classes_by_name_and_a_clear_error_for_unknown_names(shapes_coco):
    data = json.loads((shapes_coco / "instances.json").read_text())
    names = {c["name"]: c["id"] for c in data["categories"]}
    assert coco_category_ids(data, ["triangle", "square"], "x") == [names["triangle"],
                                                                    names["square"]]
    with pytest.raises(DataSpecError, match=r"no categories named \['balloon'\].*'circle'"):
        coco.coco_experiment(shapes_coco / "instances.json", shapes_coco / "images",
                             classes=["balloon", "circle"]).load()
    experiment = coco.coco_experiment(shapes_coco / "instances.json", shapes_coco / "images",
                                      classes=["circle"], holdout=2)
    config_class, train, val = experiment(CompareSettings(image_size=64), seed=0)
    with_circles = {a["image_id"] for a in data["annotations"]
                    if a["category_id"] == names["circle"]}
    assert train.class_names == val.class_names == ["BG", "circle"]
    assert config_class.NUM_CLASSES == 2
    assert train.num_images + val.num_images == len(with_circles) > 2
    for subset in (train, val):
        for image_id in subset.image_ids:
            masks, class_ids = subset.load_mask(image_id)
            assert masks.shape[-1] >= 1 and set(class_ids.tolist()) == {1}


def test_held_out_split_is_the_largest_ids_and_caps_apply(shapes_coco):
    experiment = coco.coco_experiment(shapes_coco / "instances.json", shapes_coco / "images",
                                      holdout=4)
    config_class, train, val = experiment(CompareSettings(image_size=64, train_images=9,
                                                          val_images=3), seed=0)
    train_ids = [info["id"] for info in train.image_info]
    val_ids = [info["id"] for info in val.image_info]
    assert train_ids == list(range(9)) and val_ids == [12, 13, 14]
    assert config_class.NUM_CLASSES == 4 and config_class.IMAGE_MAX_DIM == 64
    assert issubclass(config_class, coco.CocoLightConfig)
    assert experiment.record()["holdout"] == 4 and experiment.record()["caps"]
    with pytest.raises(ValueError, match="cannot hold out 16 of 16 images"):
        coco.coco_experiment(shapes_coco / "instances.json", shapes_coco / "images",
                             holdout=16)(CompareSettings(), seed=0)


def test_missing_images_are_named_with_the_annotation_file(shapes_coco, tmp_path):
    annotations = shapes_coco / "instances.json"
    with pytest.raises(FileNotFoundError, match=r"instances.json: 16 of 16 images not found"
                                                r".*image 0: .*000.png"):
        coco.coco_experiment(annotations, tmp_path).load()
    for image_id in (0, 1, 3, 4):  # image 2 and 5.. are absent
        shutil.copy(shapes_coco / "images" / f"{image_id:03d}.png", tmp_path)
    train, val = coco.coco_experiment(annotations, tmp_path, holdout=1, missing="skip").load()
    assert [info["id"] for info in train.image_info + val.image_info] == [0, 1, 3, 4]


def test_train_script_trains_and_evaluates_a_coco_export(shapes_coco, tmp_path):
    report = coco_train.main([
        "--annotations", str(shapes_coco / "instances.json"), "--images",
        str(shapes_coco / "images"), "--holdout", "4", "--heads", "fcn", "--epochs", "1",
        "--steps-per-epoch", "2", "--image-size", "64", "--verbose", "0",
        "--out", str(tmp_path / "results"), "--logs", str(tmp_path / "logs")])
    (run,) = report["runs"]
    assert run["head"] == "fcn" and run["held_out_images"] == 4
    assert 0.0 <= run["segm"]["AP"] <= 1.0 and np.isfinite(run["history"]["total_loss"][0])
    assert (tmp_path / "results" / "coco" / "compare.md").exists()
    # The report records the sample's data spec: its held-out set is rebuilt from it alone.
    assert report["data"] == {"spec": f"coco:{shapes_coco / 'instances.json'}:"
                                      f"{shapes_coco / 'images'}",
                              "val": None, "holdout": 4, "check": "off", "caps": True}
    remove_dataset("coco")
    held_out = held_out_set(report, 0, tmp_path / "results" / "coco" / "compare.json")
    assert [info["id"] for info in held_out.image_info] == [12, 13, 14, 15]


def test_train_script_names_a_missing_annotation_file(tmp_path, capsys):
    with pytest.raises(SystemExit, match="COCO annotation file not found: .*nowhere.json"):
        coco_train.main(["--annotations", str(tmp_path / "nowhere.json"), "--images",
                         str(tmp_path)])
    with pytest.raises(SystemExit):
        coco_train.main(["--annotations", "a.json", "--images", ".", "--val-annotations",
                         "b.json"])
    assert "--val-annotations needs --val-dir" in capsys.readouterr().err


def test_real_coco_file_round_trips(tmp_path):
    """load -> export -> load keeps every image's masks, classes, crowd flags and the
    file's category and image ids (the first REAL_FILE_IMAGES images of each file)."""
    files = coco.real_coco_files()
    if not files:
        pytest.skip(f"no real COCO annotation file: put one (e.g. instances_val2017.json) "
                    f"in {coco.data_root() / 'coco' / 'annotations'} or set $MRCNN_DATA")
    for path in files:
        data = json.loads(path.read_text())
        image_ids = sorted(int(i["id"]) for i in data["images"])[:REAL_FILE_IMAGES]
        first = CocoDataset()
        first.load_coco(data, None, image_ids=image_ids, include_crowd=True, name=str(path))
        first.prepare()
        out = tmp_path / f"exported_{path.name}"
        exported = export_coco(first, out)
        assert sorted(c["id"] for c in exported["categories"]) == \
            sorted(int(c["id"]) for c in data["categories"])
        assert sorted(i["id"] for i in exported["images"]) == image_ids
        second = CocoDataset()
        second.load_coco(out, None, include_crowd=True)
        second.prepare()
        assert second.class_names == first.class_names
        crowds = 0
        for image_id in first.image_ids:
            source_id = first.image_info[image_id]["id"]
            masks_a, ids_a = first.load_mask(image_id)
            masks_b, ids_b = second.load_mask(second.image_from_source_map[f"coco.{source_id}"])
            np.testing.assert_array_equal(ids_a, ids_b, err_msg=f"{path} image {source_id}")
            np.testing.assert_array_equal(masks_a, masks_b, err_msg=f"{path} image {source_id}")
            crowds += int((ids_a < 0).sum())
        kept = set(image_ids)
        assert crowds == sum(1 for a in data["annotations"]
                             if a.get("iscrowd") and a["image_id"] in kept)
        print(f"{path.name}: {len(image_ids)} images, {crowds} crowd regions round-tripped",
              file=sys.stderr)
