"""Boundary IoU: the band definition, where it equals mask IoU, and where it is stricter.

On "Boundary IoU equals mask IoU for large smooth shapes": that holds only in the limit
where the band covers the whole object (band width d >= the object's inradius: small
objects at the COCO ratio, or a large `dilation_ratio`), and trivially for identical
masks. For a large disc (radius R >> d) with a contour error of δ px, mask IoU is about
1 - 2δ/R while Boundary IoU is about (w - δ) / (w + δ), w the mean band width, so the two
differ by design. The tests check those three facts.
"""

from __future__ import annotations

import numpy as np
import pytest

from mrcnn.evaluation import boundary_iou, mask_iou, mask_to_boundary
from mrcnn.evaluation.boundary import boundary_width

SIZE = 256
CENTER = SIZE // 2
YY, XX = np.mgrid[:SIZE, :SIZE]


def disc(radius: float, size: int = SIZE) -> np.ndarray:
    """[size, size] bool disc centred in the image."""
    yy, xx = np.mgrid[:size, :size]
    return (yy - size // 2) ** 2 + (xx - size // 2) ** 2 <= radius**2


def bumpy_disc(radius: float, amplitude: float, lobes: int) -> np.ndarray:
    """Disc whose radius wobbles by ±amplitude px, `lobes` times around the contour."""
    angle = np.arctan2(YY - CENTER, XX - CENTER)
    return np.hypot(YY - CENTER, XX - CENTER) <= radius + amplitude * np.sin(lobes * angle)


def test_band_width_is_two_percent_of_the_diagonal() -> None:
    assert boundary_width((SIZE, SIZE)) == 7  # round(0.02 * 362.0)
    assert boundary_width((10, 10)) == 1  # never below one pixel
    assert boundary_width((100, 300), dilation_ratio=0.1) == 32  # round(31.6)


def test_boundary_band_of_a_square() -> None:
    mask = np.zeros([SIZE, SIZE], dtype=bool)
    mask[50:150, 60:160] = True
    band = mask_to_boundary(mask)
    inner = np.zeros_like(mask)
    inner[57:143, 67:153] = True  # 7 px in from each side
    np.testing.assert_array_equal(band, mask & ~inner)


def test_mask_cut_by_the_image_border_has_a_boundary_there() -> None:
    mask = np.zeros([SIZE, SIZE], dtype=bool)
    mask[:, :100] = True
    band = mask_to_boundary(mask)
    assert band[:7, 50].all() and not band[7:SIZE - 7, 50].any()
    assert band[100, :7].all() and band[100, 93:100].all() and not band[100, 7:93].any()


def test_identical_masks_score_one_on_both() -> None:
    mask = disc(80)
    assert mask_iou(mask, mask) == boundary_iou(mask, mask) == 1.0


def test_equals_mask_iou_when_the_band_covers_the_object() -> None:
    # Small discs at the COCO ratio (d = 7 px >= radius): the band is the whole mask.
    for small, larger in ((3, 4), (5, 6)):
        gt, pred = disc(small), disc(larger)
        assert mask_to_boundary(pred).sum() == pred.sum()
        assert boundary_iou(gt, pred) == mask_iou(gt, pred) < 1.0
    # A large disc with a band wide enough to cover it (ratio 0.25 -> d = 90 px >= 84).
    gt, pred = disc(80), disc(84)
    assert boundary_iou(gt, pred, dilation_ratio=0.25) == mask_iou(gt, pred) < 0.95


def test_large_disc_follows_the_band_model() -> None:
    # Eroding with a 3x3 square d times leaves a band of width d(|cos| + |sin|) around a
    # disc, 4d/π on average; a disc grown by δ then has Boundary IoU ≈ (w - δ)/(w + δ).
    width = 4 * boundary_width((SIZE, SIZE)) / np.pi
    for radius, grown in ((80, 81), (80, 82), (60, 63)):
        delta = grown - radius
        gt, pred = disc(radius), disc(grown)
        assert boundary_iou(gt, pred) == pytest.approx((width - delta) / (width + delta),
                                                       abs=0.01)
        assert mask_iou(gt, pred) == pytest.approx((radius / grown) ** 2, abs=0.01)


def test_punishes_boundary_errors_more_than_mask_iou() -> None:
    gt = disc(80)
    pred = bumpy_disc(80, amplitude=3, lobes=12)
    area_iou, band_iou = mask_iou(gt, pred), boundary_iou(gt, pred)
    assert area_iou > 0.95  # mask IoU barely notices a ±3 px wobble on a radius-80 disc
    assert band_iou < 0.7
    assert band_iou < area_iou - 0.25


def test_empty_and_mismatched_masks() -> None:
    empty = np.zeros([8, 8], dtype=bool)
    assert mask_iou(empty, empty) == boundary_iou(empty, empty) == 0.0
    with pytest.raises(ValueError, match="sizes differ"):
        boundary_iou(empty, np.zeros([8, 9], dtype=bool))
    with pytest.raises(ValueError, match=r"gt must be a 2-D"):
        mask_iou(np.zeros([8, 8, 1]), empty)
    with pytest.raises(ValueError, match="dilation_ratio"):
        mask_to_boundary(empty, dilation_ratio=0)
