"""Crop-and-resize by gather (the XLA path) against the numpy twin of
``tf.image.crop_and_resize`` and against the TensorFlow kernel itself."""

import numpy as np
import pytest
import tensorflow as tf

from mrcnn.ops.masks import crop_mask_targets
from mrcnn.ops.resample import crop_and_resize, crop_and_resize_gather
from tests.twins import np_crop_and_resize


def random_boxes(rng, n) -> np.ndarray:
    """Normalized crops inside, across and outside the map, flipped and degenerate ones."""
    boxes = rng.uniform(-0.3, 1.3, size=(n, 4)).astype(np.float32)
    boxes[:3, 2] = boxes[:3, 0]  # zero height
    boxes[3] = [0.0, 0.0, 1.0, 1.0]
    return boxes


def np_padded(image: np.ndarray, pad: int, mode: str) -> np.ndarray:
    """``[H, W]`` padded by one row/column each side: border replicated or zeros."""
    if not pad:
        return image
    return np.pad(image, 1, mode="edge" if mode == "SYMMETRIC" else "constant")


@pytest.mark.parametrize("pad, mode", [(0, "SYMMETRIC"), (1, "SYMMETRIC"), (1, "CONSTANT")])
@pytest.mark.parametrize("size", [(7, 7), (1, 1), (1, 4), (9, 5)])
def test_gather_matches_numpy_twin(size, pad, mode):
    rng = np.random.default_rng(0)
    image = rng.normal(size=(3, 9, 13, 2)).astype(np.float32)
    boxes = random_boxes(rng, 24)
    index = rng.integers(0, 3, 24).astype(np.int32)
    got = crop_and_resize(image, boxes, index, size, "gather", pad, mode).numpy()
    assert got.shape == (24, *size, 2)
    for k in range(24):
        for c in range(2):
            want = np_crop_and_resize(np_padded(image[index[k], :, :, c], pad, mode), boxes[k],
                                      size)
            np.testing.assert_allclose(got[k, :, :, c], want, atol=1e-5, err_msg=f"box {k}")


@pytest.mark.parametrize("pad, mode", [(0, "SYMMETRIC"), (1, "SYMMETRIC"), (1, "CONSTANT")])
def test_gather_equals_kernel_values_gradients_and_xla(pad, mode):
    rng = np.random.default_rng(1)
    image = tf.constant(rng.normal(size=(2, 16, 11, 3)).astype(np.float32))
    boxes = tf.constant(random_boxes(rng, 30))
    index = tf.constant(rng.integers(0, 2, 30).astype(np.int32))
    weights = tf.constant(rng.normal(size=(30, 6, 5, 3)).astype(np.float32))

    def run(impl):
        with tf.GradientTape() as tape:
            tape.watch(image)
            out = crop_and_resize(image, boxes, index, (6, 5), impl, pad, mode)
            loss = tf.reduce_sum(out * weights)
        return out.numpy(), tape.gradient(loss, image).numpy()

    native, native_grad = run("native")
    gather, gather_grad = run("gather")
    np.testing.assert_array_equal(gather, native)  # the kernel's arithmetic, eagerly
    np.testing.assert_allclose(gather_grad, native_grad, atol=1e-4)
    compiled = tf.function(lambda: crop_and_resize(image, boxes, index, (6, 5), "gather", pad,
                                                   mode), jit_compile=True)
    np.testing.assert_allclose(compiled().numpy(), native, atol=1e-5)


def test_gather_per_box_maps_of_one_table():
    """Boxes of one call sample maps of different sizes stored one after the other."""
    rng = np.random.default_rng(2)
    maps = [rng.normal(size=(h, w, 1)).astype(np.float32) for h, w in [(8, 8), (4, 6), (2, 3)]]
    table = np.concatenate([m.reshape(-1, 1) for m in maps])
    offsets = np.cumsum([0] + [m.shape[0] * m.shape[1] for m in maps])[:3].astype(np.int32)
    sizes = np.array([m.shape[:2] for m in maps], np.int32)
    boxes = random_boxes(rng, 6)
    which = np.array([0, 1, 2, 2, 1, 0])
    got = crop_and_resize_gather(tf.constant(table), offsets[which], sizes[which], boxes,
                                 (4, 4)).numpy()
    for k, m in enumerate(which):
        np.testing.assert_allclose(got[k, ..., 0], np_crop_and_resize(maps[m][..., 0], boxes[k],
                                                                      (4, 4)), atol=1e-5)


def test_bad_impl_and_pad_are_clear_errors():
    image = tf.zeros([1, 4, 4, 1])
    with pytest.raises(ValueError, match="impl must be one of"):
        crop_and_resize(image, tf.zeros([1, 4]), tf.zeros([1], tf.int32), (2, 2), "xla")
    with pytest.raises(ValueError, match="pad must be 0 or 1"):
        crop_and_resize(image, tf.zeros([1, 4]), tf.zeros([1], tf.int32), (2, 2), "gather", 2)


@pytest.mark.parametrize("aligned, mini", [(True, False), (True, True), (False, False),
                                           (False, True)])
def test_mask_targets_gather_equals_native(aligned, mini):
    rng = np.random.default_rng(3)
    masks = (rng.uniform(size=(3, 20, 24)) > 0.5).astype(np.float32)
    gt = np.array([[0.1, 0.2, 0.6, 0.9], [0.0, 0.0, 1.0, 1.0], [0.3, 0.3, 0.5, 0.4]], np.float32)
    rois = np.clip(gt[[0, 1, 2, 1]] + rng.normal(scale=0.05, size=(4, 4)), 0, 1).astype(np.float32)
    index = np.array([0, 1, 2, 1], np.int32)
    args = (masks, gt[index], rois, index, (7, 9), mini, aligned, tf.constant([64, 80]))
    native = crop_mask_targets(*args).numpy()
    np.testing.assert_array_equal(crop_mask_targets(*args, impl="gather").numpy(), native)
