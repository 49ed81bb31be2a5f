"""CachedDataset: same classes and images, memoised, optionally downscaled."""

from __future__ import annotations

import numpy as np
import pytest

from mrcnn.data import CachedDataset, ShapesDataset
from mrcnn.data.dataset import has_crowd
from mrcnn.data.subset import DatasetSubset


@pytest.fixture
def shapes():
    dataset = ShapesDataset()
    dataset.load_shapes(4, 96, 128, seed=2)
    dataset.prepare()
    return dataset


def test_full_size_cache_returns_the_same_data_and_copies(shapes):
    cached = CachedDataset(shapes)
    assert cached.class_names == shapes.class_names and cached.num_images == 4
    for image_id in shapes.image_ids:
        np.testing.assert_array_equal(cached.load_image(image_id), shapes.load_image(image_id))
        masks, class_ids = cached.load_mask(image_id)
        expected = shapes.load_mask(image_id)
        np.testing.assert_array_equal(masks, expected[0])
        np.testing.assert_array_equal(class_ids, expected[1])
        masks[:] = False  # callers may modify what they get
        assert cached.load_mask(image_id)[0].any()
    assert cached.image_reference(1) == shapes.image_reference(1)


def test_downscaled_cache_keeps_masks_on_the_image(shapes):
    cached = CachedDataset(shapes, max_dim=64)
    for image_id in shapes.image_ids:
        image = cached.load_image(image_id)
        masks, class_ids = cached.load_mask(image_id)
        assert image.shape == (48, 64, 3) and masks.shape[:2] == (48, 64)
        assert cached.image_info[image_id]["height"] == 48
        full = shapes.load_mask(image_id)[0]
        assert masks.shape[-1] == len(class_ids) <= full.shape[-1]
        # Each shape covers the same share of the picture at both sizes.
        for i in range(masks.shape[-1]):
            assert abs(masks[..., i].mean() - full[..., i].mean()) < 0.01
    with pytest.raises(RuntimeError, match="prepare"):
        CachedDataset(ShapesDataset())


def test_masks_with_crowd_regions_are_kept_too(shapes):
    """Training reads masks through load_mask_with_crowd: it must not go back to the
    wrapped data set (decoding, rasterising polygons) for every sample."""
    calls = {"crowd": 0, "plain": 0}

    class WithCrowd(ShapesDataset):
        def load_mask(self, image_id):
            calls["plain"] += 1
            return super().load_mask(image_id)

        def load_mask_with_crowd(self, image_id):
            calls["crowd"] += 1
            masks, class_ids = super().load_mask(image_id)
            crowd = np.zeros(masks.shape[:2] + (1,), bool)
            crowd[:4, :4] = True
            return np.concatenate([masks, crowd], -1), np.append(class_ids, -1)

    dataset = WithCrowd()
    dataset.load_shapes(2, 96, 128, seed=2)
    dataset.prepare()
    cached = CachedDataset(dataset)
    for _ in range(3):
        masks, class_ids = cached.load_mask_with_crowd(1)
        assert class_ids[-1] == -1 and masks[:4, :4, -1].all()
        masks[:] = False  # a copy
    assert calls == {"crowd": 1, "plain": 0}
    # Through a subset too; without crowd regions of its own (a subset of a data set
    # without them either), the data set's masks are kept once, not twice.
    assert CachedDataset(DatasetSubset(dataset, [1, 0])).has_crowd
    for plain, source in [(CachedDataset(shapes), shapes),
                          (CachedDataset(DatasetSubset(shapes, [0])), shapes)]:
        assert not plain.has_crowd
        for _ in range(3):
            np.testing.assert_array_equal(plain.load_mask_with_crowd(0)[0],
                                          source.load_mask(0)[0])
        assert list(plain._masks) == [0] and not plain._crowd_masks


def test_duck_typed_data_sets_say_whether_they_have_crowd_regions(shapes):
    """A data set that is not a Dataset has crowd regions when it has the method; wrappers
    answer for what they wrap."""

    class Plain:
        def load_mask(self, image_id):
            return shapes.load_mask(image_id)

    class WithCrowd(Plain):
        def load_mask_with_crowd(self, image_id):
            return shapes.load_mask(image_id)

    assert has_crowd(WithCrowd()) and not has_crowd(Plain()) and not has_crowd(shapes)
    assert not CachedDataset(shapes).has_crowd
