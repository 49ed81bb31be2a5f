"""Pyramid anchors against a numpy twin (counts, centres, sizes and ordering)."""

import math

import numpy as np
import pytest
import tensorflow as tf

from mrcnn.layers import AnchorsLayer
from mrcnn.ops.anchors import feature_shapes, pyramid_anchors
from mrcnn.ops.boxes import norm_boxes

SCALES = (8, 16, 32, 64, 128)
RATIOS = (0.5, 1.0, 2.0)
STRIDES = (4, 8, 16, 32, 64)


# ----------------------------------------------------------------------------- numpy twin
def np_pyramid_anchors(scales, ratios, image_shape, strides, anchor_stride=1) -> np.ndarray:
    """Loop-based anchors: level-major, then row, column, ratio (innermost)."""
    out = []
    for scale, stride in zip(scales, strides):
        fh, fw = math.ceil(image_shape[0] / stride), math.ceil(image_shape[1] / stride)
        for i in range(0, fh, anchor_stride):
            for j in range(0, fw, anchor_stride):
                cy, cx = i * stride, j * stride
                for r in ratios:
                    h, w = scale / math.sqrt(r), scale * math.sqrt(r)
                    out.append([cy - h / 2, cx - w / 2, cy + h / 2, cx + w / 2])
    return np.array(out, np.float32)


def expected_count(image_shape, strides, num_ratios) -> int:
    return sum(math.ceil(image_shape[0] / s) * math.ceil(image_shape[1] / s) * num_ratios
               for s in strides)


# ----------------------------------------------------------------------------- tests
@pytest.mark.parametrize("shape", [(64, 64), (100, 60), (37, 129), (1, 1)])
def test_anchor_count(shape):
    anchors = pyramid_anchors(SCALES, RATIOS, tf.constant(shape), STRIDES)
    assert anchors.shape == (expected_count(shape, STRIDES, len(RATIOS)), 4)


def test_feature_shapes_are_ceil():
    got = [s.numpy().tolist() for s in feature_shapes(tf.constant([100, 61, 3]), STRIDES)]
    assert got == [[25, 16], [13, 8], [7, 4], [4, 2], [2, 1]]


@pytest.mark.parametrize("shape", [(64, 64), (70, 45)])
def test_anchors_match_numpy_twin(shape):
    anchors = pyramid_anchors(SCALES, RATIOS, tf.constant(shape), STRIDES).numpy()
    np.testing.assert_allclose(anchors, np_pyramid_anchors(SCALES, RATIOS, shape, STRIDES),
                               atol=1e-4)


def test_anchor_stride_two_matches_twin():
    shape = (50, 34)
    anchors = pyramid_anchors(SCALES[:3], RATIOS, tf.constant(shape), STRIDES[:3], 2).numpy()
    np.testing.assert_allclose(
        anchors, np_pyramid_anchors(SCALES[:3], RATIOS, shape, STRIDES[:3], 2), atol=1e-4)


def test_anchor_geometry_and_order():
    """First level: ratios innermost, then columns, then rows; ratio = width / height."""
    anchors = pyramid_anchors([8.0], [0.5, 1.0, 2.0], tf.constant([8, 12]), [4]).numpy()
    assert anchors.shape == (2 * 3 * 3, 4)
    h = anchors[:, 2] - anchors[:, 0]
    w = anchors[:, 3] - anchors[:, 1]
    np.testing.assert_allclose(w / h, np.tile([0.5, 1.0, 2.0], 6), rtol=1e-5)
    np.testing.assert_allclose(np.sqrt(h * w), 8.0, rtol=1e-5)
    cy = (anchors[:, 0] + anchors[:, 2]) / 2
    cx = (anchors[:, 1] + anchors[:, 3]) / 2
    np.testing.assert_allclose(cy, np.repeat([0.0, 4.0], 9), atol=1e-5)
    np.testing.assert_allclose(cx, np.tile(np.repeat([0.0, 4.0, 8.0], 3), 2), atol=1e-5)
    # Square anchor at (row 1, col 2): centred on (4, 8), 8 px wide.
    np.testing.assert_allclose(anchors[3 * 3 * 1 + 3 * 2 + 1], [0.0, 4.0, 8.0, 12.0], atol=1e-5)


def test_anchors_layer_normalizes():
    images = tf.zeros([2, 48, 80, 3])
    got = AnchorsLayer(SCALES, RATIOS, STRIDES)(images).numpy()
    pixels = np_pyramid_anchors(SCALES, RATIOS, (48, 80), STRIDES)
    twin = (pixels - [0, 0, 1, 1]) / (np.array([48, 80, 48, 80]) - 1.0)
    np.testing.assert_allclose(got, twin, atol=1e-5)
    np.testing.assert_allclose(
        got, norm_boxes(tf.constant(pixels), tf.constant([48, 80])).numpy(), atol=1e-6)
