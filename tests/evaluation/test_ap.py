"""Hand-worked tests for IoU, matching, AP and recall."""

import numpy as np
import pytest

from mrcnn.evaluation import (
    compute_ap,
    compute_ap_range,
    compute_matches,
    compute_overlaps,
    compute_overlaps_masks,
    compute_recall,
    trim_zeros,
)

SIZE = 40


def box_masks(boxes: list[list[int]]) -> np.ndarray:
    """[SIZE, SIZE, N] masks filling each (y1, x1, y2, x2) box, y2/x2 exclusive."""
    masks = np.zeros([SIZE, SIZE, len(boxes)], dtype=bool)
    for i, (y1, x1, y2, x2) in enumerate(boxes):
        masks[y1:y2, x1:x2, i] = True
    return masks


def ap_for(gt_boxes, gt_classes, pred_boxes, pred_classes, scores, iou_threshold=0.5):
    """compute_ap with masks drawn from the boxes."""
    return compute_ap(
        np.array(gt_boxes).reshape(-1, 4),
        np.array(gt_classes, dtype=np.int32),
        box_masks(gt_boxes),
        np.array(pred_boxes).reshape(-1, 4),
        np.array(pred_classes, dtype=np.int32),
        np.array(scores, dtype=np.float32),
        box_masks(pred_boxes),
        iou_threshold=iou_threshold,
    )


GT = [[0, 0, 10, 10], [20, 20, 30, 30], [0, 20, 10, 30]]
MISS = [30, 0, 40, 10]


def test_compute_overlaps_hand_values() -> None:
    boxes1 = np.array([[0, 0, 10, 10], [5, 5, 15, 15]])
    boxes2 = np.array([[0, 0, 10, 10], [5, 5, 15, 15], [10, 0, 20, 10], [0, 0, 5, 20]])
    expected = [
        [1.0, 25 / 175, 0.0, 50 / 150],
        [25 / 175, 1.0, 25 / 175, 0.0],
    ]
    np.testing.assert_allclose(compute_overlaps(boxes1, boxes2), expected)
    assert compute_overlaps(boxes1, np.zeros([0, 4])).shape == (2, 0)


def test_compute_overlaps_masks_hand_values() -> None:
    masks1 = box_masks([[0, 0, 10, 10]])
    masks2 = box_masks([[0, 0, 10, 10], [0, 5, 10, 15], [20, 20, 25, 25]])
    np.testing.assert_allclose(compute_overlaps_masks(masks1, masks2), [[1.0, 50 / 150, 0.0]])
    empty = np.zeros([SIZE, SIZE, 0], dtype=bool)
    np.testing.assert_array_equal(compute_overlaps_masks(masks2, empty), np.zeros([3, 0]))
    np.testing.assert_array_equal(compute_overlaps_masks(empty, masks2), np.zeros([0, 3]))


def test_trim_zeros() -> None:
    x = np.array([[1, 2, 3, 4], [0, 0, 0, 0], [0, 0, 1, 0]])
    np.testing.assert_array_equal(trim_zeros(x), [[1, 2, 3, 4], [0, 0, 1, 0]])


def test_perfect_prediction() -> None:
    ap, precisions, recalls, _ = ap_for(GT[:2], [1, 2], GT[:2], [1, 2], [0.9, 0.8])
    assert ap == 1.0
    np.testing.assert_allclose(precisions, [1, 1, 1, 0])
    np.testing.assert_allclose(recalls, [0, 0.5, 1, 1])


def test_one_miss_among_two() -> None:
    ap, _, _, _ = ap_for(GT[:2], [1, 2], GT[:1], [1], [0.9])
    assert ap == pytest.approx(0.5)


def test_lower_scored_duplicate_keeps_ap() -> None:
    ap, precisions, _, _ = ap_for(GT[:1], [1], [GT[0], GT[0]], [1, 1], [0.9, 0.8])
    assert ap == pytest.approx(1.0)
    np.testing.assert_allclose(precisions, [1, 1, 0.5, 0])


def test_false_positive_ranked_first_halves_ap() -> None:
    ap, _, _, _ = ap_for(GT[:1], [1], [MISS, GT[0]], [1, 1], [0.9, 0.8])
    assert ap == pytest.approx(0.5)


def test_interleaved_hits_and_misses() -> None:
    preds = [GT[0], MISS, GT[1], MISS, GT[2]]
    ap, precisions, recalls, _ = ap_for(GT, [1, 1, 1], preds, [1] * 5, [0.9, 0.8, 0.7, 0.6, 0.5])
    # Precision 1, 1/2, 2/3, 2/4, 3/5 at recall 1/3, 1/3, 2/3, 2/3, 1.
    assert ap == pytest.approx((1 + 2 / 3 + 3 / 5) / 3)
    np.testing.assert_allclose(precisions, [1, 1, 2 / 3, 2 / 3, 0.6, 0.6, 0])
    np.testing.assert_allclose(recalls, [0, 1 / 3, 1 / 3, 2 / 3, 2 / 3, 1, 1])


def test_wrong_class_scores_zero() -> None:
    ap, _, _, _ = ap_for(GT[:1], [1], GT[:1], [2], [0.9])
    assert ap == 0.0


def _flat_masks(intersection: int, pred_area: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """gt covers flat pixels [0, 100); pred covers `pred_area` pixels, `intersection` of them
    inside the gt."""
    gt = np.zeros(SIZE * SIZE, dtype=bool)
    gt[:100] = True
    pred = np.zeros(SIZE * SIZE, dtype=bool)
    pred[100 - intersection : 100 - intersection + pred_area] = True
    return gt.reshape(SIZE, SIZE, 1), pred.reshape(SIZE, SIZE, 1)


@pytest.mark.parametrize(
    "intersection, pred_area, expected_iou, expected_ap",
    [(66, 100, 66 / 134, 0.0), (68, 100, 68 / 132, 1.0), (50, 50, 0.5, 1.0)],
)
def test_mask_iou_around_threshold(intersection, pred_area, expected_iou, expected_ap) -> None:
    gt_masks, pred_masks = _flat_masks(intersection, pred_area)
    boxes = np.array([[0, 0, SIZE, SIZE]])
    ap, _, _, overlaps = compute_ap(
        boxes, np.array([1]), gt_masks, boxes, np.array([1]), np.array([0.9]), pred_masks
    )
    assert overlaps[0, 0] == pytest.approx(expected_iou)
    assert ap == expected_ap


def test_matches_are_greedy_in_score_order() -> None:
    gt_boxes = np.array([[0, 0, 10, 10], [0, 2, 10, 12]])
    pred_boxes = np.array([[0, 0, 10, 11], [0, 2, 10, 12]])
    gt_match, pred_match, overlaps = compute_matches(
        gt_boxes, np.array([1, 1]), None,
        pred_boxes, np.array([1, 1]), np.array([0.5, 0.9]), None,
        use_masks=False,
    )
    # Sorted by score: input pred 1 first (takes gt 1, IoU 1), then input pred 0 takes gt 0.
    np.testing.assert_array_equal(pred_match, [1, 0])
    np.testing.assert_array_equal(gt_match, [1, 0])
    np.testing.assert_allclose(overlaps, [[80 / 120, 1.0], [100 / 110, 90 / 120]])


def test_match_skips_best_gt_of_other_class() -> None:
    gt_boxes = np.array([[0, 0, 10, 10], [0, 2, 10, 12]])
    gt_match, pred_match, _ = compute_matches(
        gt_boxes, np.array([1, 2]), None,
        np.array([[0, 0, 10, 10]]), np.array([2]), np.array([0.9]), None,
        use_masks=False,
    )
    np.testing.assert_array_equal(pred_match, [1])
    np.testing.assert_array_equal(gt_match, [-1, 0])


def test_padding_rows_are_ignored() -> None:
    gt_boxes = np.array([GT[0], [0, 0, 0, 0]])
    gt_masks = box_masks([GT[0], [0, 0, 0, 0]])
    pred_boxes = np.array([GT[0], [0, 0, 0, 0]])
    ap, _, _, overlaps = compute_ap(
        gt_boxes, np.array([1, 0]), gt_masks,
        pred_boxes, np.array([1, 0]), np.array([0.9, 0.0]), gt_masks,
    )
    assert ap == 1.0
    assert overlaps.shape == (1, 1)


def test_empty_cases() -> None:
    no_boxes = np.zeros([0, 4])
    no_ids = np.zeros([0], dtype=np.int32)
    no_masks = np.zeros([SIZE, SIZE, 0], dtype=bool)
    one_box = np.array([GT[0]])
    one_mask = box_masks([GT[0]])
    ap_nothing, _, _, _ = compute_ap(
        no_boxes, no_ids, no_masks, no_boxes, no_ids, np.zeros([0]), no_masks
    )
    ap_no_gt, _, _, _ = compute_ap(
        no_boxes, no_ids, no_masks, one_box, np.array([1]), np.array([0.9]), one_mask
    )
    ap_no_pred, _, _, _ = compute_ap(
        one_box, np.array([1]), one_mask, no_boxes, no_ids, np.zeros([0]), no_masks
    )
    assert (ap_nothing, ap_no_gt, ap_no_pred) == (1.0, 0.0, 0.0)


def test_compute_ap_range() -> None:
    gt = np.array(GT[:2])
    perfect = compute_ap_range(
        gt, np.array([1, 2]), box_masks(GT[:2]), gt, np.array([1, 2]), np.array([0.9, 0.8]),
        box_masks(GT[:2]),
    )
    assert perfect == 1.0
    # Pred covers 72 of gt's 100 pixels: IoU 0.72 passes thresholds 0.50..0.70 (5 of 10).
    partial = compute_ap_range(
        np.array([GT[0]]), np.array([1]), box_masks([GT[0]]),
        np.array([[0, 0, 8, 9]]), np.array([1]), np.array([0.9]), box_masks([[0, 0, 8, 9]]),
    )
    assert partial == pytest.approx(0.5)
    custom = compute_ap_range(
        np.array([GT[0]]), np.array([1]), box_masks([GT[0]]),
        np.array([[0, 0, 8, 9]]), np.array([1]), np.array([0.9]), box_masks([[0, 0, 8, 9]]),
        iou_thresholds=[0.5, 0.8],
    )
    assert custom == pytest.approx(0.5)


def test_compute_recall() -> None:
    gt_boxes = np.array([[0, 0, 10, 10], [20, 20, 30, 30]])
    pred_boxes = np.array([[0, 0, 10, 10], [0, 0, 10, 15], [50, 50, 60, 60]])
    recall, positive_ids = compute_recall(pred_boxes, gt_boxes, 0.5)
    assert recall == 0.5
    np.testing.assert_array_equal(positive_ids, [0, 1])
    recall, positive_ids = compute_recall(pred_boxes, gt_boxes, 0.7)
    assert recall == 0.5
    np.testing.assert_array_equal(positive_ids, [0])
    recall, positive_ids = compute_recall(pred_boxes[:1], gt_boxes[1:], 0.5)
    assert recall == 0.0 and positive_ids.size == 0
    recall, _ = compute_recall(np.array([[0, 0, 10, 10], [20, 20, 30, 30]]), gt_boxes, 0.5)
    assert recall == 1.0
