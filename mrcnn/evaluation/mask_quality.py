"""Mask quality of detected objects: mask IoU and Boundary IoU of true positives.

Each ground-truth object that a prediction of its class matches (greedy, by score, mask
IoU >= 0.5, ``compute_matches``) gives one record with both IoUs and the object's area.
Missed objects give no record, so these means measure how good the masks of found objects
are; pair them with AP/AR for how many are found. Sizes follow COCO: small < 32² pixels,
medium < 96², large otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from mrcnn.data.boxes_from_masks import extract_bboxes
from mrcnn.evaluation.ap import compute_matches
from mrcnn.evaluation.boundary import COCO_DILATION_RATIO, boundary_iou
from mrcnn.evaluation.detect import detect_batches

SMALL_AREA = 32**2
MEDIUM_AREA = 96**2
SIZES = ("small", "medium", "large")


@dataclass(frozen=True)
class MaskQualityRecord:
    """One true positive: its gt object (image, index in load_mask, class, area in pixels)
    and the matched prediction's score, mask IoU and Boundary IoU."""

    image_id: int
    gt_index: int
    class_id: int
    gt_area: int
    score: float
    mask_iou: float
    boundary_iou: float

    @property
    def size(self) -> str:
        """COCO size label of the gt object: "small", "medium" or "large"."""
        return size_label(self.gt_area)


def size_label(area: float) -> str:
    """"small" below 32², "medium" below 96², else "large"."""
    return "small" if area < SMALL_AREA else "medium" if area < MEDIUM_AREA else "large"


def mask_quality_records(
    image_id: int,
    gt_masks: np.ndarray,
    gt_class_ids: np.ndarray,
    result: Mapping[str, np.ndarray],
    iou_threshold: float = 0.5,
    dilation_ratio: float = COCO_DILATION_RATIO,
) -> list[MaskQualityRecord]:
    """Records of the true positives in one image.

    Args:
        image_id: the image's id, stored in its records.
        gt_masks: ``[H, W, N_gt]`` ground-truth masks (as ``load_mask``; empty masks are
            left out).
        gt_class_ids: ``[N_gt]`` class ids; crowd regions (class id <= 0) are left out.
        result: a ``detect`` result with rois ``[N, 4]``, class_ids ``[N]``, scores
            ``[N]``, masks ``[H, W, N]``.
        iou_threshold: mask IoU a prediction needs to match a ground-truth object.
        dilation_ratio: Boundary IoU band width as a fraction of the image diagonal.
    """
    gt_masks = np.asarray(gt_masks)
    gt_class_ids = np.asarray(gt_class_ids).reshape(-1)
    if gt_masks.ndim != 3 or gt_masks.shape[-1] != len(gt_class_ids):
        raise ValueError(f"mask_quality_records: image {image_id}: gt masks {gt_masks.shape} "
                         f"and {len(gt_class_ids)} class ids; expected [H, W, N] and [N]")
    gt_index = np.flatnonzero((gt_class_ids > 0) & gt_masks.any(axis=(0, 1)))
    gt_masks = gt_masks[..., gt_index].astype(bool)
    gt_class_ids = gt_class_ids[gt_index]

    rois = np.asarray(result["rois"]).reshape(-1, 4)
    scores = np.asarray(result["scores"], dtype=np.float64).reshape(-1)
    pred_masks = np.asarray(result["masks"])
    if pred_masks.ndim != 3 or pred_masks.shape[-1] != len(rois) or len(scores) != len(rois):
        raise ValueError(f"mask_quality_records: image {image_id}: rois {rois.shape}, scores "
                         f"{scores.shape} and masks {pred_masks.shape} disagree")
    keep = ~np.all(rois == 0, axis=1)
    order = np.flatnonzero(keep)[np.argsort(-scores[keep], kind="stable")]
    pred_masks = pred_masks[..., order]
    pred_class_ids = np.asarray(result["class_ids"]).reshape(-1)[order]

    gt_match, _, overlaps = compute_matches(
        extract_bboxes(gt_masks), gt_class_ids, gt_masks, rois[order], pred_class_ids,
        scores[order], pred_masks, iou_threshold=iou_threshold)
    records = []
    for j, match in enumerate(gt_match):
        if match < 0:
            continue
        i = int(match)
        records.append(MaskQualityRecord(
            image_id=int(image_id), gt_index=int(gt_index[j]), class_id=int(gt_class_ids[j]),
            gt_area=int(gt_masks[..., j].sum()), score=float(scores[order[i]]),
            mask_iou=float(overlaps[i, j]),
            boundary_iou=boundary_iou(gt_masks[..., j], pred_masks[..., i], dilation_ratio)))
    return records


def mask_quality_from_results(
    dataset: Any,
    results: Mapping[int, Mapping[str, np.ndarray]],
    image_ids: Iterable[int] | None = None,
    iou_threshold: float = 0.5,
    dilation_ratio: float = COCO_DILATION_RATIO,
) -> list[MaskQualityRecord]:
    """Records for precomputed {image_id: detect result} (e.g. ``evaluate_model_coco(...,
    return_results=True)["results"]``), ground truth from ``dataset.load_mask``."""
    image_ids = list(results) if image_ids is None else [int(i) for i in image_ids]
    missing = [i for i in image_ids if i not in results]
    if missing:
        raise KeyError(f"mask_quality_from_results: results lack image ids {missing[:10]}")
    records = []
    for image_id in image_ids:
        gt_masks, gt_class_ids = dataset.load_mask(image_id)
        records.extend(mask_quality_records(image_id, gt_masks, gt_class_ids, results[image_id],
                                            iou_threshold, dilation_ratio))
    return records


def evaluate_mask_quality(
    model: Any,
    dataset: Any,
    image_ids: Iterable[int] | None = None,
    batch_size: int = 8,
    progress: bool = True,
    iou_threshold: float = 0.5,
    dilation_ratio: float = COCO_DILATION_RATIO,
    return_records: bool = False,
) -> dict[str, Any]:
    """Detect on ``image_ids`` (default all) and summarize mask quality of true positives.

    Masks are dropped batch by batch. Returns ``summarize_mask_quality(records)``, plus
    "records" (list of dicts) when ``return_records``.
    """
    records: list[MaskQualityRecord] = []
    for chunk, chunk_results in detect_batches(model, dataset, image_ids, batch_size, progress):
        for image_id, result in zip(chunk, chunk_results):
            gt_masks, gt_class_ids = dataset.load_mask(image_id)
            records.extend(mask_quality_records(image_id, gt_masks, gt_class_ids, result,
                                                iou_threshold, dilation_ratio))
    summary = summarize_mask_quality(records)
    if return_records:
        summary["records"] = [asdict(r) for r in records]
    return summary


def summarize_mask_quality(records: Iterable[MaskQualityRecord]) -> dict[str, Any]:
    """Mean mask IoU and Boundary IoU over all records and per COCO size.

    Returns {"count", "mask_iou", "boundary_iou", "small": {...}, "medium": {...},
    "large": {...}}, each size with the same three keys; a mean over no records is nan.
    """
    records = list(records)
    summary: dict[str, Any] = _means(records)
    for size in SIZES:
        summary[size] = _means([r for r in records if r.size == size])
    return summary


def _means(records: list[MaskQualityRecord]) -> dict[str, Any]:
    if not records:
        return {"count": 0, "mask_iou": float("nan"), "boundary_iou": float("nan")}
    return {"count": len(records),
            "mask_iou": float(np.mean([r.mask_iou for r in records])),
            "boundary_iou": float(np.mean([r.boundary_iou for r in records]))}
