"""CocoDataset: polygons with several parts, crowd / uncompressed / compressed RLE,
non-contiguous category ids, missing images, and a load -> export -> load round trip."""

from __future__ import annotations

import contextlib
import io
import json
import logging

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils

from mrcnn.data import CocoDataset, export_coco, export_detections
from mrcnn.evaluation.coco import evaluate_coco

H1, W1 = 40, 50  # image 1
H7, W7 = 30, 20  # image 7


def uncompressed_rle(mask: np.ndarray) -> dict:
    """COCO's uncompressed RLE: run lengths over the column-major pixels, zeros first."""
    flat = mask.astype(np.uint8).flatten(order="F")
    counts, value, run = [], 0, 0
    for pixel in flat:
        if pixel != value:
            counts.append(run)
            value, run = pixel, 0
        run += 1
    counts.append(run)
    return {"size": list(mask.shape), "counts": [int(c) for c in counts]}


def compressed_rle(mask: np.ndarray) -> dict:
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": list(rle["size"]), "counts": rle["counts"].decode("ascii")}


def box(h, w, y1, x1, y2, x2):
    mask = np.zeros((h, w), bool)
    mask[y1:y2, x1:x2] = True
    return mask


CROWD = box(H1, W1, 25, 0, 40, 30)
TOOTHBRUSH_RLE = box(H1, W1, 2, 30, 12, 48)
IMAGE7_RLE = box(H7, W7, 20, 2, 28, 18)


def coco_json() -> dict:
    def rect(x1, y1, x2, y2):  # polygon part around pixels [y1, y2) x [x1, x2)
        return [x1, y1, x2, y1, x2, y2, x1, y2]

    return {
        "images": [{"id": 1, "file_name": "a.png", "height": H1, "width": W1},
                   {"id": 7, "file_name": "sub/b.png", "height": H7, "width": W7},
                   {"id": 12, "file_name": "c.png", "height": 8, "width": 8}],
        "categories": [{"id": 1, "name": "person"}, {"id": 18, "name": "dog"},
                       {"id": 90, "name": "toothbrush"}],
        "annotations": [
            # A person in two parts (an occluded object): one polygon with two parts.
            {"id": 100, "image_id": 1, "category_id": 1, "iscrowd": 0,
             "segmentation": [rect(2, 2, 12, 20), rect(16, 2, 24, 20)]},
            {"id": 101, "image_id": 1, "category_id": 90, "iscrowd": 0,
             "segmentation": compressed_rle(TOOTHBRUSH_RLE)},
            {"id": 102, "image_id": 1, "category_id": 18, "iscrowd": 1,
             "segmentation": uncompressed_rle(CROWD)},
            {"id": 103, "image_id": 7, "category_id": 18, "iscrowd": 0,
             "segmentation": [rect(3, 3, 15, 15)]},
            {"id": 104, "image_id": 7, "category_id": 90, "iscrowd": 0,
             "segmentation": uncompressed_rle(IMAGE7_RLE)},
            # A degenerate part (2 points: would be read as a box by pycocotools) is ignored.
            {"id": 105, "image_id": 7, "category_id": 1, "iscrowd": 0,
             "segmentation": [[1, 1, 2, 2], rect(10, 0, 18, 2)]},
        ],
    }


@pytest.fixture
def coco_dir(tmp_path):
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (H1, W1, 4), dtype=np.uint8), "RGBA").save(
        tmp_path / "a.png")
    (tmp_path / "sub").mkdir()
    Image.fromarray(rng.integers(0, 256, (H7, W7), dtype=np.uint8), "L").save(
        tmp_path / "sub" / "b.png")
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "c.png")
    path = tmp_path / "instances.json"
    path.write_text(json.dumps(coco_json()))
    return tmp_path


def load(coco_dir, **kwargs) -> CocoDataset:
    dataset = CocoDataset()
    dataset.load_coco(coco_dir / "instances.json", coco_dir, **kwargs)
    dataset.prepare()
    return dataset


def internal(dataset, coco_image_id):
    return dataset.image_from_source_map[f"coco.{coco_image_id}"]


def test_category_ids_map_to_contiguous_internal_ids_and_back(coco_dir):
    dataset = load(coco_dir)
    assert dataset.class_names == ["BG", "person", "dog", "toothbrush"]
    assert [dataset.map_source_class_id(f"coco.{c}") for c in (1, 18, 90)] == [1, 2, 3]
    assert [dataset.get_source_class_id(i, "coco") for i in (1, 2, 3)] == [1, 18, 90]
    assert dataset.num_images == 3


def test_masks_of_polygons_and_rles_without_crowd(coco_dir):
    dataset = load(coco_dir)
    masks, class_ids = dataset.load_mask(internal(dataset, 1))
    assert masks.shape == (H1, W1, 2) and masks.dtype == bool
    assert class_ids.tolist() == [1, 3] and class_ids.dtype == np.int32
    person = masks[..., 0]
    # Two separate parts, each close to its rectangle.
    for x1, x2 in ((2, 12), (16, 24)):
        part = box(H1, W1, 2, x1, 20, x2)
        iou = (person & part).sum() / (person & (part | ~person)).sum()
        assert (person & part).sum() >= 0.9 * part.sum() and iou > 0.8
    assert not person[:, 13:15].any(), "the parts stay separate"
    np.testing.assert_array_equal(masks[..., 1], TOOTHBRUSH_RLE)
    masks, class_ids = dataset.load_mask(internal(dataset, 7))
    assert class_ids.tolist() == [2, 3, 1]
    np.testing.assert_array_equal(masks[..., 1], IMAGE7_RLE)
    assert masks[..., 2].sum() > 0 and not masks[:4, :4, 2].any(), "degenerate part ignored"
    masks, class_ids = dataset.load_mask(internal(dataset, 12))
    assert masks.shape == (8, 8, 0) and class_ids.shape == (0,)


def test_crowd_regions_are_excluded_by_default_and_negative_when_included(coco_dir):
    dataset = load(coco_dir)
    image = internal(dataset, 1)
    _, class_ids = dataset.load_mask(image)
    assert (class_ids > 0).all()
    masks, class_ids = dataset.load_mask(image, include_crowd=True)
    assert class_ids.tolist() == [1, 3, -2]
    np.testing.assert_array_equal(masks[..., 2], CROWD)
    crowd_set = load(coco_dir, include_crowd=True)
    assert crowd_set.load_mask(image)[1].tolist() == [1, 3, -2]
    assert crowd_set.load_mask(image, include_crowd=False)[1].tolist() == [1, 3]


def test_training_pipeline_sees_crowd_regions_only_as_crowd(coco_dir):
    """The pipeline carries crowd regions with negative ids (the target layers keep
    proposals on them out of the negatives), whatever the data set was loaded with."""
    from mrcnn.engine.input_pipeline import load_image_gt
    from tests.helpers import tiny_config

    config = tiny_config(NUM_CLASSES=4)
    for dataset in (load(coco_dir), load(coco_dir, include_crowd=True)):
        _, _, class_ids, boxes, masks = load_image_gt(dataset, config, internal(dataset, 1))
        assert class_ids.tolist() == [1, 3, -2] and len(boxes) == 3
        assert masks[..., 2].any()


def test_images_load_as_rgb_uint8_whatever_their_mode(coco_dir):
    dataset = load(coco_dir)
    for coco_id, (h, w) in ((1, (H1, W1)), (7, (H7, W7))):
        image = dataset.load_image(internal(dataset, coco_id))
        assert image.shape == (h, w, 3) and image.dtype == np.uint8


def test_class_subset_keeps_only_its_images_and_annotations(coco_dir):
    dataset = load(coco_dir, class_ids=[18, 90])
    assert dataset.class_names == ["BG", "dog", "toothbrush"]
    assert sorted(info["id"] for info in dataset.image_info) == [1, 7]
    assert dataset.load_mask(internal(dataset, 7))[1].tolist() == [1, 2]
    assert dataset.load_mask(internal(dataset, 1), include_crowd=True)[1].tolist() == [2, -1]
    with pytest.raises(ValueError, match=r"category ids \[5\]"):
        load(coco_dir, class_ids=[5])


def test_missing_images_are_reported_with_id_and_file(coco_dir, caplog):
    (coco_dir / "sub" / "b.png").unlink()
    with pytest.raises(FileNotFoundError, match=r"image 7: .*sub/b\.png"):
        load(coco_dir)
    with caplog.at_level(logging.WARNING):
        dataset = load(coco_dir, missing="skip")
    assert sorted(info["id"] for info in dataset.image_info) == [1, 12]
    assert "sub/b.png" in caplog.text
    dataset = load(coco_dir, missing="ignore")
    with pytest.raises(FileNotFoundError, match=r"image 1 .*sub/b\.png"):
        dataset.load_image(internal(dataset, 7))


def test_malformed_annotations_name_the_image_and_annotation(coco_dir):
    data = coco_json()
    data["annotations"][3]["segmentation"] = {"size": [5, 5], "counts": [25]}
    dataset = CocoDataset()
    dataset.load_coco(data, coco_dir)
    dataset.prepare()
    with pytest.raises(ValueError, match=r"image 1 .*b\.png.*annotation 103.*RLE size"):
        dataset.load_mask(internal(dataset, 7))
    data["annotations"][3]["segmentation"] = "nonsense"
    dataset = CocoDataset()
    dataset.load_coco(data, None)
    dataset.prepare()
    with pytest.raises(ValueError, match="annotation 103: unsupported segmentation"):
        dataset.load_mask(internal(dataset, 7))
    with pytest.raises(FileNotFoundError, match="nowhere.json"):
        CocoDataset().load_coco(coco_dir / "nowhere.json", coco_dir)


def test_round_trip_load_export_load_gives_the_same_masks(coco_dir, tmp_path):
    first = load(coco_dir, include_crowd=True)
    out = tmp_path / "out" / "exported.json"
    data = export_coco(first, out, image_dir=coco_dir)
    assert sorted(c["id"] for c in data["categories"]) == [1, 18, 90]
    assert sorted(i["id"] for i in data["images"]) == [1, 7, 12]
    assert {i["file_name"] for i in data["images"]} == {"a.png", "sub/b.png", "c.png"}
    assert sum(a["iscrowd"] for a in data["annotations"]) == 1
    second = CocoDataset()
    second.load_coco(out, coco_dir, include_crowd=True)
    second.prepare()
    assert second.class_names == first.class_names
    for coco_id in (1, 7, 12):
        masks_a, ids_a = first.load_mask(internal(first, coco_id))
        masks_b, ids_b = second.load_mask(internal(second, coco_id))
        np.testing.assert_array_equal(ids_a, ids_b)
        np.testing.assert_array_equal(masks_a, masks_b)
        np.testing.assert_array_equal(first.load_image(internal(first, coco_id)),
                                      second.load_image(internal(second, coco_id)))


def test_exported_detections_evaluate_against_the_exported_ground_truth(coco_dir, tmp_path):
    dataset = load(coco_dir, include_crowd=True)
    gt = export_coco(dataset, tmp_path / "gt.json")
    results = {}
    for image_id in dataset.image_ids:  # perfect detections of the non-crowd objects
        masks, class_ids = dataset.load_mask(image_id, include_crowd=False)
        rois = np.array([[np.nonzero(m.any(1))[0][0], np.nonzero(m.any(0))[0][0],
                          np.nonzero(m.any(1))[0][-1] + 1, np.nonzero(m.any(0))[0][-1] + 1]
                         for m in np.moveaxis(masks, -1, 0)]).reshape(-1, 4)
        results[int(image_id)] = {"rois": rois, "class_ids": class_ids,
                                  "scores": np.ones(len(class_ids), np.float32),
                                  "masks": masks}
    entries = export_detections(dataset, results, tmp_path / "dt.json")
    assert {e["category_id"] for e in entries} == {1, 18, 90}
    assert {e["image_id"] for e in entries} == {1, 7}
    stats = evaluate_coco(str(tmp_path / "gt.json"), json.loads((tmp_path / "dt.json")
                                                                .read_text()), verbose=False)
    assert stats["AP"] == pytest.approx(1.0)
    assert gt["annotations"]


def test_export_with_internal_ids_and_any_dataset(shapes64, tmp_path):
    data = export_coco(shapes64, tmp_path / "shapes.json", image_ids=[0, 1], ids="internal")
    assert [i["id"] for i in data["images"]] == [0, 1]
    dataset = CocoDataset()
    dataset.load_coco(tmp_path / "shapes.json", None)
    dataset.prepare()
    for image_id in (0, 1):
        a, ids_a = shapes64.load_mask(image_id)
        b, ids_b = dataset.load_mask(dataset.image_from_source_map[f"coco.{image_id}"])
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(ids_a, ids_b)


@pytest.mark.needs_data("coco")
def test_real_coco_excerpt_matches_pycocotools():
    """The real COCO 2017 excerpt (../shared/data/coco): every mask of both files equals
    pycocotools' own ``annToMask``, with its category and crowd flag, and every image
    loads as RGB uint8 of the size the json gives."""
    from pycocotools.coco import COCO

    from mrcnn.data.public import data_root

    root = data_root() / "coco"
    files = sorted((root / "annotations").glob("instances_*2017.json"))
    if not files:
        pytest.skip(f"no real COCO excerpt under {root} (see ../shared/data/README.md)")
    checked = 0
    for path in files:
        split = path.stem.split("_")[-1]
        dataset = CocoDataset()
        dataset.load_coco(path, root / "images" / split, include_crowd=True)
        dataset.prepare()
        with contextlib.redirect_stdout(io.StringIO()):
            reference = COCO(str(path))
        for image_id in dataset.image_ids:
            info = dataset.image_info[image_id]
            image = dataset.load_image(image_id)
            assert image.dtype == np.uint8 and image.shape == (info["height"], info["width"], 3)
            masks, class_ids = dataset.load_mask(image_id)
            annotations = [a for a in reference.loadAnns(reference.getAnnIds(imgIds=info["id"]))
                           if reference.annToMask(a).any()]
            assert len(annotations) == len(class_ids), (path.name, info["id"])
            for k, annotation in enumerate(annotations):
                np.testing.assert_array_equal(masks[..., k], reference.annToMask(annotation) > 0)
                internal_id = dataset.map_source_class_id(f"coco.{annotation['category_id']}")
                sign = -1 if annotation["iscrowd"] else 1
                assert class_ids[k] == sign * internal_id
                checked += 1
    assert checked >= 400  # 288 + 136 annotations in the excerpt, a few may be empty
