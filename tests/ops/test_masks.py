"""Mask ops: pasting head masks into images and cropping mask targets, vs numpy twins."""

import numpy as np
import tensorflow as tf

from mrcnn.ops.masks import crop_mask_targets, paste_masks
from tests.twins import bilinear, np_crop_and_resize


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
