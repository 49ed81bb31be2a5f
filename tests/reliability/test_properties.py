"""Property-based tests (hypothesis) of the box and mask arithmetic: delta coding round
trip, IoU bounds and symmetry, clipping, normalisation, and resize -> unmold mapping a
box back onto the same pixels for random image sizes and boxes."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from mrcnn.ops.boxes import (
    box_iou,
    clip_boxes,
    decode_boxes,
    denorm_boxes,
    encode_boxes,
    norm_boxes,
)
from mrcnn.ops.image_meta import parse_image_meta
from mrcnn.preprocessing import mold_inputs, unmold_detections
from tests.helpers import tiny_config
from tests.twins import np_iou_matrix

# Modest budgets: every example runs a few eager TF ops.
FAST = settings(max_examples=60, deadline=None, derandomize=True, database=None)

coord = st.floats(-200, 200, allow_nan=False, width=32)
size = st.floats(0.5, 150, allow_nan=False, width=32)


@st.composite
def boxes(draw, n=None):
    n = draw(st.integers(1, 6)) if n is None else n
    rows = [(y, x, y + h, x + w) for y, x, h, w in
            (draw(st.tuples(coord, coord, size, size)) for _ in range(n))]
    return np.array(rows, np.float32)


@FAST
@given(boxes(n=4), boxes(n=4))
def test_encode_decode_round_trip(anchors, targets):
    ratio_h = (targets[:, 2] - targets[:, 0]) / (anchors[:, 2] - anchors[:, 0])
    ratio_w = (targets[:, 3] - targets[:, 1]) / (anchors[:, 3] - anchors[:, 1])
    assume(np.all(np.maximum(ratio_h, ratio_w) < 60))  # decode caps growth at 1000/16
    decoded = decode_boxes(anchors, encode_boxes(anchors, targets)).numpy()
    scale = np.maximum(np.abs(targets).max(), 1.0)
    np.testing.assert_allclose(decoded, targets, atol=2e-5 * scale * 60)


@FAST
@given(boxes(), boxes())
def test_iou_bounds_symmetry_and_twin(a, b):
    ab, ba = box_iou(a, b).numpy(), box_iou(b, a).numpy()
    assert ab.shape == (len(a), len(b))
    assert np.all(ab >= 0) and np.all(ab <= 1 + 1e-6)
    np.testing.assert_allclose(ab, ba.T, atol=1e-6)
    np.testing.assert_allclose(ab, np_iou_matrix(a, b), atol=1e-4)
    np.testing.assert_allclose(np.diag(box_iou(a, a).numpy()), 1.0, atol=1e-5)


@FAST
@given(boxes(n=3))
def test_iou_of_a_degenerate_box_is_zero(a):
    flat = a.copy()
    flat[:, 2] = flat[:, 0]  # zero height
    assert np.all(box_iou(flat, a).numpy() == 0)


@FAST
@given(boxes(), st.tuples(coord, coord, size, size))
def test_clip_stays_inside_is_idempotent_and_keeps_inner_boxes(b, window):
    y, x, h, w = window
    window = np.array([y, x, y + h, x + w], np.float32)
    clipped = clip_boxes(b, window).numpy()
    assert np.all(clipped[:, [0, 2]] >= window[0]) and np.all(clipped[:, [0, 2]] <= window[2])
    assert np.all(clipped[:, [1, 3]] >= window[1]) and np.all(clipped[:, [1, 3]] <= window[3])
    np.testing.assert_array_equal(clip_boxes(clipped, window).numpy(), clipped)
    inside = ((b[:, 0] >= window[0]) & (b[:, 1] >= window[1]) & (b[:, 2] <= window[2])
              & (b[:, 3] <= window[3]))
    np.testing.assert_array_equal(clipped[inside], b[inside])


@FAST
@given(boxes(), st.integers(2, 2000), st.integers(2, 2000))
def test_norm_denorm_inverse(b, height, width):
    back = denorm_boxes(norm_boxes(b, [height, width]), [height, width]).numpy()
    np.testing.assert_allclose(back, b, atol=1e-4 * max(height, width, np.abs(b).max()))


_configs = {"square": tiny_config(),
            "pad64": tiny_config(IMAGE_RESIZE_MODE="pad64", IMAGE_MIN_DIM=0)}


@st.composite
def image_and_box(draw):
    height, width = draw(st.integers(1, 300)), draw(st.integers(1, 300))
    y1, x1 = draw(st.integers(0, height - 1)), draw(st.integers(0, width - 1))
    y2, x2 = draw(st.integers(y1 + 1, height)), draw(st.integers(x1 + 1, width))
    return (height, width), (y1, x1, y2, x2)


@pytest.mark.parametrize("mode", ["square", "pad64"])
@settings(max_examples=40, deadline=None, derandomize=True, database=None)
@given(case=image_and_box())
def test_resize_then_unmold_maps_a_box_back_onto_its_pixels(mode, case):
    """A box carried into the molded frame the way resize_image moves the pixels, then
    through unmold_detections, lands on the same pixels, with a mask covering exactly it."""
    shape, box = case
    config = _configs[mode]
    _, metas, windows = mold_inputs([np.zeros(shape + (3,), np.uint8)], config)
    molded_shape = tuple(int(v) for v in parse_image_meta(metas[0])["image_shape"])
    wy1, wx1, wy2, wx2 = windows[0]
    fy, fx = (wy2 - wy1) / shape[0], (wx2 - wx1) / shape[1]  # what the resize did per axis
    molded = np.array(box, np.float64) * [fy, fx, fy, fx] + [wy1, wx1, wy1, wx1]
    assert np.all(molded[[0, 2]] >= wy1 - 1e-6) and np.all(molded[[0, 2]] <= wy2 + 1e-6)
    normalized = norm_boxes(tf.constant(molded[None], tf.float32), molded_shape[:2]).numpy()[0]
    detections = np.zeros((2, 6), np.float32)
    detections[0] = (*normalized, 1, 0.9)
    masks = np.zeros((2, 28, 28), np.float32)
    masks[0] = 1.0
    r = unmold_detections(detections, masks, shape + (3,), molded_shape, windows[0])
    assert r["rois"].tolist() == [list(box)]
    expected = np.zeros(shape, bool)
    expected[box[0]:box[2], box[1]:box[3]] = True
    np.testing.assert_array_equal(r["masks"][..., 0], expected)
