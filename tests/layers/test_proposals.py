"""ProposalLayer: top-k, delta decoding, clipping and NMS, against a numpy twin, with
each NMS implementation (:mod:`mrcnn.ops.nms`)."""

import numpy as np
import pytest
import tensorflow as tf

from mrcnn.layers import ProposalLayer
from mrcnn.ops.nms import IMPLS
from tests.twins import np_decode, np_nms

STD = np.array([0.1, 0.1, 0.2, 0.2], np.float32)
NMS_IMPL = "native"


@pytest.fixture(autouse=True, params=IMPLS)
def nms_impl(request):
    """Every test of this module runs with each NMS implementation."""
    global NMS_IMPL
    NMS_IMPL = request.param
    yield request.param
    NMS_IMPL = "native"


# ----------------------------------------------------------------------------- numpy twins
def np_proposals(probs, deltas, anchors, count, threshold, pre_nms_limit) -> np.ndarray:
    """One image: top-k anchors by score, decode (std-scaled), clip to [0, 1], NMS, pad."""
    top = np.argsort(-probs[:, 1], kind="stable")[:pre_nms_limit]
    boxes = np.clip([np_decode(anchors[i], deltas[i] * STD) for i in top], 0.0, 1.0)
    keep = np_nms(boxes, probs[top, 1], threshold, count)
    out = np.zeros((count, 4))
    out[:len(keep)] = boxes[keep]
    return out


def run(probs, deltas, anchors, count=4, threshold=0.7, pre_nms_limit=100):
    fg = np.asarray(probs, np.float32)
    probs = np.stack([1 - fg, fg], -1)
    layer = ProposalLayer(count, threshold, pre_nms_limit, STD.tolist(), nms_impl=NMS_IMPL)
    return layer(tf.constant(probs), tf.constant(deltas, tf.float32),
                 tf.constant(anchors, tf.float32)).numpy()


# ----------------------------------------------------------------------------- tests
def test_near_duplicates_suppressed_disjoint_kept_sorted_and_padded():
    anchors = [[0.10, 0.10, 0.40, 0.40],
               [0.11, 0.10, 0.41, 0.40],   # near-duplicate of 0
               [0.60, 0.60, 0.90, 0.90],   # disjoint
               [0.50, 0.05, 0.70, 0.25]]   # disjoint, lowest score
    scores = [[0.9, 0.95, 0.8, 0.3]]
    out = run(scores, np.zeros((1, 4, 4)), anchors, count=5)
    assert out.shape == (1, 5, 4)
    np.testing.assert_allclose(out[0, :3], np.array(anchors)[[1, 2, 3]], atol=1e-6)
    np.testing.assert_array_equal(out[0, 3:], 0.0)


def test_overlap_below_threshold_both_kept():
    anchors = [[0.0, 0.0, 0.4, 0.4], [0.0, 0.2, 0.4, 0.6]]  # IoU = 1/3
    out = run([[0.6, 0.9]], np.zeros((1, 2, 4)), anchors, count=3, threshold=0.5)
    np.testing.assert_allclose(out[0, :2], np.array(anchors)[[1, 0]], atol=1e-6)
    out = run([[0.6, 0.9]], np.zeros((1, 2, 4)), anchors, count=3, threshold=0.3)
    np.testing.assert_allclose(out[0, 0], anchors[1], atol=1e-6)
    np.testing.assert_array_equal(out[0, 1:], 0.0)


def test_deltas_scaled_by_std_and_clipped():
    anchors = [[0.2, 0.2, 0.4, 0.4], [0.7, 0.7, 0.9, 0.9]]
    deltas = np.array([[[1.0, -2.0, np.log(2.0) / 0.2, 0.0],    # centre (0.32, 0.26), h 0.4
                        [5.0, 5.0, np.log(3.0) / 0.2, np.log(3.0) / 0.2]]],  # (0.9, 0.9), 0.6
                      np.float32)
    out = run([[0.9, 0.8]], deltas, anchors, count=2)
    np.testing.assert_allclose(out[0, 0], [0.12, 0.16, 0.52, 0.36], atol=1e-5)
    np.testing.assert_allclose(out[0, 1], [0.6, 0.6, 1.0, 1.0], atol=1e-5)  # clipped


def test_pre_nms_limit_keeps_top_scores_only():
    anchors = [[0.0, 0.0, 0.2, 0.2], [0.4, 0.4, 0.6, 0.6], [0.8, 0.8, 1.0, 1.0]]
    out = run([[0.5, 0.2, 0.9]], np.zeros((1, 3, 4)), anchors, count=3, pre_nms_limit=2)
    np.testing.assert_allclose(out[0, :2], np.array(anchors)[[2, 0]], atol=1e-6)
    np.testing.assert_array_equal(out[0, 2], 0.0)


def test_random_batch_matches_numpy_twin():
    rng = np.random.default_rng(0)
    a = 60
    cy, cx = rng.uniform(0, 1, size=(2, a))
    hw = rng.uniform(0.05, 0.4, size=(2, a))
    anchors = np.stack([cy - hw[0] / 2, cx - hw[1] / 2, cy + hw[0] / 2, cx + hw[1] / 2], -1)
    fg = rng.uniform(size=(2, a))
    deltas = rng.normal(scale=0.5, size=(2, a, 4))
    out = run(fg, deltas, anchors, count=20, threshold=0.5, pre_nms_limit=40)
    probs = np.stack([1 - fg, fg], -1).astype(np.float32)
    for b in range(2):
        want = np_proposals(probs[b], deltas[b].astype(np.float32), anchors.astype(np.float32),
                            20, 0.5, 40)
        np.testing.assert_allclose(out[b], want, atol=1e-5)
    assert np.all(out >= 0.0) and np.all(out <= 1.0)
    # The two images differ (batched, per-image NMS).
    assert not np.allclose(out[0], out[1])
