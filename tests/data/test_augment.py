"""Augmentations keep masks on their objects' pixels and are deterministic given the rng."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from mrcnn.data import ShapesDataset, augment


@pytest.fixture(scope="module")
def samples():
    """Shapes images (each shape a flat colour, later shapes on top) with visible masks."""
    dataset = ShapesDataset()
    dataset.load_shapes(6, 64, 64, seed=7)
    dataset.prepare()
    out = []
    for image_id in dataset.image_ids:
        image = dataset.load_image(image_id)
        masks, _ = dataset.load_mask(image_id)
        shapes = dataset.image_info[image_id]["shapes"]
        # Colour of mask i: the colour of its (visible) shape, in mask order.
        visible = [s for s, keep in zip(shapes, _visible(dataset, image_id)) if keep]
        colours = np.array([s[1] for s in visible], np.uint8)
        out.append((image, masks, colours))
    return out


def _visible(dataset, image_id):
    info = dataset.image_info[image_id]
    masks = np.zeros((info["height"], info["width"], len(info["shapes"])), bool)
    from mrcnn.data.shapes import _draw_shape
    for i, (name, _, dims) in enumerate(info["shapes"]):
        canvas = np.zeros(masks.shape[:2], np.uint8)
        _draw_shape(canvas, name, dims, 1)
        masks[..., i] = canvas > 0
    covered = np.zeros(masks.shape[:2], bool)
    keep = []
    for i in range(masks.shape[-1] - 1, -1, -1):
        keep.append((masks[..., i] & ~covered).any())
        covered |= masks[..., i]
    return keep[::-1]


GEOMETRIC_EXACT = [augment.Fliplr(), augment.Flipud(), augment.Rot90(), augment.Rot90(k=1),
                   augment.Rot90(k=2), augment.Rot90(k=3)]


def _colour_fraction(image, mask, colour):
    """Fraction of the mask's pixels that have exactly ``colour``."""
    if not mask.any():
        return 1.0
    return float(np.all(image[mask] == colour, axis=-1).mean())


@pytest.mark.parametrize("fn", GEOMETRIC_EXACT, ids=repr)
def test_exact_geometric_transforms_keep_every_mask_pixel_on_its_colour(samples, fn):
    for seed, (image, masks, colours) in enumerate(samples):
        assert _colour_fraction(image, masks[..., 0], colours[0]) == 1.0  # the premise
        out, out_masks = fn(image, masks, np.random.default_rng(seed))
        assert out.shape == image.shape and out.dtype == np.uint8
        assert out_masks.shape == masks.shape and out_masks.dtype == bool
        assert out_masks.sum() == masks.sum()
        for i, colour in enumerate(colours):
            assert _colour_fraction(out, out_masks[..., i], colour) == 1.0


@pytest.mark.parametrize("fn", [augment.ScaleJitter(0.7, 1.4), augment.RandomCrop(0.6)],
                         ids=repr)
def test_zooms_keep_size_and_mask_interiors_on_their_colour(samples, fn):
    kernel = np.ones((5, 5), np.uint8)
    changed = 0
    for seed, (image, masks, colours) in enumerate(samples):
        out, out_masks = fn(image, masks, np.random.default_rng(seed))
        assert out.shape == image.shape and out_masks.shape == masks.shape
        changed += not np.array_equal(out_masks, masks)
        for i, colour in enumerate(colours):
            interior = cv2.erode(out_masks[..., i].astype(np.uint8), kernel,
                                 borderType=cv2.BORDER_CONSTANT, borderValue=0) > 0
            assert _colour_fraction(out, interior, colour) == 1.0
            if interior.sum() >= 30:  # most of a sizeable mask, edges included, too
                assert _colour_fraction(out, out_masks[..., i], colour) > 0.6
    assert changed >= len(samples) - 1


def test_scale_jitter_zooms_out_with_padding_and_in_with_cropping():
    image = np.full((40, 40, 3), 200, np.uint8)
    masks = np.ones((40, 40, 1), bool)
    small, small_masks = augment.ScaleJitter(0.5, 0.5)(image, masks, np.random.default_rng(0))
    assert small_masks.sum() == 400 and (small[small_masks[..., 0]] == 200).all()
    assert (small[~small_masks[..., 0]] == 0).all()
    big, big_masks = augment.ScaleJitter(2.0, 2.0)(image, masks, np.random.default_rng(0))
    assert big_masks.all() and (big == 200).all()


@pytest.mark.parametrize("fn", [augment.Brightness(40), augment.Contrast(0.5, 1.5)], ids=repr)
def test_photometric_transforms_leave_masks_and_keep_objects_uniform(samples, fn):
    for seed, (image, masks, _colours) in enumerate(samples):
        out, out_masks = fn(image, masks, np.random.default_rng(seed))
        assert out_masks is masks and out.dtype == np.uint8 and out.shape == image.shape
        for i in range(masks.shape[-1]):
            pixels = out[masks[..., i]]
            assert (pixels == pixels[0]).all(), "a flat-coloured object stays flat"


def test_empty_masks_pass_through_every_transform():
    image = np.random.default_rng(0).integers(0, 256, (32, 48, 3), dtype=np.uint8)
    masks = np.zeros((32, 48, 0), bool)
    for fn in [augment.Fliplr(), augment.Flipud(), augment.Rot90(k=2),
               augment.ScaleJitter(), augment.RandomCrop(), augment.Brightness(),
               augment.Contrast(), augment.default_augmentation(flip_ud=True)]:
        out, out_masks = fn(image, masks, np.random.default_rng(1))
        assert out.shape == image.shape and out_masks.shape == (32, 48, 0)


def test_compose_is_deterministic_given_the_seed_and_varies_across_seeds(samples):
    pipeline = augment.default_augmentation(flip_ud=True, rotate=True)
    image, masks, _ = samples[0]
    first = pipeline(image, masks, np.random.default_rng([3, 9]))
    again = pipeline(image, masks, np.random.default_rng([3, 9]))
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])
    outputs = {pipeline(image, masks, np.random.default_rng(s))[0].tobytes() for s in range(12)}
    assert len(outputs) > 6


def test_sometimes_oneof_and_compose_probabilities():
    image = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    masks = np.zeros((2, 3, 1), bool)
    masks[0, 0, 0] = True
    flips = [augment.Compose([(0.3, augment.Fliplr())])(image, masks,
                                                         np.random.default_rng(s))[1][0, 2, 0]
             for s in range(400)]
    assert 0.22 < np.mean(flips) < 0.38
    never = augment.Sometimes(0.0, augment.Fliplr())(image, masks, np.random.default_rng(0))
    assert never[0] is image
    chosen = augment.OneOf([augment.Fliplr(), augment.Flipud()], weights=[0, 1])(
        image, masks, np.random.default_rng(0))
    np.testing.assert_array_equal(chosen[0], image[::-1])
    with pytest.raises(TypeError):
        augment.Compose([42])
    with pytest.raises(ValueError):
        augment.Fliplr()(image, masks[:1], np.random.default_rng(0))


def test_augmentation_runs_in_the_training_input_pipeline(shapes64):
    from mrcnn.engine.input_pipeline import load_image_gt
    from tests.helpers import tiny_config

    config = tiny_config()
    pipeline = augment.default_augmentation(rotate=True)
    a = load_image_gt(shapes64, config, 0, pipeline, np.random.default_rng(5))
    b = load_image_gt(shapes64, config, 0, pipeline, np.random.default_rng(5))
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    image, _, class_ids, boxes, masks = a
    assert image.shape == (64, 64, 3) and len(class_ids) == len(boxes)
