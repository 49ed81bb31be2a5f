"""Evaluation metrics: box/mask IoU, prediction matching, AP and recall."""

from mrcnn.evaluation.ap import (
    compute_ap,
    compute_ap_range,
    compute_matches,
    compute_overlaps,
    compute_overlaps_masks,
    compute_recall,
    trim_zeros,
)

__all__ = [
    "compute_ap",
    "compute_ap_range",
    "compute_matches",
    "compute_overlaps",
    "compute_overlaps_masks",
    "compute_recall",
    "trim_zeros",
]
