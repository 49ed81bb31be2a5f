"""Evaluation metrics: box/mask IoU, prediction matching, AP and recall, COCO evaluation
(pycocotools), Boundary IoU and mask quality of true positives."""

from mrcnn.evaluation.ap import (
    compute_ap,
    compute_ap_range,
    compute_matches,
    compute_overlaps,
    compute_overlaps_masks,
    compute_recall,
    trim_zeros,
)
from mrcnn.evaluation.boundary import boundary_iou, mask_iou, mask_to_boundary
from mrcnn.evaluation.coco import (
    ap_at_iou,
    ap_vs_iou,
    dataset_to_coco,
    detections_to_coco,
    evaluate_coco,
    evaluate_model_coco,
    run_cocoeval,
)
from mrcnn.evaluation.detect import detect_dataset, timed_detect
from mrcnn.evaluation.mask_quality import (
    MaskQualityRecord,
    evaluate_mask_quality,
    mask_quality_from_results,
    mask_quality_records,
    summarize_mask_quality,
)

__all__ = [
    "MaskQualityRecord",
    "ap_at_iou",
    "ap_vs_iou",
    "boundary_iou",
    "compute_ap",
    "compute_ap_range",
    "compute_matches",
    "compute_overlaps",
    "compute_overlaps_masks",
    "compute_recall",
    "dataset_to_coco",
    "detect_dataset",
    "detections_to_coco",
    "evaluate_coco",
    "evaluate_mask_quality",
    "evaluate_model_coco",
    "mask_iou",
    "mask_quality_from_results",
    "mask_quality_records",
    "mask_to_boundary",
    "run_cocoeval",
    "summarize_mask_quality",
    "timed_detect",
    "trim_zeros",
]
