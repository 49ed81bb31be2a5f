"""Mask quality records: matching, IoUs, size split, and the one-pass path from COCO eval."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mrcnn.data import Dataset, extract_bboxes
from mrcnn.evaluation import (
    boundary_iou,
    evaluate_mask_quality,
    evaluate_model_coco,
    mask_quality_from_results,
    mask_quality_records,
    summarize_mask_quality,
)
from mrcnn.evaluation.mask_quality import MaskQualityRecord, size_label

SIZE = 128


def square(y: int, x: int, side: int) -> np.ndarray:
    mask = np.zeros([SIZE, SIZE], dtype=bool)
    mask[y:y + side, x:x + side] = True
    return mask


def result_of(masks: list[np.ndarray], class_ids: list[int], scores: list[float]) -> dict:
    stacked = np.stack(masks, axis=-1)
    return {"rois": extract_bboxes(stacked), "class_ids": np.array(class_ids),
            "scores": np.array(scores, dtype=np.float32), "masks": stacked}


# gt: a small square (class 1), a medium square (class 2), a large square (class 1).
GT_MASKS = np.stack([square(2, 2, 20), square(2, 40, 50), square(18, 2, 110)], axis=-1)
GT_MASKS[..., 2] &= ~(GT_MASKS[..., 0] | GT_MASKS[..., 1])
GT_CLASS_IDS = np.array([1, 2, 1])


def test_records_of_matched_objects() -> None:
    pred = result_of(
        [square(2, 4, 20),  # small one shifted 2 px: IoU 18/22
         square(2, 40, 50),  # medium one exact, but class 1: no match
         GT_MASKS[..., 2],  # large one exact
         square(70, 70, 5)],  # nothing there
        [1, 1, 1, 1], [0.9, 0.8, 0.7, 0.95])
    records = mask_quality_records(4, GT_MASKS, GT_CLASS_IDS, pred)
    assert [(r.gt_index, r.class_id, r.size) for r in records] == [
        (0, 1, "small"), (2, 1, "large")]
    small, large = records
    assert small.mask_iou == pytest.approx(18 / 22) and small.score == pytest.approx(0.9)
    assert small.boundary_iou == pytest.approx(boundary_iou(GT_MASKS[..., 0], square(2, 4, 20)))
    assert small.boundary_iou < small.mask_iou
    assert large.mask_iou == large.boundary_iou == 1.0 and large.image_id == 4
    assert large.gt_area == GT_MASKS[..., 2].sum()


def test_below_half_iou_is_not_a_match() -> None:
    pred = result_of([square(2, 9, 20)], [1], [1.0])  # IoU 13/27 < 0.5
    assert mask_quality_records(0, GT_MASKS, GT_CLASS_IDS, pred) == []


def test_summary_splits_by_coco_size() -> None:
    def record(area: int, m: float, b: float) -> MaskQualityRecord:
        return MaskQualityRecord(0, 0, 1, area, 1.0, m, b)

    records = [record(31 * 31, 0.8, 0.6), record(32 * 32, 0.9, 0.7), record(95 * 95, 0.7, 0.5),
               record(96 * 96, 1.0, 0.9)]
    assert [r.size for r in records] == ["small", "medium", "medium", "large"]
    summary = summarize_mask_quality(records)
    assert summary["count"] == 4
    assert summary["mask_iou"] == pytest.approx(0.85)
    assert summary["boundary_iou"] == pytest.approx(0.675)
    assert summary["medium"] == {"count": 2, "mask_iou": pytest.approx(0.8),
                                 "boundary_iou": pytest.approx(0.6)}
    assert summary["small"]["count"] == summary["large"]["count"] == 1
    empty = summarize_mask_quality([])
    assert empty["count"] == 0 and math.isnan(empty["mask_iou"])
    assert size_label(0) == "small"


class OneImage(Dataset):
    def __init__(self) -> None:
        super().__init__()
        self.add_class("t", 1, "one")
        self.add_class("t", 2, "two")
        self.add_image("t", 0, None, height=SIZE, width=SIZE)
        self.prepare()

    def load_image(self, image_id: int) -> np.ndarray:
        return np.zeros([SIZE, SIZE, 3], dtype=np.uint8)

    def load_mask(self, image_id: int) -> tuple[np.ndarray, np.ndarray]:
        return GT_MASKS, GT_CLASS_IDS


class FixedModel:
    def __init__(self, result: dict) -> None:
        self.result = result

    def detect(self, images: list[np.ndarray]) -> list[dict]:
        return [self.result for _ in images]


def test_one_detect_pass_feeds_coco_and_mask_quality() -> None:
    dataset = OneImage()
    pred = result_of([square(2, 4, 20), GT_MASKS[..., 1], GT_MASKS[..., 2]], [1, 2, 1],
                     [0.9, 0.8, 0.7])
    model = FixedModel(pred)
    out = evaluate_model_coco(model, dataset, progress=False, verbose=False,
                              return_results=True)
    from_results = summarize_mask_quality(mask_quality_from_results(dataset, out["results"]))
    direct = evaluate_mask_quality(model, dataset, progress=False, return_records=True)
    assert from_results["count"] == direct["count"] == 3
    assert from_results["mask_iou"] == pytest.approx(direct["mask_iou"])
    assert from_results["mask_iou"] == pytest.approx((18 / 22 + 2) / 3)
    assert [r["gt_index"] for r in direct["records"]] == [0, 1, 2]
    assert out["segm"]["AP50"] == pytest.approx(1.0)
