"""Boundary AP against a numpy reference written from Cheng et al. (CVPR 2021): a match
counts at IoU threshold t when min(mask IoU, Boundary IoU) >= t; the boundary of a mask
is its pixels within d = 2% of the image diagonal of its contour."""

from __future__ import annotations

import numpy as np
import pytest

from mrcnn.data.coco_format import encode_mask
from mrcnn.evaluation.coco import COCO_IOU_GRID, evaluate_coco

H, W = 120, 160


def reference_band(mask: np.ndarray) -> np.ndarray:
    """Pixels of ``mask`` whose 3x3-step (chessboard) distance to the outside of the mask
    (the image border counts as outside) is at most d, d = round(0.02 * diagonal)."""
    d = max(1, int(round(0.02 * np.hypot(*mask.shape))))
    inside = np.pad(mask, 1)
    for _ in range(d):  # erosion by a 3x3 square, d times
        shifted = [np.roll(np.roll(inside, dy, 0), dx, 1)
                   for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
        inside = np.logical_and.reduce(shifted) & np.pad(np.ones_like(mask), 1)
    return mask & ~inside[1:-1, 1:-1]


def iou(a, b) -> float:
    return np.count_nonzero(a & b) / np.count_nonzero(a | b)


def rectangle(y1, x1, y2, x2) -> np.ndarray:
    mask = np.zeros((H, W), bool)
    mask[y1:y2, x1:x2] = True
    return mask


def coco(gts, dets):
    gt = {"images": [{"id": 1, "width": W, "height": H}],
          "categories": [{"id": 1, "name": "thing"}],
          "annotations": [{"id": k + 1, "image_id": 1, "category_id": 1, "iscrowd": 0,
                           "segmentation": encode_mask(m), "area": int(m.sum()),
                           "bbox": [0, 0, 1, 1]} for k, m in enumerate(gts)]}
    results = [{"image_id": 1, "category_id": 1, "score": s, "segmentation": encode_mask(m)}
               for m, s in dets]
    return gt, results


@pytest.mark.parametrize("shift", [1, 3, 6])
def test_boundary_ap_of_one_match_follows_the_definition(shift):
    gt = rectangle(20, 30, 100, 130)
    det = rectangle(20 + shift, 30 + shift, 100 + shift, 130 + shift)
    matched = min(iou(gt, det), iou(reference_band(gt), reference_band(det)))
    expected = float(np.mean(COCO_IOU_GRID <= matched + 1e-12))
    got = evaluate_coco(*coco([gt], [(det, 0.9)]), iou_type="boundary", verbose=False)
    assert got["AP"] == pytest.approx(expected, abs=1e-6)
    mask_ap = evaluate_coco(*coco([gt], [(det, 0.9)]), iou_type="segm", verbose=False)["AP"]
    assert mask_ap == pytest.approx(float(np.mean(COCO_IOU_GRID <= iou(gt, det) + 1e-12)))
    assert got["AP"] < mask_ap  # the outline is off by more than the area is


def test_boundary_ap_ranks_a_close_outline_above_a_rough_one_of_equal_area():
    """Two objects; one prediction has a jagged edge (same mask IoU as a shifted one):
    Boundary AP tells them apart where mask AP does not."""
    gt_a, gt_b = rectangle(10, 10, 60, 70), rectangle(60, 90, 110, 150)
    rough = gt_a.copy()
    rough[10:60:2, 66:70] = False  # teeth along the right edge
    rough[10:60:2, 70:74] = True
    smooth = np.roll(gt_b, 2, axis=1)
    results = coco([gt_a, gt_b], [(rough, 0.9), (smooth, 0.8)])
    got = evaluate_coco(*results, iou_type="boundary", verbose=False, return_precision=True)
    matched = [min(iou(g, p), iou(reference_band(g), reference_band(p)))
               for g, p in ((gt_a, rough), (gt_b, smooth))]
    # AP at each threshold with two objects: recall 1/2 per match above it, in score order.
    for t, precision in zip(COCO_IOU_GRID, got["precision"][:, :, 0, 0, 2]):
        hits = [m >= t - 1e-12 for m in matched]
        recall_points = np.linspace(0, 1, 101)
        if hits == [True, True]:
            expected = 1.0
        elif hits == [True, False]:
            expected = np.mean(recall_points <= 0.5 + 1e-12)
        elif hits == [False, True]:
            expected = np.mean(recall_points <= 0.5 + 1e-12) * 0.5
        else:
            expected = 0.0
        assert np.mean(np.maximum(precision, 0)) == pytest.approx(expected, abs=1e-6), t


def test_the_score_floor_changes_ap():
    """COCO's floor of 0.05 against a deployment threshold of 0.3: two objects, detections
    TP 0.9, FP 0.5, TP 0.2. 101-point interpolation: (51 x 1 + 50 x 2/3) / 101 = 0.835
    with the floor; 51 / 101 = 0.505 when the 0.2 detection is cut."""
    gt_a, gt_b = rectangle(10, 10, 50, 50), rectangle(60, 90, 110, 150)
    detections = [(gt_a, 0.9), (rectangle(0, 100, 30, 140), 0.5), (gt_b, 0.2)]
    gt, results = coco([gt_a, gt_b], detections)
    floor = evaluate_coco(gt, results, verbose=False)["AP"]
    cut = evaluate_coco(gt, [r for r in results if r["score"] >= 0.3], verbose=False)["AP"]
    assert floor == pytest.approx((51 + 50 * 2 / 3) / 101, abs=1e-4)
    assert cut == pytest.approx(51 / 101, abs=1e-4)
