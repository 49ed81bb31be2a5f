"""DetectionLayer (per-class NMS, thresholds, clipping) and SelectClassMasks vs numpy twins."""

import numpy as np
import pytest
import tensorflow as tf

from mrcnn.layers import DetectionBoxes, DetectionLayer, SelectClassMasks, ValidDetectionRows
from mrcnn.ops.image_meta import compose_image_meta
from mrcnn.ops.nms import IMPLS
from tests.twins import np_decode, np_iou

STD = np.array([0.1, 0.1, 0.2, 0.2], np.float32)
SIZE = 64
NUM_CLASSES = 4


@pytest.fixture(params=IMPLS)
def nms_impl(request):
    """The detection tests run with each NMS implementation (:mod:`mrcnn.ops.nms`)."""
    global NMS_IMPL
    NMS_IMPL = request.param
    yield request.param
    NMS_IMPL = "native"


NMS_IMPL = "native"


# ----------------------------------------------------------------------------- numpy twins
def np_detect(rois, probs, deltas, window, max_instances, min_conf, nms_iou) -> np.ndarray:
    """One image: every (RoI, foreground class) is a candidate; per-class greedy NMS."""
    lo, hi = window[[0, 1, 0, 1]], window[[2, 3, 2, 3]]
    area = (rois[:, 2] - rois[:, 0]) * (rois[:, 3] - rois[:, 1])
    found = []
    for c in range(1, probs.shape[1]):
        cands = [(probs[r, c], np.clip(np_decode(rois[r], deltas[r, c] * STD), lo, hi))
                 for r in range(len(rois))
                 if probs[r, c] >= min_conf and area[r] > 0]
        kept = []
        for score, box in sorted(cands, key=lambda t: -t[0]):
            if all(np_iou(box, k[1]) <= nms_iou for k in kept):
                kept.append((score, box))
        found += [[*box, c, score] for score, box in kept]
    found.sort(key=lambda row: -row[5])
    out = np.zeros((max_instances, 6))
    if found:
        found = np.array(found[:max_instances])
        out[:len(found)] = found
    return out


def meta(window, image_shape=(SIZE, SIZE, 3)) -> np.ndarray:
    return compose_image_meta(0, image_shape, image_shape, window, 1.0, [1] * NUM_CLASSES)


def norm_window(window) -> np.ndarray:
    return (np.asarray(window, np.float64) - [0, 0, 1, 1]) / (SIZE - 1.0)


def detect(rois, probs, deltas=None, metas=None, max_instances=5, min_conf=0.5, nms_iou=0.3):
    rois = np.asarray(rois, np.float32)
    probs = np.asarray(probs, np.float32)
    if deltas is None:
        deltas = np.zeros(probs.shape + (4,), np.float32)
    if metas is None:
        metas = np.stack([meta([0, 0, SIZE, SIZE])] * len(rois))
    layer = DetectionLayer(max_instances, min_conf, nms_iou, STD.tolist(), nms_impl=NMS_IMPL)
    return layer(tf.constant(rois), tf.constant(probs), tf.constant(deltas, tf.float32),
                 tf.constant(metas)).numpy()


def onehot_probs(classes, scores) -> np.ndarray:
    """Probabilities with ``score`` on ``class`` and the rest on background."""
    probs = np.zeros((len(classes), NUM_CLASSES), np.float32)
    for r, (c, s) in enumerate(zip(classes, scores)):
        probs[r, c] = s
        probs[r, 0] += 1 - s
    return probs


# ----------------------------------------------------------------------------- tests
def test_score_threshold(nms_impl):
    rois = [[[0.1, 0.1, 0.3, 0.3], [0.5, 0.5, 0.7, 0.7], [0.1, 0.6, 0.3, 0.9]]]
    probs = onehot_probs([1, 2, 3], [0.49, 0.9, 0.5])[None]
    out = detect(rois, probs, min_conf=0.5)
    assert out.shape == (1, 5, 6)
    np.testing.assert_allclose(out[0, 0], [0.5, 0.5, 0.7, 0.7, 2, 0.9], atol=1e-6)
    np.testing.assert_allclose(out[0, 1], [0.1, 0.6, 0.3, 0.9, 3, 0.5], atol=1e-6)  # == threshold
    np.testing.assert_array_equal(out[0, 2:], 0.0)


def test_per_class_nms(nms_impl):
    box = [0.2, 0.2, 0.6, 0.6]
    near = [0.21, 0.2, 0.61, 0.6]
    # Same box, different classes: both kept.
    out = detect([[box, near]], onehot_probs([1, 2], [0.9, 0.8])[None])
    np.testing.assert_allclose(out[0, :2, 4], [1, 2])
    np.testing.assert_allclose(out[0, :2, 5], [0.9, 0.8], atol=1e-6)
    np.testing.assert_array_equal(out[0, 2:], 0.0)
    # Same class: only the better one.
    out = detect([[box, near]], onehot_probs([1, 1], [0.7, 0.8])[None])
    np.testing.assert_allclose(out[0, 0], [*near, 1, 0.8], atol=1e-6)
    np.testing.assert_array_equal(out[0, 1:], 0.0)


def test_one_roi_can_yield_several_classes(nms_impl):
    probs = np.array([[[0.1, 0.0, 0.55, 0.35]]], np.float32)
    out = detect([[[0.2, 0.2, 0.6, 0.6]]], probs, min_conf=0.3)
    np.testing.assert_allclose(out[0, :2, 4:], [[2, 0.55], [3, 0.35]], atol=1e-6)


def test_max_instances_and_sorting(nms_impl):
    rng = np.random.default_rng(0)
    corners = rng.uniform(0, 0.8, size=(12, 2))
    rois = np.concatenate([corners, corners + 0.02], 1)[None]  # small boxes, little overlap
    scores = rng.uniform(0.6, 1.0, size=12)
    out = detect(rois, onehot_probs(rng.integers(1, NUM_CLASSES, 12), scores)[None],
                 max_instances=4)
    np.testing.assert_allclose(out[0, :, 5], np.sort(scores)[::-1][:4], atol=1e-6)


def test_deltas_per_class_and_window_clipping(nms_impl):
    window = [8, 4, 56, 60]  # molded-pixel window of the real image
    roi = [0.3, 0.3, 0.5, 0.5]
    deltas = np.zeros((1, 1, NUM_CLASSES, 4), np.float32)
    deltas[0, 0, 2] = [1.0, -1.0, 0.0, 0.0]          # class 2 shifts by (+0.02, -0.02)
    deltas[0, 0, 1] = [-20.0, 0.0, 0.0, 0.0]         # class 1 leaves through the top
    probs = np.array([[[0.0, 0.45, 0.55, 0.0]]], np.float32)
    metas = meta(window)[None]
    out = detect([[roi]], probs, deltas, metas, min_conf=0.4)
    np.testing.assert_allclose(out[0, 0], [0.32, 0.28, 0.52, 0.48, 2, 0.55], atol=1e-5)
    win = norm_window(window)
    np.testing.assert_allclose(out[0, 1, :4], [win[0], 0.3, win[0], 0.5], atol=1e-5)
    np.testing.assert_allclose(out[0, 1, 4:], [1, 0.45], atol=1e-6)


def test_padding_rois_never_detected(nms_impl):
    probs = onehot_probs([1, 2], [0.9, 0.9])[None]
    out = detect([[[0.0, 0.0, 0.0, 0.0], [0.1, 0.1, 0.2, 0.2]]], probs)
    np.testing.assert_allclose(out[0, 0, 4], 2)
    np.testing.assert_array_equal(out[0, 1:], 0.0)


def test_random_batch_matches_numpy_twin(nms_impl):
    rng = np.random.default_rng(1)
    b, r = 2, 30
    corners = rng.uniform(0, 0.8, size=(b, r, 2))
    sizes = rng.uniform(0.05, 0.3, size=(b, r, 2))
    rois = np.concatenate([corners, corners + sizes], -1).astype(np.float32)
    rois[1, -3:] = 0.0  # padding RoIs
    logits = rng.normal(scale=2.0, size=(b, r, NUM_CLASSES))
    probs = (np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)).astype(np.float32)
    deltas = rng.normal(scale=1.0, size=(b, r, NUM_CLASSES, 4)).astype(np.float32)
    windows = [[0, 0, 64, 64], [10, 6, 50, 64]]
    metas = np.stack([meta(w) for w in windows])
    out = detect(rois, probs, deltas, metas, max_instances=12, min_conf=0.3, nms_iou=0.4)
    for i in range(b):
        want = np_detect(rois[i].astype(np.float64), probs[i], deltas[i], norm_window(windows[i]),
                         12, 0.3, 0.4)
        assert (want[:, 5] > 0).sum() >= 6  # enough detections to make the test meaningful
        np.testing.assert_allclose(out[i], want, atol=1e-5, err_msg=f"image {i}")


# ----------------------------------------------------------------------------- mask selection
@pytest.mark.parametrize("compact", [True, False])
def test_select_class_masks_and_detection_boxes(compact):
    """``compact``: the head ran on the real detections only (ValidDetectionRows);
    otherwise on every row, padding too (the static-shape graph for XLA)."""
    rng = np.random.default_rng(2)
    b, d, h = 2, 3, 5
    masks = rng.uniform(size=(b * d, h, h, NUM_CLASSES)).astype(np.float32)
    detections = np.zeros((b, d, 6), np.float32)
    detections[..., :4] = rng.uniform(size=(b, d, 4))
    detections[..., 4] = [[2, 1, 3], [3, 0, 0]]  # last two of image 1 are padding
    valid = detections[..., 4].reshape(-1) > 0
    rows = ValidDetectionRows()(tf.constant(masks), tf.constant(detections)).numpy()
    np.testing.assert_array_equal(rows[:-1], masks[valid])
    np.testing.assert_array_equal(rows[-1], 0.0)
    head_out = rows if compact else masks
    got = SelectClassMasks(compact)(tf.constant(head_out), tf.constant(detections)).numpy()
    assert got.shape == (b, d, h, h)
    for i in range(b):
        for k in range(d):
            class_id = int(detections[i, k, 4])
            expected = masks[i * d + k, :, :, class_id] if class_id else np.zeros((h, h))
            np.testing.assert_array_equal(got[i, k], expected)
    boxes = DetectionBoxes()(tf.constant(detections)).numpy()
    np.testing.assert_array_equal(boxes, detections[..., :4])
