"""Box ops (IoU, delta coding, clipping, normalisation) against numpy twins."""

import numpy as np
import pytest
import tensorflow as tf

from mrcnn.ops.boxes import (
    box_iou,
    clip_boxes,
    decode_boxes,
    denorm_boxes,
    encode_boxes,
    norm_boxes,
    object_and_crowd_iou,
)
from tests.twins import np_iou_matrix


# ----------------------------------------------------------------------------- helpers
def random_boxes(rng: np.random.Generator, shape, lo=0.0, hi=100.0, min_size=1.0) -> np.ndarray:
    """Valid boxes ``[*shape, 4]`` with sides of at least ``min_size``."""
    y = np.sort(rng.uniform(lo, hi, size=(*shape, 2)), axis=-1)
    x = np.sort(rng.uniform(lo, hi, size=(*shape, 2)), axis=-1)
    y[..., 1] = np.maximum(y[..., 1], y[..., 0] + min_size)
    x[..., 1] = np.maximum(x[..., 1], x[..., 0] + min_size)
    return np.stack([y[..., 0], x[..., 0], y[..., 1], x[..., 1]], -1).astype(np.float32)


# ----------------------------------------------------------------------------- IoU
def test_iou_matches_numpy_on_random_boxes():
    rng = np.random.default_rng(0)
    a, b = random_boxes(rng, (7,)), random_boxes(rng, (5,))
    # Make some pairs overlap heavily, one identical.
    b[0] = a[0]
    b[1] = a[1] + 2.0
    got = box_iou(tf.constant(a), tf.constant(b)).numpy()
    assert got.shape == (7, 5)
    np.testing.assert_allclose(got, np_iou_matrix(a, b), atol=1e-5)
    assert got[0, 0] == pytest.approx(1.0)


def test_iou_batch_dims():
    rng = np.random.default_rng(1)
    a, b = random_boxes(rng, (2, 3, 6)), random_boxes(rng, (2, 3, 4))
    got = box_iou(tf.constant(a), tf.constant(b)).numpy()
    assert got.shape == (2, 3, 6, 4)
    for i in range(2):
        for j in range(3):
            np.testing.assert_allclose(got[i, j], np_iou_matrix(a[i, j], b[i, j]), atol=1e-5)


def test_iou_hand_values_and_degenerate_box():
    a = tf.constant([[0.0, 0.0, 10.0, 10.0]])
    b = tf.constant([[0.0, 5.0, 10.0, 15.0],   # half overlap: 50 / 150
                     [20.0, 20.0, 30.0, 30.0],  # disjoint
                     [5.0, 5.0, 5.0, 8.0],      # zero height, inside a
                     [0.0, 0.0, 0.0, 0.0],      # all-zero padding box
                     [2.0, 2.0, 4.0, 4.0]])     # contained: 4 / 100
    got = box_iou(a, b).numpy()[0]
    np.testing.assert_allclose(got, [1 / 3, 0.0, 0.0, 0.0, 0.04], atol=1e-6)
    # Degenerate vs degenerate is 0, not NaN.
    z = tf.zeros([1, 4])
    assert box_iou(z, z).numpy()[0, 0] == 0.0


def test_iou_symmetric_and_bounded():
    rng = np.random.default_rng(2)
    a, b = random_boxes(rng, (20,), hi=30.0), random_boxes(rng, (15,), hi=30.0)
    ab = box_iou(tf.constant(a), tf.constant(b)).numpy()
    ba = box_iou(tf.constant(b), tf.constant(a)).numpy()
    np.testing.assert_allclose(ab, ba.T, atol=1e-6)
    assert np.all(ab >= 0.0) and np.all(ab <= 1.0 + 1e-6)
    assert (ab > 0).any() and (ab == 0).any()  # the sample exercises both cases


# ----------------------------------------------------------------------------- delta coding
def test_encode_hand_case():
    box = tf.constant([[0.0, 0.0, 10.0, 20.0]])   # centre (5, 10), h 10, w 20
    gt = tf.constant([[2.0, 4.0, 22.0, 24.0]])    # centre (12, 14), h 20, w 20
    got = encode_boxes(box, gt).numpy()[0]
    np.testing.assert_allclose(got, [0.7, 0.2, np.log(2.0), 0.0], atol=1e-6)
    np.testing.assert_allclose(decode_boxes(box, tf.constant([got])).numpy()[0],
                               [2.0, 4.0, 22.0, 24.0], atol=1e-5)


def test_decode_hand_case():
    box = tf.constant([10.0, 10.0, 20.0, 30.0])  # centre (15, 20), h 10, w 20
    deltas = tf.constant([0.5, -0.25, np.log(0.5), np.log(1.5)], tf.float32)
    # centre (20, 15), h 5, w 30
    np.testing.assert_allclose(decode_boxes(box, deltas).numpy(), [17.5, 0.0, 22.5, 30.0],
                               atol=1e-5)


def test_encode_decode_round_trip():
    rng = np.random.default_rng(3)
    # Sides >= 5 keep size ratios under the decode clamp (1000 / 16).
    boxes, gts = random_boxes(rng, (4, 50), min_size=5.0), random_boxes(rng, (4, 50), min_size=5.0)
    deltas = encode_boxes(tf.constant(boxes), tf.constant(gts))
    assert deltas.shape == (4, 50, 4)
    back = decode_boxes(tf.constant(boxes), deltas).numpy()
    np.testing.assert_allclose(back, gts, rtol=1e-4, atol=1e-3)
    # Encoding a box onto itself is the zero delta.
    np.testing.assert_allclose(encode_boxes(tf.constant(boxes), tf.constant(boxes)).numpy(), 0.0,
                               atol=1e-5)


def test_decode_clamps_huge_scale():
    box = tf.constant([0.0, 0.0, 1.0, 1.0])
    out = decode_boxes(box, tf.constant([0.0, 0.0, 100.0, 100.0])).numpy()
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out[2] - out[0], 1000 / 16, rtol=1e-4)


# ----------------------------------------------------------------------------- clipping
def test_clip_boxes():
    boxes = tf.constant([[-5.0, 2.0, 50.0, 8.0],
                         [1.0, -3.0, 4.0, 120.0],
                         [200.0, 200.0, 300.0, 300.0]])
    window = tf.constant([0.0, 0.0, 40.0, 100.0])
    got = clip_boxes(boxes, window).numpy()
    np.testing.assert_allclose(got, [[0, 2, 40, 8], [1, 0, 4, 100], [40, 100, 40, 100]])


def test_clip_boxes_per_image_window():
    rng = np.random.default_rng(4)
    boxes = rng.uniform(-0.5, 1.5, size=(2, 6, 4)).astype(np.float32)
    windows = np.array([[0.1, 0.2, 0.8, 0.9], [0.0, 0.0, 0.5, 1.0]], np.float32)
    got = clip_boxes(tf.constant(boxes), tf.constant(windows[:, None, :])).numpy()
    lo = windows[:, None, [0, 1, 0, 1]]
    hi = windows[:, None, [2, 3, 2, 3]]
    np.testing.assert_allclose(got, np.clip(boxes, lo, hi))


# ----------------------------------------------------------------------------- normalisation
def test_norm_boxes_hand_values():
    got = norm_boxes(tf.constant([[0, 0, 128, 128]]), tf.constant([128, 128])).numpy()
    np.testing.assert_allclose(got, [[0, 0, 1, 1]], atol=1e-7)
    # Non-square image: pixel (y, x) -> y / (h - 1), x / (w - 1); exclusive ends minus one.
    got = norm_boxes(tf.constant([[10.0, 20.0, 31.0, 61.0]]), tf.constant([21, 41])).numpy()
    np.testing.assert_allclose(got, [[0.5, 0.5, 1.5, 1.5]], atol=1e-6)


def test_norm_denorm_round_trip():
    rng = np.random.default_rng(5)
    boxes = random_boxes(rng, (3, 10), hi=60.0)
    shape = tf.constant([64, 48])
    normed = norm_boxes(tf.constant(boxes), shape)
    twin = (boxes - [0, 0, 1, 1]) / (np.array([64, 48, 64, 48]) - 1.0)
    np.testing.assert_allclose(normed.numpy(), twin, atol=1e-6)
    np.testing.assert_allclose(denorm_boxes(normed, shape).numpy(), boxes, atol=1e-4)


def test_object_and_crowd_iou_split_the_ground_truth_columns():
    rng = np.random.default_rng(11)
    y, x = np.sort(rng.uniform(size=(2, 2, 30, 2)), -1)
    boxes = np.stack([y[..., 0], x[..., 0], y[..., 1], x[..., 1]], -1).astype(np.float32)
    gt = boxes[:, :5] + np.float32(0.01)
    class_ids = np.array([[2, -1, 0, 1, -3], [0, 0, 1, 0, 0]], np.int32)  # image 1: no crowd
    iou, crowd_iou = object_and_crowd_iou(tf.constant(boxes), tf.constant(gt),
                                          tf.constant(class_ids))
    for b in range(2):
        want = np_iou_matrix(boxes[b], gt[b])
        np.testing.assert_allclose(iou.numpy()[b][:, class_ids[b] > 0],
                                   want[:, class_ids[b] > 0], atol=1e-6)
        assert (iou.numpy()[b][:, class_ids[b] <= 0] == -1.0).all()
        crowd = class_ids[b] < 0
        want_crowd = want[:, crowd].max(1) if crowd.any() else np.zeros(len(boxes[b]))
        np.testing.assert_allclose(crowd_iou.numpy()[b], want_crowd, atol=1e-6)
    assert crowd_iou.numpy()[0].max() > 0
