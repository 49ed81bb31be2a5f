"""COCO evaluation: ground truth fed back scores 1, known shifts give known AP, edge cases."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from mrcnn.data import Dataset, ShapesDataset, extract_bboxes
from mrcnn.evaluation import (
    ap_at_iou,
    ap_vs_iou,
    dataset_to_coco,
    detections_to_coco,
    evaluate_coco,
    evaluate_model_coco,
)
from mrcnn.evaluation.coco import STAT_NAMES, load_coco

SIZE = 64
# Per image: squares (y, x, side, class id). Sides 20 and 12 are small (< 32²), 40 medium.
SQUARES = [
    [(4, 4, 20, 1), (30, 30, 12, 2)],
    [(10, 12, 40, 1)],
]


class SquaresDataset(Dataset):
    """Images of axis-aligned squares; masks exact, classes "a" (1) and "b" (2)."""

    def __init__(self, squares: list[list[tuple[int, int, int, int]]]) -> None:
        super().__init__()
        self.add_class("sq", 1, "a")
        self.add_class("sq", 2, "b")
        for i, spec in enumerate(squares):
            self.add_image("sq", i, None, height=SIZE, width=SIZE, squares=spec)
        self.prepare()

    def load_image(self, image_id: int) -> np.ndarray:
        image = np.zeros([SIZE, SIZE, 3], dtype=np.uint8)
        image[0, 0, 0] = image_id
        return image

    def load_mask(self, image_id: int) -> tuple[np.ndarray, np.ndarray]:
        spec = self.image_info[image_id]["squares"]
        masks = np.zeros([SIZE, SIZE, len(spec)], dtype=bool)
        for i, (y, x, side, _) in enumerate(spec):
            masks[y:y + side, x:x + side, i] = True
        return masks, np.array([c for *_, c in spec], dtype=np.int32)


def as_result(masks: np.ndarray, class_ids: np.ndarray, scores=None) -> dict[str, np.ndarray]:
    """A `detect`-style result with boxes taken from the masks."""
    scores = np.ones(len(class_ids)) if scores is None else np.asarray(scores, dtype=np.float32)
    return {"rois": extract_bboxes(masks), "class_ids": np.asarray(class_ids, dtype=np.int32),
            "scores": scores, "masks": masks}


def shifted_result(dataset: Dataset, image_id: int, shift: int) -> dict[str, np.ndarray]:
    """Ground truth of `image_id` moved `shift` pixels right, as a detect result."""
    masks, class_ids = dataset.load_mask(image_id)
    return as_result(np.roll(masks, shift, axis=1), class_ids)


@pytest.fixture(scope="module")
def squares() -> SquaresDataset:
    return SquaresDataset(SQUARES)


@pytest.fixture(scope="module")
def gt(squares: SquaresDataset):
    return load_coco(dataset_to_coco(squares))


def test_ground_truth_as_detections_scores_one(squares, gt) -> None:
    # pycocotools divides by (tp + fp + eps), so a perfect AP is 1 - 2e-16: compare approx.
    detections = [d for i in squares.image_ids
                  for d in detections_to_coco(i, shifted_result(squares, i, 0))]
    for iou_type in ("segm", "bbox"):
        stats = evaluate_coco(gt, detections, iou_type, verbose=False)
        assert set(stats) == set(STAT_NAMES)
        for name in ("AP", "AP50", "AP75", "APs", "APm", "AR1", "AR10", "AR100", "ARs", "ARm"):
            assert stats[name] == pytest.approx(1.0), (iou_type, name)
        # No gt object is large (>= 96²): pycocotools reports -1 for that range.
        assert stats["APl"] == stats["ARl"] == -1.0


def test_shift_gives_iou_between_thresholds(squares, gt) -> None:
    # A square of side s moved k px sideways keeps IoU (s - k) / (s + k), for mask and box.
    shifts = {20: 4, 12: 2, 40: 8}
    ious = {side: (side - k) / (side + k) for side, k in shifts.items()}
    assert ious[20] == ious[40] == pytest.approx(2 / 3) and ious[12] == pytest.approx(5 / 7)
    # Class a (sides 20, 40: IoU 0.667) matches up to threshold 0.65, class b (side 12: IoU
    # 0.714) up to 0.70. Per-class AP is 1 or 0, so AP70 = mean(0, 1) = 0.5 and
    # AP = (4 × 1 + 0.5) / 10 = 0.45; AP50 = 1 and AP75 = 0.
    results = {}
    for image_id in squares.image_ids:
        masks, class_ids = squares.load_mask(image_id)
        moved = np.stack([np.roll(masks[..., i], shifts[side], axis=1)
                          for i, (_, _, side, _) in enumerate(SQUARES[image_id])], axis=-1)
        results[image_id] = as_result(moved, class_ids)
    detections = [d for i, r in results.items() for d in detections_to_coco(i, r)]
    for iou_type in ("segm", "bbox"):
        stats = evaluate_coco(gt, detections, iou_type, verbose=False, return_precision=True)
        assert stats["AP50"] == pytest.approx(1.0) and stats["AP75"] == 0.0, iou_type
        thresholds, aps = ap_vs_iou(stats)
        np.testing.assert_allclose(thresholds, np.linspace(0.5, 0.95, 10))
        np.testing.assert_allclose(aps, [1, 1, 1, 1, 0.5, 0, 0, 0, 0, 0], atol=1e-12)
        assert stats["AP"] == pytest.approx(0.45)
        assert 0.0 < stats["AP"] < 1.0
        assert ap_at_iou(stats, 0.9) == 0.0
        assert ap_at_iou(stats, 0.65) == pytest.approx(1.0)


def test_ap_at_iou_rejects_thresholds_off_the_grid(squares, gt) -> None:
    detections = detections_to_coco(0, shifted_result(squares, 0, 0))
    stats = evaluate_coco(gt, detections, verbose=False, return_precision=True)
    with pytest.raises(ValueError, match="not on the evaluated grid"):
        ap_at_iou(stats, 0.52)
    with pytest.raises(KeyError, match="return_precision=True"):
        ap_at_iou(evaluate_coco(gt, detections, verbose=False), 0.5)


def test_lower_scored_false_positive_does_not_lower_ap_but_higher_one_does(squares, gt) -> None:
    result = shifted_result(squares, 1, 0)
    wrong = np.zeros([SIZE, SIZE, 1], dtype=bool)
    wrong[50:60, 0:10] = True
    for fp_score, expected in ((0.5, 1.0), (2.0, 0.5)):
        masks = np.concatenate([result["masks"], wrong], axis=-1)
        both = as_result(masks, np.array([1, 1]), scores=[1.0, fp_score])
        stats = evaluate_coco(gt, detections_to_coco(1, both), image_ids=[1], verbose=False)
        # Precision is 1/2 at recall 1 when the false positive comes first.
        assert stats["AP"] == pytest.approx(expected), fp_score


def test_mask_evaluation_sizes_detections_by_mask_area(squares, gt) -> None:
    # A false positive with a small mask in a medium-sized box, scored above the true one.
    # Mask AP must size it by its mask (small), so it costs APs; box AP sizes it by its box.
    result = shifted_result(squares, 0, 0)
    stray = np.zeros([SIZE, SIZE, 1], dtype=bool)
    stray[50:54, 50:54] = True
    both = {"rois": np.concatenate([result["rois"], [[20, 20, 60, 60]]]),
            "class_ids": np.array([1, 2, 1]), "scores": np.array([0.5, 0.5, 1.0]),
            "masks": np.concatenate([result["masks"], stray], axis=-1)}
    detections = detections_to_coco(0, both)
    segm = evaluate_coco(gt, detections, "segm", image_ids=[0], verbose=False)
    bbox = evaluate_coco(gt, detections, "bbox", image_ids=[0], verbose=False)
    # Class a: the stray comes first, so precision is 1/2 at full recall; class b untouched.
    assert segm["APs"] == pytest.approx((0.5 + 1.0) / 2)
    assert bbox["APs"] == pytest.approx(1.0)


def test_empty_detections_give_zero_without_crashing(gt, capsys) -> None:
    for iou_type in ("segm", "bbox"):
        stats = evaluate_coco(gt, [], iou_type, verbose=False)
        assert stats["AP"] == stats["AP50"] == stats["AR100"] == 0.0
        assert all(stats[name] in (0.0, -1.0) for name in STAT_NAMES)
    assert capsys.readouterr().out == ""
    empty = {"rois": np.zeros([0, 4]), "class_ids": np.zeros([0]), "scores": np.zeros([0]),
             "masks": np.zeros([SIZE, SIZE, 0], dtype=bool)}
    assert detections_to_coco(0, empty) == []


def test_verbose_prints_the_summary_table(squares, gt, capsys) -> None:
    evaluate_coco(gt, detections_to_coco(0, shifted_result(squares, 0, 0)), verbose=True)
    out = capsys.readouterr().out
    assert "Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ]" in out


def test_bad_inputs_are_named(squares, gt) -> None:
    detections = detections_to_coco(0, shifted_result(squares, 0, 0))
    with pytest.raises(ValueError, match="iou_type"):
        evaluate_coco(gt, detections, "keypoints", verbose=False)
    with pytest.raises(ValueError, match=r"image ids \[7\]"):
        evaluate_coco(gt, [dict(detections[0], image_id=7)], verbose=False)
    small = as_result(np.ones([SIZE, SIZE // 2, 1], dtype=bool), np.array([1]))
    with pytest.raises(ValueError, match="mask of size"):
        evaluate_coco(gt, detections_to_coco(0, small), verbose=False)
    with pytest.raises(ValueError, match="inconsistent result"):
        detections_to_coco(0, dict(small, scores=np.ones(3)))


def test_detections_to_coco_converts_boxes_and_masks() -> None:
    masks = np.zeros([SIZE, SIZE, 1], dtype=bool)
    masks[5:15, 20:26] = True
    result = {"rois": np.array([[4, 19, 16, 27]]), "class_ids": np.array([3]),
              "scores": np.array([0.25], dtype=np.float32), "masks": masks}
    (entry,) = json.loads(json.dumps(detections_to_coco(9, result)))
    assert entry["image_id"] == 9 and entry["category_id"] == 3 and entry["score"] == 0.25
    assert entry["bbox"] == [19, 4, 8, 12]
    assert isinstance(entry["segmentation"]["counts"], str)
    np.testing.assert_array_equal(mask_utils.decode(entry["segmentation"]), masks[..., 0])


def test_shapes_round_trip_through_coco_json() -> None:
    dataset = ShapesDataset()
    dataset.load_shapes(8, 64, 64, seed=0)
    dataset.prepare()
    coco = load_coco(json.loads(json.dumps(dataset_to_coco(dataset))))
    assert [c["name"] for c in coco.loadCats(coco.getCatIds())] == ["square", "circle", "triangle"]
    assert coco.getImgIds() == list(range(8))
    for image_id in dataset.image_ids:
        masks, class_ids = dataset.load_mask(image_id)
        anns = coco.loadAnns(coco.getAnnIds(imgIds=[int(image_id)]))
        assert len(anns) == masks.shape[-1] > 0
        for i, ann in enumerate(anns):
            np.testing.assert_array_equal(coco.annToMask(ann).astype(bool), masks[..., i])
            assert ann["category_id"] == class_ids[i]
            assert ann["area"] == masks[..., i].sum()
            y1, x1, y2, x2 = extract_bboxes(masks[..., i:i + 1])[0]
            assert ann["bbox"] == [x1, y1, x2 - x1, y2 - y1]
            assert ann["iscrowd"] == 0 and ann["id"] > 0


class OracleModel:
    """Stands in for MaskRCNN: `detect` returns prepared results, keyed by image id."""

    def __init__(self, results: dict[int, dict]) -> None:
        self.results = results
        self.calls: list[int] = []

    def detect(self, images: list[np.ndarray]) -> list[dict]:
        self.calls.append(len(images))
        return [self.results[int(image[0, 0, 0])] for image in images]


def test_evaluate_model_coco_one_pass_and_reuse(squares, capsys) -> None:
    truth = {int(i): shifted_result(squares, i, 0) for i in squares.image_ids}
    model = OracleModel(truth)
    out = evaluate_model_coco(model, squares, batch_size=1, progress=True, verbose=False,
                              return_results=True)
    assert model.calls == [1, 1]
    assert "detected 2/2 images" in capsys.readouterr().out
    assert out["segm"]["AP"] == pytest.approx(1.0) and out["bbox"]["AP"] == pytest.approx(1.0)
    assert sorted(out["results"]) == [0, 1]
    again = evaluate_model_coco(None, squares, results=out["results"], image_ids=[1],
                                verbose=False)
    assert again["segm"]["AP"] == pytest.approx(1.0) and "results" not in again
    with pytest.raises(KeyError, match=r"lack image ids \[5\]"):
        evaluate_model_coco(None, squares, results=out["results"], image_ids=[5])
