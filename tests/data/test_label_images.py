"""LabelImageDataset: one label PNG per image, 0 background, 1..N instances."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from mrcnn.data import LabelImageDataset


@pytest.fixture
def pairs(tmp_path):
    labels = np.zeros((12, 16), np.uint8)
    labels[1:4, 1:5] = 1
    labels[6:10, 2:6] = 2
    labels[2:5, 10:15] = 7  # ids need not be contiguous
    Image.fromarray(np.zeros((12, 16, 3), np.uint8)).save(tmp_path / "a.png")
    Image.fromarray(labels, "L").save(tmp_path / "a_mask.png")
    palette = Image.fromarray(labels, "P")
    palette.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0] + [9] * 759)
    Image.fromarray(np.zeros((12, 16), np.uint8)).save(tmp_path / "b.png")  # grey image
    palette.save(tmp_path / "b_mask.png")
    big = labels.astype(np.uint16) * 300
    Image.fromarray(np.zeros((12, 16, 3), np.uint8)).save(tmp_path / "c.png")
    Image.fromarray(big).save(tmp_path / "c_mask.png")
    return tmp_path, labels


def load(tmp_path, names=("a", "b", "c")):
    dataset = LabelImageDataset()
    dataset.load_label_images([tmp_path / f"{n}.png" for n in names],
                              [tmp_path / f"{n}_mask.png" for n in names], "cell")
    dataset.prepare()
    return dataset


def test_every_label_value_is_one_instance_for_grey_palette_and_16_bit(pairs):
    tmp_path, labels = pairs
    dataset = load(tmp_path)
    assert dataset.class_names == ["BG", "cell"]
    for image_id in dataset.image_ids:
        masks, class_ids = dataset.load_mask(image_id)
        assert masks.shape == (12, 16, 3) and masks.dtype == bool
        assert class_ids.tolist() == [1, 1, 1]
        for i, value in enumerate((1, 2, 7)):
            np.testing.assert_array_equal(masks[..., i], labels == value)
        image = dataset.load_image(image_id)
        assert image.shape == (12, 16, 3) and image.dtype == np.uint8


def test_mismatched_and_missing_files_are_reported(pairs):
    tmp_path, _ = pairs
    Image.fromarray(np.zeros((5, 5), np.uint8)).save(tmp_path / "d_mask.png")
    Image.fromarray(np.zeros((12, 16, 3), np.uint8)).save(tmp_path / "d.png")
    with pytest.raises(ValueError, match=r"d_mask.png is 5x5 but its image .*d.png is 16x12"):
        load(tmp_path, ["d"])
    with pytest.raises(FileNotFoundError, match=r"pair 0: label image not found: .*e_mask"):
        LabelImageDataset().load_label_images([tmp_path / "a.png"], [tmp_path / "e_mask.png"])
    with pytest.raises(ValueError, match="pair by position"):
        LabelImageDataset().load_label_images([tmp_path / "a.png"], [])
    Image.fromarray(np.zeros((12, 16, 3), np.uint8)).save(tmp_path / "rgb_mask.png")
    with pytest.raises(ValueError, match="mode 'RGB'"):
        LabelImageDataset().load_label_images([tmp_path / "a.png"],
                                              [tmp_path / "rgb_mask.png"])
