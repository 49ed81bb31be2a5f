"""Mask IoU and Boundary IoU (Cheng et al., "Boundary IoU", CVPR 2021).

Boundary IoU compares only the pixels near each mask's contour:
``|(G_d ∩ G) ∩ (P_d ∩ P)| / |(G_d ∩ G) ∪ (P_d ∩ P)|``, where ``X_d ∩ X`` is the band
of width d inside X's contour and d = ``dilation_ratio`` × image diagonal (0.02 in the
COCO setting). The band follows the paper's reference code: the mask minus its erosion
by d iterations of a 3×3 square, computed on a zero-padded mask so that a mask cut by
the image border also has a boundary there.

How it relates to mask IoU: when d reaches an object's inradius the band is the whole
mask and Boundary IoU equals mask IoU exactly (small objects at the COCO setting). On an
object much larger than d, a contour error of δ pixels costs mask IoU about 2δ/R (R the
object's radius) but Boundary IoU about 2δ/w (w ≈ d the band width), so Boundary IoU
punishes boundary errors on large objects more, which is the point of the metric.
"""

import cv2
import numpy as np

COCO_DILATION_RATIO = 0.02


def boundary_width(shape: tuple[int, ...], dilation_ratio: float = COCO_DILATION_RATIO) -> int:
    """Band width d in pixels for an image of ``shape`` (H, W, ...).

    d = round(ratio × diagonal), at least 1.
    """
    if dilation_ratio <= 0:
        raise ValueError(f"boundary_width: dilation_ratio must be > 0, got {dilation_ratio}")
    height, width = shape[:2]
    return max(1, int(round(dilation_ratio * np.sqrt(height**2 + width**2))))


def mask_to_boundary(mask: np.ndarray, dilation_ratio: float = COCO_DILATION_RATIO) -> np.ndarray:
    """Inner boundary band [H, W] bool of a mask [H, W] (non-zero = inside).

    The band is ``mask - erode(mask, d)`` with d = ``boundary_width(mask.shape, ratio)``
    iterations of a 3×3 erosion on the mask padded by one zero pixel.
    """
    mask = _as_mask(mask, "mask_to_boundary", "mask")
    height, width = mask.shape
    dilation = boundary_width(mask.shape, dilation_ratio)
    padded = cv2.copyMakeBorder(mask.astype(np.uint8), 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
    eroded = cv2.erode(padded, np.ones((3, 3), dtype=np.uint8), iterations=dilation)
    return mask & ~eroded[1:height + 1, 1:width + 1].astype(bool)


def mask_iou(gt: np.ndarray, pred: np.ndarray) -> float:
    """IoU of two masks [H, W] (non-zero = inside); 0.0 when both are empty.

    The empty case follows ``compute_overlaps_masks``: an empty union gives 0, not nan.
    """
    gt = _as_mask(gt, "mask_iou", "gt")
    pred = _as_mask(pred, "mask_iou", "pred")
    _check_same_shape(gt, pred, "mask_iou")
    return _iou(gt, pred)


def boundary_iou(
    gt: np.ndarray, pred: np.ndarray, dilation_ratio: float = COCO_DILATION_RATIO
) -> float:
    """Boundary IoU of two masks [H, W]; 0.0 when both are empty (as ``mask_iou``)."""
    gt = _as_mask(gt, "boundary_iou", "gt")
    pred = _as_mask(pred, "boundary_iou", "pred")
    _check_same_shape(gt, pred, "boundary_iou")
    return _iou(mask_to_boundary(gt, dilation_ratio), mask_to_boundary(pred, dilation_ratio))


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two bool arrays of equal shape, 0.0 for an empty union."""
    union = np.count_nonzero(a | b)
    return np.count_nonzero(a & b) / union if union else 0.0


def _as_mask(mask: np.ndarray, function: str, name: str) -> np.ndarray:
    """``mask`` as a 2-D bool array, or ValueError naming the function and argument."""
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"{function}: {name} must be a 2-D [H, W] mask, got shape {mask.shape}")
    return mask > 0.5 if mask.dtype.kind == "f" else mask.astype(bool)


def _check_same_shape(gt: np.ndarray, pred: np.ndarray, function: str) -> None:
    if gt.shape != pred.shape:
        raise ValueError(f"{function}: gt and pred sizes differ, {gt.shape} vs {pred.shape}")
