"""PyramidROIAlign (aligned and classic) and level assignment against numpy twins written
from the definitions: loops over bins and samples, no crop_and_resize."""

import numpy as np
import pytest
import tensorflow as tf

from mrcnn.layers import PyramidROIAlign, RoiBatchReshape, assign_roi_levels
from mrcnn.ops.resample import IMPLS


# ----------------------------------------------------------------------------- numpy twins
def np_levels(rois: np.ndarray, image_area: float, canonical=224.0) -> np.ndarray:
    """The FPN paper's equation 1: ``k = floor(4 + log2(sqrt(wh) / canonical))`` with
    ``sqrt(wh)`` in pixels, clipped to [2, 5]; a size within 1e-4 octaves under a power of
    two counts as that power (float32 normalized coordinates lose a few ulps)."""
    h = rois[..., 2] - rois[..., 0]
    w = rois[..., 3] - rois[..., 1]
    size = np.sqrt(np.maximum(h * w, 1e-12)) * np.sqrt(image_area)
    return np.clip(np.floor(4 + np.log2(size / canonical) + 1e-4), 2, 5).astype(int)


def np_bilinear(features: np.ndarray, y: float, x: float) -> np.ndarray:
    """Detectron2's ROIAlign sample of ``[h, w, D]`` at map coordinates ``(y, x)`` (element
    ``k`` at ``k``): 0 beyond one pixel outside the map, the border within it."""
    h, w = features.shape[:2]
    if y < -1.0 or y > h or x < -1.0 or x > w:
        return np.zeros(features.shape[2])
    y, x = min(max(y, 0.0), h - 1.0), min(max(x, 0.0), w - 1.0)
    y0, x0 = int(np.floor(y)), int(np.floor(x))
    y1, x1 = min(y0 + 1, h - 1), min(x0 + 1, w - 1)
    ly, lx = y - y0, x - x0
    return ((1 - ly) * (1 - lx) * features[y0, x0] + (1 - ly) * lx * features[y0, x1]
            + ly * (1 - lx) * features[y1, x0] + ly * lx * features[y1, x1])


def np_aligned_roi_align(features: np.ndarray, pixel_box, stride: int, pool: int,
                         ratio: int) -> np.ndarray:
    """Aligned RoIAlign (He et al. 2017; Detectron2 ``aligned=True``): the box in map
    coordinates is ``box / stride - 0.5``; bin ``(i, j)`` averages ``ratio``² samples at
    the centres of its sub-bins."""
    y1, x1, y2, x2 = np.asarray(pixel_box, np.float64) / stride - 0.5
    bin_h, bin_w = (y2 - y1) / pool, (x2 - x1) / pool
    out = np.zeros((pool, pool, features.shape[2]))
    for i in range(pool):
        for j in range(pool):
            for a in range(ratio):
                for b in range(ratio):
                    y = y1 + (i + (a + 0.5) / ratio) * bin_h
                    x = x1 + (j + (b + 0.5) / ratio) * bin_w
                    out[i, j] += np_bilinear(features, y, x) / ratio**2
    return out


def np_pixel_box(norm_box, size: int) -> np.ndarray:
    """A normalized box as a continuous pixel box ``[y1, y2)`` (``mrcnn.ops.boxes``)."""
    return np.asarray(norm_box, np.float64) * (size - 1) + np.array([0, 0, 1, 1])


def np_roi_align(features: np.ndarray, box, pool: int) -> np.ndarray:
    """Classic RoIAlign: crop_and_resize of ``[h, w, D]`` features to ``[pool, pool, D]``
    (0 outside)."""
    h, w, d = features.shape
    y1, x1, y2, x2 = box
    out = np.zeros((pool, pool, d))
    for i in range(pool):
        y = y1 * (h - 1) + i * (y2 - y1) * (h - 1) / (pool - 1)
        for j in range(pool):
            x = x1 * (w - 1) + j * (x2 - x1) * (w - 1) / (pool - 1)
            if not (0 <= y <= h - 1 and 0 <= x <= w - 1):
                continue
            y0, x0 = int(np.floor(y)), int(np.floor(x))
            yb, xb = min(y0 + 1, h - 1), min(x0 + 1, w - 1)
            dy, dx = y - y0, x - x0
            top = features[y0, x0] * (1 - dx) + features[y0, xb] * dx
            bottom = features[yb, x0] * (1 - dx) + features[yb, xb] * dx
            out[i, j] = top * (1 - dy) + bottom * dy
    return out


# ----------------------------------------------------------------------------- fixtures
IMAGE = 64
FEATURE_SIZES = (16, 8, 4, 2)  # P2..P5 of a 64x64 image
# With canonical size 32 on a 64x64 image: sqrt(wh) = 1 -> P5, 1/2 -> P4, 1/4 -> P3, 1/8 -> P2.
CANONICAL = 32.0


def make_inputs(rng, batch=2, depth=3):
    features = [rng.normal(size=(batch, s, s, depth)).astype(np.float32) for s in FEATURE_SIZES]
    image = np.zeros((batch, IMAGE, IMAGE, 1), np.float32)
    return image, features


def roi(cy, cx, side):
    return [cy - side / 2, cx - side / 2, cy + side / 2, cx + side / 2]


# ----------------------------------------------------------------------------- tests
@pytest.mark.parametrize("impl", IMPLS)
def test_roi_align_matches_numpy_across_levels_and_order(impl):
    rng = np.random.default_rng(0)
    image, features = make_inputs(rng)
    # Interleave levels (side 1/8 -> P2, 1/4 -> P3, 1/2 -> P4, ~1 -> P5) and images.
    rois = np.array([
        [roi(0.5, 0.5, 0.5), roi(0.2, 0.3, 0.125), [0.0, 0.0, 1.0, 1.0], roi(0.6, 0.4, 0.25),
         roi(0.7, 0.7, 0.13), [0.1, 0.0, 0.6, 0.5]],
        [roi(0.3, 0.6, 0.25), roi(0.5, 0.5, 0.5), roi(0.8, 0.2, 0.12), [0.05, 0.1, 0.95, 0.9],
         roi(0.4, 0.4, 0.26), roi(0.5, 0.5, 0.1)],
    ], np.float32)
    levels = np_levels(rois, IMAGE * IMAGE, CANONICAL)
    assert levels.tolist() == [[4, 2, 5, 3, 2, 4], [3, 4, 2, 4, 3, 2]]  # 0.9 x 0.8: P4
    np.testing.assert_array_equal(
        assign_roi_levels(tf.constant(rois), IMAGE * IMAGE, CANONICAL).numpy(), levels)

    pool = 5
    layer = PyramidROIAlign(pool, canonical_size=CANONICAL, aligned=False, impl=impl)
    got = layer(tf.constant(rois), tf.constant(image), *map(tf.constant, features)).numpy()
    assert got.shape == (2 * 6, pool, pool, 3)
    for b in range(2):
        for r in range(6):
            want = np_roi_align(features[levels[b, r] - 2][b], rois[b, r], pool)
            np.testing.assert_allclose(got[b * 6 + r], want, atol=1e-4,
                                       err_msg=f"image {b} roi {r}")
    # Back to [B, R, ...] in the same order.
    reshaped = RoiBatchReshape()(tf.constant(got), tf.constant(rois)).numpy()
    np.testing.assert_array_equal(reshaped[1, 3], got[9])


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("ratio", [1, 2, 3])
def test_aligned_roi_align_matches_numpy_across_levels(ratio, impl):
    rng = np.random.default_rng(5)
    image, features = make_inputs(rng)
    # Levels P2..P5, boxes over the border (samples outside the map) and a sliver.
    rois = np.array([
        [roi(0.5, 0.5, 0.5), roi(0.2, 0.3, 0.125), [0.0, 0.0, 1.0, 1.0], roi(0.05, 0.9, 0.25),
         roi(0.7, 0.7, 0.13), [0.1, 0.0, 0.6, 0.5]],
        [roi(0.3, 0.6, 0.25), [0.4, 0.4, 0.41, 0.9], roi(0.8, 0.2, 0.12), [0.05, 0.1, 0.95, 0.9],
         roi(0.4, 0.4, 0.26), roi(0.5, 0.5, 0.1)],
    ], np.float32)
    levels = np_levels(rois, IMAGE * IMAGE, CANONICAL)
    assert set(levels.ravel()) == {2, 3, 4, 5}
    pool = 4
    layer = PyramidROIAlign(pool, canonical_size=CANONICAL, sampling_ratio=ratio, impl=impl)
    assert layer.aligned
    got = layer(tf.constant(rois), tf.constant(image), *map(tf.constant, features)).numpy()
    for b in range(2):
        for r in range(6):
            level = levels[b, r]
            want = np_aligned_roi_align(features[level - 2][b], np_pixel_box(rois[b, r], IMAGE),
                                        2 ** level, pool, ratio)
            np.testing.assert_allclose(got[b * 6 + r], want, atol=1e-4,
                                       err_msg=f"image {b} roi {r} level {level}")


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("axis", [0, 1])
def test_aligned_bins_of_a_coordinate_map_are_the_bin_centres(axis, impl):
    """A feature map whose values are their own image coordinate (element k of stride s
    sits at (k + 0.5) s) returns, bilinear sampling being exact on a linear map, the
    image coordinate of each bin centre."""
    image = np.zeros((1, IMAGE, IMAGE, 1), np.float32)
    features = []
    for size in FEATURE_SIZES:
        stride = IMAGE // size
        coord = (np.arange(size) + 0.5) * stride
        grid = np.meshgrid(coord, coord, indexing="ij")[axis]
        features.append(grid[None, :, :, None].astype(np.float32))
    # Boxes whose samples stay inside the element centres of their level.
    rois = np.array([[roi(0.5, 0.5, 0.5), roi(0.45, 0.55, 0.25), roi(0.5, 0.4, 0.125),
                      [0.3, 0.2, 0.7, 0.8]]], np.float32)
    pool = 7
    got = PyramidROIAlign(pool, canonical_size=CANONICAL, impl=impl)(
        tf.constant(rois), tf.constant(image), *map(tf.constant, features)).numpy()[..., 0]
    for r, box in enumerate(rois[0]):
        y1, x1, y2, x2 = np_pixel_box(box, IMAGE)
        start, end = (y1, y2) if axis == 0 else (x1, x2)
        centres = start + (np.arange(pool) + 0.5) * (end - start) / pool
        want = centres[:, None] if axis == 0 else centres[None, :]
        np.testing.assert_allclose(got[r], np.broadcast_to(want, (pool, pool)), atol=1e-3,
                                   err_msg=f"roi {r}")


@pytest.mark.parametrize("impl", IMPLS)
def test_roi_align_uses_own_image_features(impl):
    """Identical RoIs in two images read different feature maps."""
    rng = np.random.default_rng(1)
    image, features = make_inputs(rng, depth=2)
    rois = np.tile(np.array([[roi(0.5, 0.5, 0.25), roi(0.5, 0.5, 0.125)]], np.float32), (2, 1, 1))
    got = PyramidROIAlign(3, canonical_size=CANONICAL, aligned=False, impl=impl)(
        tf.constant(rois), tf.constant(image), *map(tf.constant, features)).numpy()
    np.testing.assert_allclose(got[0], np_roi_align(features[1][0], rois[0, 0], 3), atol=1e-4)
    np.testing.assert_allclose(got[2], np_roi_align(features[1][1], rois[1, 0], 3), atol=1e-4)
    np.testing.assert_allclose(got[3], np_roi_align(features[0][1], rois[1, 1], 3), atol=1e-4)
    assert not np.allclose(got[0], got[2])


@pytest.mark.parametrize("aligned", [True, False])
def test_gather_impl_equals_crop_and_resize_and_compiles_with_xla(aligned):
    """The gather RoIAlign gives crop_and_resize's values (the same arithmetic, up to float32
    rounding where graph optimisations reorder it), compiled by XLA too, which refuses
    CropAndResize."""
    rng = np.random.default_rng(7)
    image, features = make_inputs(rng, depth=4)
    centre = rng.uniform(-0.1, 1.1, size=(2, 40, 2))
    side = rng.uniform(0.02, 1.0, size=(2, 40, 2))
    rois = np.concatenate([centre - side / 2, centre + side / 2], -1).astype(np.float32)
    rois[1, -5:] = 0.0  # padding rows
    args = (tf.constant(rois), tf.constant(image), *map(tf.constant, features))
    native = PyramidROIAlign(7, canonical_size=CANONICAL, aligned=aligned)(*args).numpy()
    layer = PyramidROIAlign(7, canonical_size=CANONICAL, aligned=aligned, impl="gather")
    np.testing.assert_allclose(layer(*args).numpy(), native, atol=1e-5)
    np.testing.assert_allclose(tf.function(layer, jit_compile=True)(*args).numpy(), native,
                               atol=1e-4)
    with pytest.raises(tf.errors.InvalidArgumentError, match="CropAndResize"):
        tf.function(PyramidROIAlign(7, canonical_size=CANONICAL, aligned=aligned),
                    jit_compile=True)(*args)


def test_roi_align_default_canonical_size():
    """Default canonical 224: a 64x64 image sends every RoI to P2."""
    rng = np.random.default_rng(2)
    image, features = make_inputs(rng, batch=1, depth=1)
    rois = np.array([[[0.0, 0.0, 1.0, 1.0], roi(0.5, 0.5, 0.3)]], np.float32)
    got = PyramidROIAlign(4, aligned=False)(tf.constant(rois), tf.constant(image),
                             *map(tf.constant, features)).numpy()
    for r in range(2):
        np.testing.assert_allclose(got[r], np_roi_align(features[0][0], rois[0, r], 4), atol=1e-4)


@pytest.mark.parametrize("impl", IMPLS)
def test_roi_align_gradient_flows_to_features_only(impl):
    rng = np.random.default_rng(3)
    image, features = make_inputs(rng, batch=1, depth=1)
    feats = [tf.Variable(f) for f in features]
    rois = tf.Variable([[roi(0.5, 0.5, 0.25)]])
    with tf.GradientTape() as tape:
        out = PyramidROIAlign(3, canonical_size=CANONICAL, impl=impl)(rois, tf.constant(image),
                                                                      *feats)
        loss = tf.reduce_sum(out)
    grads = tape.gradient(loss, [rois, *feats])
    assert grads[0] is None or not np.any(grads[0].numpy())
    assert np.any(grads[2].numpy())  # P3 was read
    assert grads[1] is None or not np.any(grads[1].numpy())


@pytest.mark.parametrize("size, level", [
    (224.0, 4), (112.0, 3), (448.0, 5), (56.0, 2),
    (896.0, 5), (28.0, 2), (1.0, 2),                       # clipped
    (223.0, 3), (447.0, 4), (111.0, 2),                    # just under a power of two
    (224 * 2 ** 0.99, 4), (160.0, 3), (400.0, 4),          # rounding would say 5, 4, 5
    (224 * 2 ** -0.51, 3), (224 * 2 ** 0.51, 4),
])
def test_assign_roi_levels_formula(size, level):
    area = 1024.0 * 1024.0
    side = size / 1024.0  # normalized side of a square RoI
    rois = np.array([[0.1, 0.2, 0.1 + side, 0.2 + side]], np.float32)
    got = assign_roi_levels(tf.constant(rois), tf.constant(int(area))).numpy()
    assert got.dtype == np.int32
    assert got[0] == level == np_levels(rois, area)[0]


def test_assign_roi_levels_random_and_degenerate():
    rng = np.random.default_rng(4)
    y = np.sort(rng.uniform(size=(3, 40, 2)), -1)
    x = np.sort(rng.uniform(size=(3, 40, 2)), -1)
    rois = np.stack([y[..., 0], x[..., 0], y[..., 1], x[..., 1]], -1).astype(np.float32)
    rois[0, 0] = 0.0  # padding RoI: smallest level, no NaN
    got = assign_roi_levels(tf.constant(rois), 800 * 800).numpy()
    assert got.shape == (3, 40)
    np.testing.assert_array_equal(got, np_levels(rois, 800 * 800))
    assert got[0, 0] == 2
    assert set(np.unique(got)) > {2}
