"""Batched NMS: the padded (XLA) implementation equals CombinedNonMaxSuppression and a
greedy numpy twin; the layers' tests run both on their own twins too."""

import numpy as np
import pytest
import tensorflow as tf

from mrcnn.ops.nms import IMPLS, nms, nms_per_class
from tests.twins import np_nms


def random_inputs(rng, batch, num, classes):
    centre = rng.uniform(0, 1, size=(batch, num, classes, 2))
    side = rng.uniform(0.02, 0.4, size=(batch, num, classes, 2))
    boxes = np.concatenate([centre - side / 2, centre + side / 2], -1).astype(np.float32)
    scores = rng.uniform(size=(batch, num, classes)).astype(np.float32)
    scores[scores < 0.3] = 0.0  # dropped (score threshold 0)
    return boxes, scores


@pytest.mark.parametrize("impl", IMPLS)
def test_per_class_nms_matches_numpy_twin(impl):
    rng = np.random.default_rng(0)
    boxes, scores = random_inputs(rng, 3, 60, 4)
    scores[2] = 0.0  # an image without candidates
    out_boxes, out_scores, out_classes, valid = (
        t.numpy() for t in nms_per_class(boxes, scores, 8, 20, 0.4, 0.0, impl))
    for b in range(3):
        found = []
        for c in range(4):
            found += [(scores[b, i, c], c, i)
                      for i in np_nms(boxes[b, :, c], scores[b, :, c], 0.4, 8, 0.0)]
        found = sorted(found, key=lambda t: -t[0])[:20]
        assert valid[b] == len(found)
        np.testing.assert_allclose(out_scores[b, :len(found)], [f[0] for f in found])
        np.testing.assert_array_equal(out_classes[b, :len(found)], [f[1] for f in found])
        np.testing.assert_allclose(out_boxes[b, :len(found)],
                                   np.reshape([boxes[b, i, c] for _, c, i in found], (-1, 4)))
        assert not out_boxes[b, len(found):].any() and not out_scores[b, len(found):].any()
    assert valid[2] == 0


def test_padded_equals_combined_and_compiles_with_xla():
    rng = np.random.default_rng(1)
    boxes, scores = random_inputs(rng, 2, 200, 5)
    native = [t.numpy() for t in nms_per_class(boxes, scores, 30, 50, 0.3, 0.0, "native")]
    compiled = tf.function(lambda b, s: nms_per_class(b, s, 30, 50, 0.3, 0.0, "padded"),
                           jit_compile=True)
    for got, want in zip(compiled(boxes, scores), native):
        np.testing.assert_allclose(got.numpy(), want)
    agnostic = nms(boxes[:, :, 0], scores[:, :, 0] + 0.01, 40, 0.5, "native").numpy()
    padded = tf.function(lambda b, s: nms(b, s, 40, 0.5, "padded"), jit_compile=True)(
        boxes[:, :, 0], scores[:, :, 0] + 0.01).numpy()
    np.testing.assert_allclose(padded, agnostic)
    with pytest.raises(tf.errors.InvalidArgumentError, match="CombinedNonMaxSuppression"):
        tf.function(lambda b, s: nms(b, s, 40, 0.5, "native"), jit_compile=True)(
            boxes[:, :, 0], scores[:, :, 0])


def test_bad_impl_is_a_clear_error():
    with pytest.raises(ValueError, match="NMS impl must be one of"):
        nms(tf.zeros([1, 2, 4]), tf.zeros([1, 2]), 2, 0.5, "xla")
