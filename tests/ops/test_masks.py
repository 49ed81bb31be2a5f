"""Mask ops: pasting head masks into images and cropping mask targets, vs numpy twins."""

import numpy as np
import pytest
import tensorflow as tf

from mrcnn.ops.masks import crop_mask_targets, paste_masks
from tests.twins import bilinear, dense_paste_masks, dense_paste_samples, np_crop_and_resize


# ----------------------------------------------------------------------------- numpy twins
def np_paste_mask(mask: np.ndarray, box, image_shape, threshold=0.5) -> np.ndarray:
    """Resize ``mask`` onto the pixel box (half-pixel centres, edges clamped), threshold."""
    mh, mw = mask.shape
    y1, x1, y2, x2 = box
    out = np.zeros(image_shape, bool)
    for py in range(image_shape[0]):
        if not y1 <= py + 0.5 < y2:
            continue
        v = (py + 0.5 - y1) * mh / (y2 - y1) - 0.5
        for px in range(image_shape[1]):
            if not x1 <= px + 0.5 < x2:
                continue
            u = (px + 0.5 - x1) * mw / (x2 - x1) - 0.5
            out[py, px] = bilinear(mask, v, u) >= threshold
    return out


def centres_in_box(box, image_shape) -> np.ndarray:
    ys = np.arange(image_shape[0]) + 0.5
    xs = np.arange(image_shape[1]) + 0.5
    iy = (ys >= box[0]) & (ys < box[2])
    ix = (xs >= box[1]) & (xs < box[3])
    return iy[:, None] & ix[None, :]


# ----------------------------------------------------------------------------- paste_masks
def test_paste_all_ones_fills_exactly_the_box():
    boxes = np.array([[3.0, 5.0, 20.0, 17.0],
                      [10.2, 0.4, 30.7, 9.6],    # fractional edges
                      [-4.0, 25.0, 6.0, 50.0],   # partly outside the image
                      [2.5, 3.5, 9.5, 12.5]],    # edges on pixel centres: [start, end)
                     np.float32)
    shape = (32, 40)
    got = paste_masks(tf.ones([4, 28, 28]), tf.constant(boxes), shape).numpy()
    assert got.shape == (4, 32, 40) and got.dtype == bool
    for k in range(4):
        np.testing.assert_array_equal(got[k], centres_in_box(boxes[k], shape))
    assert got[0].sum() == 17 * 12
    assert got[3, 2:9, 3:12].all() and got[3].sum() == 7 * 9


def test_paste_zeros_is_empty():
    got = paste_masks(tf.zeros([1, 28, 28]), tf.constant([[0.0, 0.0, 16.0, 16.0]]), (16, 16))
    assert not got.numpy().any()


def test_paste_random_masks_match_numpy_twin():
    rng = np.random.default_rng(0)
    # Smooth random masks (upsampled noise) so the >= 0.5 boundary is non-trivial.
    coarse = rng.uniform(size=(3, 5, 5))
    masks = np.stack([np.kron(c, np.ones((4, 4))) for c in coarse])[:, :14, :14]
    masks = masks + rng.normal(scale=0.05, size=masks.shape)
    boxes = np.array([[4.0, 6.0, 40.0, 30.0], [20.3, 11.7, 45.1, 58.9], [0.0, 0.0, 9.0, 7.0]])
    shape = (48, 64)
    got = paste_masks(tf.constant(masks, tf.float32), tf.constant(boxes, tf.float32),
                      tf.constant(shape)).numpy()
    for k in range(3):
        twin = np_paste_mask(masks[k], boxes[k], shape)
        assert twin.any() and (~twin & centres_in_box(boxes[k], shape)).any()
        agree = (got[k] == twin).mean()
        assert agree >= 0.99, (k, agree)
        # Outside the box nothing is pasted.
        assert not got[k][~centres_in_box(boxes[k], shape)].any()


def test_paste_mask_halves():
    """A mask whose left half is on covers the left half of the box."""
    mask = np.zeros((28, 28), np.float32)
    mask[:, :14] = 1.0
    got = paste_masks(tf.constant(mask[None]), tf.constant([[8.0, 8.0, 24.0, 24.0]]),
                      (32, 32)).numpy()[0]
    want = np.zeros((32, 32), bool)
    want[8:24, 8:16] = True
    np.testing.assert_array_equal(got, want)


def test_paste_into_single_row_image():
    """A 1-pixel-high image samples the mask at that pixel's centre (y = 0.5)."""
    mask = np.zeros((4, 4), np.float32)
    mask[0] = 0.8  # only the first mask row (centre y = 0.5 in the box) is on
    box = tf.constant([[0.0, 0.0, 4.0, 4.0]])
    got = paste_masks(tf.constant(mask[None]), box, (1, 4)).numpy()[0]
    np.testing.assert_array_equal(got, np_paste_mask(mask, [0, 0, 4, 4], (1, 4)))
    assert got.all()


# ----------------------------------------------------------------------------- box-only paste
def random_case(rng, n, shape, mask_shape, binary=False):
    """``n`` masks and boxes of all kinds on an image of ``shape``: fractional, on the
    border or past it, 1 pixel and sub-pixel, half-pixel edges, outside the image."""
    masks = rng.uniform(size=(n, *mask_shape)).astype(np.float32)
    if binary:  # thresholded targets: samples of exactly 0.5 between 0 and 1 cells
        masks = (masks > 0.5).astype(np.float32)
    height, width = shape
    cy = rng.uniform(-0.1 * height, 1.1 * height, n)
    cx = rng.uniform(-0.1 * width, 1.1 * width, n)
    bh = np.exp(rng.uniform(np.log(0.3), np.log(1.2 * height), n))
    bw = np.exp(rng.uniform(np.log(0.3), np.log(1.2 * width), n))
    boxes = np.stack([cy - bh / 2, cx - bw / 2, cy + bh / 2, cx + bw / 2], -1)
    kind = rng.integers(0, 5, n)
    boxes[kind == 1] = np.round(boxes[kind == 1] * 2) / 2  # edges on pixel centres/edges
    one = kind == 2  # exactly one pixel
    corner = np.floor(boxes[one, :2])
    boxes[one] = np.concatenate([corner, corner + 1], -1)
    edge = kind == 3  # on (or across) the image border
    boxes[edge, 0] = np.minimum(boxes[edge, 0], rng.uniform(-3, 0.5, edge.sum()))
    boxes[edge, 3] = np.maximum(boxes[edge, 3], width - rng.uniform(-3, 0.5, edge.sum()))
    return masks, boxes.astype(np.float32)


CASES = [  # (image shape, mask shape, detections, binary masks)
    ((48, 64), (28, 28), 12, False),
    ((48, 64), (28, 28), 12, True),
    ((37, 50), (14, 14), 10, False),   # width not a multiple of a tile (padded, sliced)
    ((31, 80), (7, 9), 10, True),      # 16-wide tiles
    ((96, 32), (56, 56), 8, False),    # 32-wide tiles, tall image
    ((1, 40), (28, 28), 5, False),     # single row
    ((30, 1), (28, 28), 5, True),      # single column
    ((20, 24), (1, 1), 6, False),      # 1x1 masks
    ((20, 24), (28, 28), 0, False),    # no detections
    ((160, 200), (28, 28), 40, True),  # realistic count
]


@pytest.mark.parametrize("shape, mask_shape, n, binary", CASES)
def test_paste_equals_dense_reference(shape, mask_shape, n, binary):
    rng = np.random.default_rng(CASES.index((shape, mask_shape, n, binary)))
    masks, boxes = random_case(rng, n, shape, mask_shape, binary)
    for threshold in (0.5, 0.25, 0.0, -1.0, 1.0):
        got = paste_masks(masks, boxes, shape, threshold).numpy()
        want = dense_paste_masks(masks, boxes, shape, threshold).numpy()
        assert got.shape == (n, *shape) and got.dtype == bool
        np.testing.assert_array_equal(got, want, err_msg=f"threshold {threshold}")


@pytest.mark.parametrize("shape, mask_shape, n, binary", [c for c in CASES if c[2] > 0])
def test_paste_samples_are_bit_identical(shape, mask_shape, n, binary):
    """Thresholds equal to the dense samples, and one float32 step above them, split the
    pixels identically: any 1-ulp difference of a sample would flip its pixel."""
    rng = np.random.default_rng(100 + CASES.index((shape, mask_shape, n, binary)))
    masks, boxes = random_case(rng, n, shape, mask_shape, binary)
    samples, inside = dense_paste_samples(masks, boxes, shape)
    values = np.unique(samples.numpy()[inside.numpy()])
    for value in rng.choice(values, min(12, values.size), replace=False):
        for threshold in (value, np.nextafter(value, np.float32(np.inf))):
            # Compared in TensorFlow, which flushes subnormal floats to zero, like both.
            np.testing.assert_array_equal(
                paste_masks(masks, boxes, shape, threshold).numpy(),
                (inside & (samples >= threshold)).numpy(), err_msg=f"threshold {threshold!r}")


def test_paste_in_graph_with_dynamic_shapes():
    """As in the exported serving function: unknown N, mask size and image size."""
    paste = tf.function(lambda m, b, h, w: paste_masks(m, b, (h, w)), input_signature=[
        tf.TensorSpec([None, None, None], tf.float32), tf.TensorSpec([None, 4], tf.float32),
        tf.TensorSpec([], tf.int32), tf.TensorSpec([], tf.int32)])
    rng = np.random.default_rng(5)
    for shape, mask_shape, n in (((40, 56), (28, 28), 7), ((23, 31), (14, 14), 0),
                                 ((64, 64), (7, 7), 3)):
        masks, boxes = random_case(rng, n, shape, mask_shape)
        got = paste(masks, boxes, *shape).numpy()
        np.testing.assert_array_equal(got, dense_paste_masks(masks, boxes, shape).numpy())


def test_paste_numpy_inputs_and_tensor_shape():
    """Eager numpy (unmold_detections) and an int64 shape tensor give the same masks."""
    rng = np.random.default_rng(6)
    masks, boxes = random_case(rng, 6, (33, 45), (28, 28))
    want = dense_paste_masks(masks, boxes, (33, 45)).numpy()
    np.testing.assert_array_equal(paste_masks(masks, boxes, (33, 45)).numpy(), want)
    shape = tf.constant([33, 45], tf.int64)
    np.testing.assert_array_equal(paste_masks(masks, boxes, shape).numpy(), want)


# ----------------------------------------------------------------------------- crop_mask_targets
def test_crop_full_masks_matches_numpy():
    rng = np.random.default_rng(1)
    gt_masks = (rng.uniform(size=(2, 24, 32)) > 0.5).astype(np.float32)
    rois = np.array([[0.1, 0.2, 0.6, 0.9], [0.0, 0.0, 1.0, 1.0], [0.3, 0.3, 0.35, 0.4],
                     [-0.2, 0.5, 0.5, 1.3]], np.float32)  # last one reaches outside
    index = np.array([0, 1, 1, 0], np.int32)
    got = crop_mask_targets(tf.constant(gt_masks), tf.zeros([4, 4]), tf.constant(rois),
                            tf.constant(index), (7, 9), mini_mask=False).numpy()
    assert got.shape == (4, 7, 9)
    for k in range(4):
        np.testing.assert_allclose(got[k], np_crop_and_resize(gt_masks[index[k]], rois[k], (7, 9)),
                                   atol=1e-5)
    # Whole-image RoI on a same-size crop is the identity.
    whole = crop_mask_targets(tf.constant(gt_masks), tf.zeros([1, 4]),
                              tf.constant([[0.0, 0.0, 1.0, 1.0]]), tf.constant([1]), (24, 32),
                              mini_mask=False).numpy()[0]
    np.testing.assert_allclose(whole, gt_masks[1], atol=1e-6)


def test_crop_mini_mask_roi_equal_to_gt_box():
    rng = np.random.default_rng(2)
    mini = rng.uniform(size=(3, 14, 14)).astype(np.float32)
    gt_boxes = np.array([[0.1, 0.2, 0.5, 0.7], [0.3, 0.0, 0.9, 0.4], [0.0, 0.5, 1.0, 1.0]],
                        np.float32)
    index = tf.constant([2, 0, 1])
    got = crop_mask_targets(tf.constant(mini), tf.constant(gt_boxes[[2, 0, 1]]),
                            tf.constant(gt_boxes[[2, 0, 1]]), index, (14, 14), mini_mask=True)
    np.testing.assert_allclose(got.numpy(), mini[[2, 0, 1]], atol=1e-4)
    # To a different mask size it is the (corner-aligned) resize of the mini mask.
    got = crop_mask_targets(tf.constant(mini), tf.constant(gt_boxes), tf.constant(gt_boxes),
                            tf.constant([0, 1, 2]), (9, 5), mini_mask=True).numpy()
    for k in range(3):
        np.testing.assert_allclose(got[k], np_crop_and_resize(mini[k], [0, 0, 1, 1], (9, 5)),
                                   atol=1e-4)


def test_crop_mini_mask_equals_full_mask_crop():
    """A RoI inside the gt box samples the mini mask where the full mask would be sampled."""
    pattern = np.random.default_rng(3).uniform(size=(21, 21)).astype(np.float32)
    full = np.zeros((41, 41), np.float32)
    full[10:31, 5:26] = pattern
    gt_norm = np.array([[10 / 40, 5 / 40, 30 / 40, 25 / 40]], np.float32)  # pixels 10..30, 5..25
    mini = pattern[None]  # 21x21 mini mask = the gt box at full resolution
    roi = np.array([[12 / 40, 8 / 40, 27 / 40, 20 / 40]], np.float32)
    from_mini = crop_mask_targets(tf.constant(mini), tf.constant(gt_norm), tf.constant(roi),
                                  tf.constant([0]), (6, 6), mini_mask=True).numpy()
    from_full = crop_mask_targets(tf.constant(full[None]), tf.constant(gt_norm), tf.constant(roi),
                                  tf.constant([0]), (6, 6), mini_mask=False).numpy()
    np.testing.assert_allclose(from_mini, from_full, atol=1e-4)
    np.testing.assert_allclose(from_full[0], np_crop_and_resize(full, roi[0], (6, 6)), atol=1e-5)
