"""Tests for the synthetic shapes data set."""

import numpy as np
import pytest

from mrcnn.data import ShapesDataset

HEIGHT, WIDTH = 64, 80


def _shapes(seed: int, count: int = 12) -> ShapesDataset:
    dataset = ShapesDataset()
    dataset.load_shapes(count, HEIGHT, WIDTH, seed=seed)
    dataset.prepare()
    return dataset


@pytest.fixture(scope="module")
def shapes() -> ShapesDataset:
    return _shapes(seed=7)


def test_classes(shapes: ShapesDataset) -> None:
    assert shapes.class_names == ["BG", "square", "circle", "triangle"]
    assert shapes.num_images == 12


def test_same_seed_is_deterministic(shapes: ShapesDataset) -> None:
    again = _shapes(seed=7)
    for image_id in shapes.image_ids:
        np.testing.assert_array_equal(shapes.load_image(image_id), again.load_image(image_id))
        masks, class_ids = shapes.load_mask(image_id)
        masks_again, class_ids_again = again.load_mask(image_id)
        np.testing.assert_array_equal(masks, masks_again)
        np.testing.assert_array_equal(class_ids, class_ids_again)


def test_image_depends_only_on_seed_and_index() -> None:
    short = _shapes(seed=7, count=3)
    long = _shapes(seed=7, count=6)
    for image_id in short.image_ids:
        np.testing.assert_array_equal(short.load_image(image_id), long.load_image(image_id))


def test_different_seed_differs(shapes: ShapesDataset) -> None:
    other = _shapes(seed=8)
    differing = [
        not np.array_equal(shapes.load_image(i), other.load_image(i)) for i in shapes.image_ids
    ]
    assert all(differing)


def test_masks_match_images(shapes: ShapesDataset) -> None:
    for image_id in shapes.image_ids:
        image = shapes.load_image(image_id)
        masks, class_ids = shapes.load_mask(image_id)
        assert image.shape == (HEIGHT, WIDTH, 3) and image.dtype == np.uint8
        assert masks.dtype == bool and class_ids.dtype == np.int32
        assert masks.shape[:2] == (HEIGHT, WIDTH)
        assert 1 <= masks.shape[-1] <= 4
        assert masks.shape[-1] == class_ids.shape[0]
        assert set(class_ids.tolist()) <= {1, 2, 3}
        assert masks.any(axis=(0, 1)).all(), "no instance may have an empty mask"
        assert masks.sum(axis=-1).max() <= 1, "masks must not overlap after occlusion"


def test_mask_pixels_have_shape_colour(shapes: ShapesDataset) -> None:
    for image_id in shapes.image_ids:
        info = shapes.image_info[image_id]
        image = shapes.load_image(image_id)
        masks, class_ids = shapes.load_mask(image_id)
        assert (image[~masks.any(axis=-1)] == info["bg_color"]).all()
        remaining = iter(info["shapes"])
        for k, class_id in enumerate(class_ids):
            pixels = image[masks[..., k]]
            spec = next(s for s in remaining if tuple(pixels[0]) == s[1])
            assert spec[0] == shapes.class_names[class_id]
            assert (pixels == spec[1]).all()


def test_occlusion_drops_hidden_shape() -> None:
    dataset = ShapesDataset()
    dataset.load_shapes(1, HEIGHT, WIDTH, seed=0)
    dataset.prepare()
    dataset.image_info[0]["shapes"] = [
        ("circle", (255, 0, 0), (30, 30, 5)),
        ("square", (0, 255, 0), (30, 30, 10)),
        ("triangle", (0, 0, 255), (10, 60, 8)),
    ]
    masks, class_ids = dataset.load_mask(0)
    np.testing.assert_array_equal(class_ids, [1, 3])
    assert masks[30, 30, 0] and not masks[30, 30, 1]
    assert masks[..., 0].sum() == 21 * 21
    image = dataset.load_image(0)
    np.testing.assert_array_equal(image[30, 30], [0, 255, 0])


def test_image_reference(shapes: ShapesDataset) -> None:
    assert shapes.image_reference(3) == "shapes:7:3"
