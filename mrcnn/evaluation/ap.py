"""Per-image detection metrics: IoU, greedy matching, VOC-style AP and recall.

Numerically compatible with the classic Keras Mask R-CNN ``utils.compute_*``
functions. Boxes are (y1, x1, y2, x2) with y2/x2 exclusive, so a box's area is
(y2 - y1) * (x2 - x1). All-zero box rows are treated as padding and removed.

Differences from the classic code, all in cases it left undefined:
  * an IoU whose union is empty is 0 instead of nan;
  * ties (equal scores, equal IoUs) are broken by input order (stable sort);
  * recalls stay float64 (the classic code rounded them to float32), so AP
    agrees with it to about 1e-7;
  * AP with no ground truth is 1.0 when there are no predictions either and
    0.0 otherwise; AP with ground truth but no predictions is 0.0.
"""

import numpy as np

COCO_IOU_THRESHOLDS = np.arange(0.5, 1.0, 0.05)


def compute_overlaps(boxes1: np.ndarray, boxes2: np.ndarray) -> np.ndarray:
    """Box IoU matrix [N, M] between boxes1 [N, 4] and boxes2 [M, 4]."""
    intersection, area1, area2 = _box_intersections(boxes1, boxes2)
    union = area1[:, None] + area2[None, :] - intersection
    return _safe_divide(intersection, union)


def compute_overlaps_masks(masks1: np.ndarray, masks2: np.ndarray) -> np.ndarray:
    """Mask IoU matrix [N, M] between masks1 [H, W, N] and masks2 [H, W, M].

    Pixels > 0.5 count as inside. Returns zeros [N, M] when either set is empty.
    """
    count1, count2 = masks1.shape[-1], masks2.shape[-1]
    if count1 == 0 or count2 == 0:
        return np.zeros([count1, count2])
    if masks1.shape[:-1] != masks2.shape[:-1]:
        raise ValueError(
            f"compute_overlaps_masks: mask sizes differ, {masks1.shape[:-1]} vs {masks2.shape[:-1]}"
        )
    intersection, area1, area2 = _mask_intersections(masks1, masks2)
    union = area1[:, None] + area2[None, :] - intersection
    return _safe_divide(intersection, union)


def _box_intersections(boxes1, boxes2) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Intersection areas [N, M] of boxes1 [N, 4] and boxes2 [M, 4], and their areas."""
    boxes1 = np.asarray(boxes1, dtype=np.float64).reshape(-1, 4)
    boxes2 = np.asarray(boxes2, dtype=np.float64).reshape(-1, 4)
    area1 = (boxes1[:, 2] - boxes1[:, 0]) * (boxes1[:, 3] - boxes1[:, 1])
    area2 = (boxes2[:, 2] - boxes2[:, 0]) * (boxes2[:, 3] - boxes2[:, 1])
    y1 = np.maximum(boxes1[:, None, 0], boxes2[None, :, 0])
    x1 = np.maximum(boxes1[:, None, 1], boxes2[None, :, 1])
    y2 = np.minimum(boxes1[:, None, 2], boxes2[None, :, 2])
    x2 = np.minimum(boxes1[:, None, 3], boxes2[None, :, 3])
    return np.maximum(y2 - y1, 0) * np.maximum(x2 - x1, 0), area1, area2


def _mask_intersections(masks1, masks2) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Intersections [N, M] (pixels > 0.5) of masks1 [H, W, N] and masks2 [H, W, M], and
    their areas."""
    flat1 = (masks1 > 0.5).reshape(-1, masks1.shape[-1]).astype(np.float64)
    flat2 = (masks2 > 0.5).reshape(-1, masks2.shape[-1]).astype(np.float64)
    return flat1.T @ flat2, flat1.sum(axis=0), flat2.sum(axis=0)


def trim_zeros(x: np.ndarray) -> np.ndarray:
    """Drop all-zero rows of a 2-D array [N, C] (padding) -> [N', C]."""
    if x.ndim != 2:
        raise ValueError(f"trim_zeros expects a 2-D array, got shape {x.shape}")
    return x[~np.all(x == 0, axis=1)]


def compute_matches(
    gt_boxes: np.ndarray,
    gt_class_ids: np.ndarray,
    gt_masks: np.ndarray | None,
    pred_boxes: np.ndarray,
    pred_class_ids: np.ndarray,
    pred_scores: np.ndarray,
    pred_masks: np.ndarray | None,
    iou_threshold: float = 0.5,
    score_threshold: float = 0.0,
    use_masks: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Greedily match predictions to ground truth of the same class.

    Predictions are taken in descending score order; each claims the
    unmatched gt of its class with the highest IoU, provided that IoU is
    >= iou_threshold. As in the classic library, ``score_threshold`` is a floor
    on the IoU of candidate pairs (not on prediction scores); with the default
    of 0.0 it has no effect. IoU is mask IoU when ``use_masks``, else box IoU
    (masks may then be None). All-zero box rows are dropped as padding, along with their
    class ids, scores and masks.

    Crowd regions (negative class ids, COCO's ``iscrowd``) are never matched: a
    prediction left unmatched whose intersection with a crowd region of its class covers
    at least ``iou_threshold`` of the prediction's own area is ignored (COCO's rule), and
    the crowd regions are not objects to find.

    Args:
        gt_boxes: ``[N_gt, 4]`` ground-truth boxes.
        gt_class_ids: ``[N_gt]`` ground-truth class ids.
        gt_masks: ``[H, W, N_gt]`` ground-truth masks.
        pred_boxes: ``[N_pred, 4]`` predicted boxes.
        pred_class_ids: ``[N_pred]`` predicted class ids.
        pred_scores: ``[N_pred]`` prediction scores.
        pred_masks: ``[H, W, N_pred]`` predicted masks.
        iou_threshold: minimum IoU of a match.
        score_threshold: minimum IoU of a candidate pair (see above).
        use_masks: match by mask IoU, else by box IoU.

    Returns:
        gt_match [N_gt] float: index of the matched prediction in score order, -1, or -2
            for a crowd region.
        pred_match [N_pred] float, in score order: index of the matched gt, -1, or -2 for
            a prediction ignored on a crowd region.
        overlaps [N_pred, N_gt]: IoU, rows in score order.
    """
    gt_keep = _non_padding(gt_boxes)
    pred_keep = _non_padding(pred_boxes)
    gt_boxes = np.asarray(gt_boxes)[gt_keep]
    gt_class_ids = np.asarray(gt_class_ids)[gt_keep]
    pred_boxes = np.asarray(pred_boxes)[pred_keep]
    pred_class_ids = np.asarray(pred_class_ids)[pred_keep]
    pred_scores = np.asarray(pred_scores)[pred_keep]

    order = np.argsort(-pred_scores, kind="stable")
    pred_boxes = pred_boxes[order]
    pred_class_ids = pred_class_ids[order]

    if use_masks:
        if gt_masks is None or pred_masks is None:
            raise ValueError("compute_matches: use_masks=True needs gt_masks and pred_masks")
        gt_masks = np.asarray(gt_masks)[..., gt_keep]
        pred_masks = np.asarray(pred_masks)[..., pred_keep][..., order]
        overlaps = compute_overlaps_masks(pred_masks, gt_masks)
    else:
        overlaps = compute_overlaps(pred_boxes, gt_boxes)

    crowd = gt_class_ids < 0
    gt_match = np.where(crowd, -2.0, -1.0)
    pred_match = -np.ones([len(pred_boxes)])
    candidates_iou = np.where(crowd[None, :], -1.0, overlaps)
    for i in range(len(pred_boxes)):
        candidates = np.argsort(-candidates_iou[i], kind="stable")
        for j in candidates:
            iou = candidates_iou[i, j]
            if iou < iou_threshold or iou < score_threshold:
                break
            if gt_match[j] > -1:
                continue
            if pred_class_ids[i] == gt_class_ids[j]:
                gt_match[j] = i
                pred_match[i] = j
                break
    if crowd.any() and len(pred_boxes):
        # COCO's rule: the share of the prediction's own area that the crowd covers.
        if use_masks:
            covered, area, _ = _mask_intersections(pred_masks, gt_masks[..., crowd])
        else:
            covered, area, _ = _box_intersections(pred_boxes, gt_boxes[crowd])
        same_class = pred_class_ids[:, None] == -gt_class_ids[crowd][None, :]
        on_crowd = ((_safe_divide(covered, area[:, None]) >= iou_threshold)
                    & same_class).any(axis=1)
        pred_match[(pred_match == -1) & on_crowd] = -2
    return gt_match, pred_match, overlaps


def compute_ap(
    gt_boxes: np.ndarray,
    gt_class_ids: np.ndarray,
    gt_masks: np.ndarray | None,
    pred_boxes: np.ndarray,
    pred_class_ids: np.ndarray,
    pred_scores: np.ndarray,
    pred_masks: np.ndarray | None,
    iou_threshold: float = 0.5,
    use_masks: bool = True,
) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
    """VOC-style all-point interpolated average precision for one image.

    Precision/recall are accumulated over predictions in score order, padded
    to precisions [0, ..., 0] and recalls [0, ..., 1], precision is made
    monotonically decreasing from the right, and AP sums precision times the
    recall increment at each step where recall changes.

    Crowd regions (negative gt class ids) are ignore regions, as in COCO: they are
    not objects to find, and predictions on them (see ``compute_matches``) count neither
    as true nor as false positives.

    Edge cases: no gt and no predictions -> AP 1.0 (nothing to find, nothing
    wrong); no gt but predictions -> 0.0 (recall taken as 0, so all are false
    positives); gt but no predictions -> 0.0.

    Returns:
        (AP, precisions [N_pred + 2], recalls [N_pred + 2], overlaps [N_pred, N_gt]).
    """
    gt_match, pred_match, overlaps = compute_matches(
        gt_boxes,
        gt_class_ids,
        gt_masks,
        pred_boxes,
        pred_class_ids,
        pred_scores,
        pred_masks,
        iou_threshold,
        use_masks=use_masks,
    )
    # Crowd regions and the predictions on them (-2) take no part.
    gt_match = gt_match[gt_match != -2]
    pred_match = pred_match[pred_match != -2]
    if len(gt_match) == 0 and len(pred_match) == 0:
        return 1.0, np.array([1.0, 1.0]), np.array([0.0, 1.0]), overlaps

    true_positives = np.cumsum(pred_match > -1)
    precisions = true_positives / (np.arange(len(pred_match)) + 1)
    if len(gt_match) > 0:
        recalls = true_positives / len(gt_match)
    else:
        recalls = np.zeros(len(pred_match))

    precisions = np.concatenate([[0.0], precisions, [0.0]])
    recalls = np.concatenate([[0.0], recalls, [1.0]])
    precisions = np.maximum.accumulate(precisions[::-1])[::-1]

    steps = np.flatnonzero(recalls[:-1] != recalls[1:]) + 1
    ap = float(np.sum((recalls[steps] - recalls[steps - 1]) * precisions[steps]))
    return ap, precisions, recalls, overlaps


def compute_ap_range(
    gt_boxes: np.ndarray,
    gt_class_ids: np.ndarray,
    gt_masks: np.ndarray | None,
    pred_boxes: np.ndarray,
    pred_class_ids: np.ndarray,
    pred_scores: np.ndarray,
    pred_masks: np.ndarray | None,
    iou_thresholds: np.ndarray | None = None,
    verbose: bool = False,
    use_masks: bool = True,
) -> float:
    """Mean of ``compute_ap`` over IoU thresholds (default 0.5:0.95 step 0.05, COCO-style)."""
    if iou_thresholds is None:
        iou_thresholds = COCO_IOU_THRESHOLDS
    aps = []
    for threshold in iou_thresholds:
        ap, _, _, _ = compute_ap(
            gt_boxes,
            gt_class_ids,
            gt_masks,
            pred_boxes,
            pred_class_ids,
            pred_scores,
            pred_masks,
            iou_threshold=threshold,
            use_masks=use_masks,
        )
        if verbose:
            print(f"AP @{threshold:.2f}:\t {ap:.3f}")
        aps.append(ap)
    mean_ap = float(np.mean(aps))
    if verbose:
        print(f"AP @{iou_thresholds[0]:.2f}-{iou_thresholds[-1]:.2f}:\t {mean_ap:.3f}")
    return mean_ap


def compute_recall(
    pred_boxes: np.ndarray, gt_boxes: np.ndarray, iou: float
) -> tuple[float, np.ndarray]:
    """Fraction of gt boxes hit by some prediction with box IoU >= ``iou``.

    Each prediction counts for its best-overlapping gt only. Returns
    (recall, positive_ids) where positive_ids [K] are indices of predictions
    whose best IoU reaches ``iou``. With no gt, recall is 1.0 (nothing missed).
    """
    pred_boxes = np.asarray(pred_boxes).reshape(-1, 4)
    gt_boxes = np.asarray(gt_boxes).reshape(-1, 4)
    if len(gt_boxes) == 0:
        return 1.0, np.empty([0], dtype=np.int64)
    if len(pred_boxes) == 0:
        return 0.0, np.empty([0], dtype=np.int64)
    overlaps = compute_overlaps(pred_boxes, gt_boxes)
    best_iou = overlaps.max(axis=1)
    best_gt = overlaps.argmax(axis=1)
    positive_ids = np.flatnonzero(best_iou >= iou)
    recall = len(set(best_gt[positive_ids].tolist())) / len(gt_boxes)
    return recall, positive_ids


def _non_padding(boxes: np.ndarray) -> np.ndarray:
    """Boolean [N] marking rows of boxes [N, 4] that are not all zero."""
    boxes = np.asarray(boxes).reshape(-1, 4)
    return ~np.all(boxes == 0, axis=1)


def _safe_divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator with 0 where the denominator is 0."""
    result = np.zeros(np.broadcast(numerator, denominator).shape)
    np.divide(numerator, denominator, out=result, where=denominator > 0)
    return result
