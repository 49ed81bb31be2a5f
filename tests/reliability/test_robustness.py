"""Fuzz / robustness: broken files, odd masks and odd images through loading
(load_image_gt), a training step and detection: a clear error or a valid output."""

from __future__ import annotations

import numpy as np
import pytest

from mrcnn.engine.input_pipeline import load_image_gt
from tests.reliability.conftest import (
    MadeToOrder,
    box_masks,
    one_batch,
    png_file,
    random_image,
    train_step_losses,
    weights_finite,
)

H = W = 64


def _one(name="case", **kwargs) -> MadeToOrder:
    dataset = MadeToOrder().add(name, **kwargs)
    dataset.prepare()
    return dataset


def _many_instances(n=500, seed=0):
    rng = np.random.default_rng(seed)
    masks = np.zeros((H, W, n), bool)
    ys, xs = rng.integers(0, H, n), rng.integers(0, W, n)
    masks[ys, xs, np.arange(n)] = True  # one pixel each, overlaps allowed
    masks[np.minimum(ys + 1, H - 1), xs, np.arange(n)] = True
    return masks, rng.integers(1, 4, n).astype(np.int32)


# ----------------------------------------------------------------------------- loading
def _truncated(tmp_path, suffix):
    path = tmp_path / f"cut{suffix}"
    png_file(path, random_image(40, 50))
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])
    return str(path)


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_truncated_file_is_a_clear_error(tmp_path, rel_config, suffix):
    path = _truncated(tmp_path, suffix)
    dataset = _one(path=path)
    with pytest.raises(ValueError, match=r"image 0 .*cut\.(png|jpg).*could not decode"):
        load_image_gt(dataset, rel_config, 0)


def test_zero_byte_file_is_a_clear_error(tmp_path, rel_config):
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    with pytest.raises(ValueError, match=r"image 0 .*empty\.png.*empty file \(0 bytes\)"):
        load_image_gt(_one(path=str(path)), rel_config, 0)


@pytest.mark.parametrize("masks, class_ids, message", [
    (np.ones((32, 32, 1), bool), [1], r"masks are 32x32 .* but the image is 64x64"),
    (np.ones((128, 32, 1), bool), [1], r"masks are 128x32"),  # same size, other shape
    (np.ones((H, W), bool), [1], r"masks have shape \(64, 64\); expected \[H, W, N\]"),
    (np.ones((H, W, 2), bool), [1], r"2 mask\(s\) but 1 class id\(s\)"),
    (np.ones((H, W, 1), bool), [7], r"class id\(s\) \[7\] out of range: 4 classes"),
    (np.ones((H, W, 1), bool), [0], r"class id 0 \(the background\)"),
    (np.ones((H, W, 1), bool), [[1]], r"class ids have shape \(1, 1\)"),
    (np.full((H, W, 1), np.nan), [1], r"NaN"),
])
def test_bad_masks_are_clear_errors(rel_config, masks, class_ids, message):
    dataset = _one("bad", pixels=random_image(), masks=masks, class_ids=np.array(class_ids))
    with pytest.raises(ValueError, match=r"MadeToOrder image 0: .*" + message):
        load_image_gt(dataset, rel_config, 0)


def test_odd_but_valid_ground_truth_loads(rel_config):
    dataset = MadeToOrder()
    dataset.add("all_zero", pixels=random_image(), masks=np.zeros((H, W, 3), bool),
                class_ids=np.array([1, 2, 3]))
    dataset.add("one_pixel", pixels=random_image(), masks=box_masks(H, W, [(5, 6, 6, 7)]),
                class_ids=np.array([2]))
    dataset.add("many", pixels=random_image(), masks=_many_instances()[0],
                class_ids=_many_instances()[1])
    dataset.add("none", pixels=random_image())
    dataset.add("gray16", pixels=(random_image()[..., 0].astype(np.uint16) * 257),
                masks=box_masks(H, W, [(0, 0, 10, 10)]), class_ids=np.array([1]))
    dataset.prepare()
    counts = []
    for image_id in dataset.image_ids:
        image, meta, class_ids, boxes, masks = load_image_gt(dataset, rel_config, image_id)
        assert image.shape == (H, W, 3) and image.dtype == np.uint8
        assert masks.shape == (H, W, len(class_ids)) and boxes.shape == (len(class_ids), 4)
        assert ((boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])).all()
        counts.append(len(class_ids))
    assert counts == [0, 1, 500, 0, 1]
    _, _, _, boxes, _ = load_image_gt(dataset, rel_config, 1)
    assert boxes.tolist() == [[5, 6, 6, 7]]


def test_instances_vanishing_after_resize_or_augmentation_are_dropped(rel_config):
    """A 1-pixel-wide line on a 256x256 image disappears at scale 0.25 (the bilinear
    resize samples columns 4k + 1.5, between 101 and 102, never column 100 itself); an
    augmentation that blanks the left half removes the instance there. Both images stay
    usable."""
    masks = box_masks(256, 256, [(10, 100, 200, 101), (100, 100, 180, 180)])
    dataset = _one(pixels=random_image(256, 256), masks=masks, class_ids=np.array([1, 2]))
    _, _, class_ids, boxes, masks = load_image_gt(dataset, rel_config, 0)
    assert class_ids.tolist() == [2] and masks.shape == (H, W, 1)

    def blank_left(image, masks, rng):
        masks = masks.copy()
        masks[:, :W // 2] = False
        return image, masks

    two = box_masks(H, W, [(0, 0, 10, 10), (40, 40, 50, 50)])
    dataset = _one(pixels=random_image(), masks=two, class_ids=np.array([3, 1]))
    _, _, class_ids, boxes, _ = load_image_gt(dataset, rel_config, 0, augmentation=blank_left)
    assert class_ids.tolist() == [1] and boxes.tolist() == [[40, 40, 50, 50]]
    dataset = _one(pixels=random_image(), masks=two[..., :1], class_ids=np.array([3]))
    _, _, class_ids, boxes, masks = load_image_gt(dataset, rel_config, 0, augmentation=blank_left)
    assert class_ids.shape == (0,) and boxes.shape == (0, 4) and masks.shape == (H, W, 0)


def test_nan_image_from_a_loader_is_a_clear_error(rel_config):
    pixels = np.full((H, W, 3), 0.5, np.float32)
    pixels[3, 4, 0] = np.nan
    with pytest.raises(ValueError, match=r"MadeToOrder image 0.*NaN"):
        load_image_gt(_one(pixels=pixels), rel_config, 0)


# ----------------------------------------------------------------------------- training
def test_training_step_on_odd_ground_truth_is_finite(trainer, rel_config):
    """Zero instances, masks that are all zero, 1-pixel masks, 500 instances (more than
    MAX_GT_INSTANCES: subsampled), a mask that vanishes at the resize: every loss finite,
    weights finite after the step."""
    many_masks, many_ids = _many_instances()
    cases = {
        "no instances": [dict(), dict()],
        "all-zero masks": [dict(masks=np.zeros((H, W, 2), bool), class_ids=np.array([1, 2]))] * 2,
        "1-pixel masks": [dict(masks=box_masks(H, W, [(5, 6, 6, 7), (40, 40, 41, 41)]),
                               class_ids=np.array([1, 3]))] * 2,
        "500 instances": [dict(masks=many_masks, class_ids=many_ids)] * 2,
        "vanishes at resize": [dict(pixels=random_image(256, 256),
                                    masks=box_masks(256, 256, [(10, 101, 200, 102)]),
                                    class_ids=np.array([1]))] * 2,
    }
    for name, specs in cases.items():
        dataset = MadeToOrder()
        for k, spec in enumerate(specs):
            dataset.add(f"{name}{k}", **{"pixels": random_image(seed=k), **spec})
        dataset.prepare()
        losses = train_step_losses(trainer, one_batch(dataset, rel_config))
        assert all(np.isfinite(v) for v in losses.values()), (name, losses)
        assert weights_finite(trainer), name
        if name in ("no instances", "all-zero masks", "vanishes at resize"):
            # Nothing positive: the box and mask losses are exactly 0, not NaN.
            assert losses["rpn_bbox_loss"] == 0.0, losses
            assert losses["mrcnn_bbox_loss"] == 0.0 and losses["mrcnn_mask_loss"] == 0.0, losses
            assert losses["rpn_class_loss"] > 0 and losses["mrcnn_class_loss"] > 0, losses


# ----------------------------------------------------------------------------- detection
def _valid(result, shape):
    n = len(result["class_ids"])
    assert result["rois"].shape == (n, 4) and result["scores"].shape == (n,)
    assert result["masks"].shape == tuple(shape[:2]) + (n,) and result["masks"].dtype == bool
    return n


def test_detect_accepts_every_documented_layout_and_dtype(detector):
    rgb = random_image(48, 80, seed=5)
    gray = rgb[..., 1]
    cases = [
        rgb,
        gray,  # [H, W]
        gray[..., None],  # [H, W, 1]
        np.dstack([rgb, np.full(rgb.shape[:2], 200, np.uint8)]),  # RGBA
        rgb.astype(np.float32) / 255.0,  # float 0..1
        rgb.astype(np.float64),  # float 0..255
        rgb.astype(np.uint16) * 257,  # uint16: top 8 bits are the uint8 values
    ]
    results = detector.detect(cases)
    for image, r in zip(cases, results):
        _valid(r, image.shape)
    same_as_rgb = [results[i] for i in (0, 3, 4, 5, 6)]
    for r in same_as_rgb[1:]:
        np.testing.assert_array_equal(r["rois"], same_as_rgb[0]["rois"])
        np.testing.assert_allclose(r["scores"], same_as_rgb[0]["scores"], rtol=1e-5)
    gray_rgb = detector.detect([np.repeat(gray[..., None], 3, axis=2)])[0]
    for r in results[1:3]:
        np.testing.assert_array_equal(r["rois"], gray_rgb["rois"])


@pytest.mark.parametrize("shape", [(1, 1), (2, 3), (1, 700), (700, 1), (3, 1000), (64, 2)])
def test_detect_on_tiny_and_elongated_images(detector, shape):
    image = random_image(*shape, seed=1)
    (result,) = detector.detect([image])
    n = _valid(result, shape)
    if n:
        rois = result["rois"]
        assert (rois[:, 2] > rois[:, 0]).all() and (rois[:, 3] > rois[:, 1]).all()


@pytest.mark.parametrize("bad, message", [
    (np.zeros((8, 8, 3, 1), np.uint8), r"image 1: expected an image of shape \[H, W\]"),
    (np.zeros((8,), np.uint8), r"image 1: expected an image of shape"),
    (np.zeros((8, 8, 5), np.uint8), r"image 1: .*got shape \(8, 8, 5\)"),
    (np.zeros((0, 10, 3), np.uint8), r"image 1: empty image"),
    (np.full((8, 8, 3), np.nan, np.float32), r"image 1: 192 pixel value\(s\) are NaN"),
    (np.array([[1.0, np.inf]]), r"image 1: 1 pixel value\(s\) are NaN or infinite"),
    (b"\x89PNG", r"image 1: expected a numpy array, a PIL image or a file path, got "
                  r"builtins.bytes"),
])
def test_detect_rejects_bad_images_naming_the_index(detector, bad, message):
    with pytest.raises(ValueError, match=message):
        detector.detect([random_image(16, 16), bad])


def test_detect_takes_a_string_as_a_path_and_names_it_when_missing(detector):
    with pytest.raises(FileNotFoundError, match=r"image 1 \(not an image\): file not found"):
        detector.detect([random_image(16, 16), "not an image"])
