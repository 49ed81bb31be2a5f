"""Tests for the Dataset registry, image loading and extract_bboxes."""

import numpy as np
import pytest
from PIL import Image

from mrcnn.data import Dataset, extract_bboxes


class TwoSourceDataset(Dataset):
    """Toy subclass with classes and images from sources "a" and "b"."""

    def load_toy(self) -> None:
        self.add_class("a", 1, "cat, feline")
        self.add_class("a", 2, " dog ")
        self.add_class("b", 1, "car,automobile")
        self.add_class("a", 1, "duplicate ignored")
        self.add_image("a", image_id=10, path="/nowhere/a10.png", width=4)
        self.add_image("b", image_id="x7", path="/nowhere/b7.png")


@pytest.fixture
def toy() -> TwoSourceDataset:
    dataset = TwoSourceDataset()
    dataset.load_toy()
    dataset.prepare()
    return dataset


def test_prepare_builds_class_tables(toy: TwoSourceDataset) -> None:
    assert toy.num_classes == 4
    np.testing.assert_array_equal(toy.class_ids, [0, 1, 2, 3])
    assert toy.class_names == ["BG", "cat", "dog", "car"]
    assert toy.class_from_source_map == {".0": 0, "a.1": 1, "a.2": 2, "b.1": 3}
    assert toy.sources == ["", "a", "b"]
    assert toy.source_class_ids == {"": [0], "a": [0, 1, 2], "b": [0, 3]}


def test_prepare_builds_image_tables(toy: TwoSourceDataset) -> None:
    assert toy.num_images == 2
    np.testing.assert_array_equal(toy.image_ids, [0, 1])
    assert toy.image_from_source_map == {"a.10": 0, "b.x7": 1}
    assert toy.image_info[0]["width"] == 4
    assert toy.source_image_link(1) == "/nowhere/b7.png"
    assert toy.image_reference(0) == "/nowhere/a10.png"


def test_source_class_id_round_trip(toy: TwoSourceDataset) -> None:
    assert toy.map_source_class_id("b.1") == 3
    assert toy.map_source_class_id("a.2") == 2
    assert toy.get_source_class_id(3, "b") == 1
    with pytest.raises(AssertionError):
        toy.get_source_class_id(3, "a")
    with pytest.raises(KeyError, match="c.1"):
        toy.map_source_class_id("c.1")


def test_add_class_rejects_dot_in_source() -> None:
    with pytest.raises(AssertionError):
        Dataset().add_class("a.b", 1, "x")


def test_base_load_mask_is_empty(toy: TwoSourceDataset) -> None:
    masks, class_ids = toy.load_mask(0)
    assert masks.shape == (0, 0, 0) and masks.dtype == bool
    assert class_ids.shape == (0,) and class_ids.dtype == np.int32


def _dataset_with_file(path: str) -> Dataset:
    dataset = Dataset()
    dataset.add_image("files", image_id="img", path=path)
    dataset.prepare()
    return dataset


def _load(tmp_path, image: Image.Image) -> np.ndarray:
    path = str(tmp_path / "image.png")
    image.save(path)
    loaded = _dataset_with_file(path).load_image(0)
    assert loaded.dtype == np.uint8
    assert loaded.ndim == 3 and loaded.shape[-1] == 3
    return loaded


def test_load_rgb(tmp_path) -> None:
    pixels = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3) * 10
    np.testing.assert_array_equal(_load(tmp_path, Image.fromarray(pixels)), pixels)


def test_load_grayscale(tmp_path) -> None:
    gray = np.array([[0, 100], [200, 255]], dtype=np.uint8)
    loaded = _load(tmp_path, Image.fromarray(gray, mode="L"))
    np.testing.assert_array_equal(loaded, np.stack([gray] * 3, axis=-1))


def test_load_rgba_drops_alpha(tmp_path) -> None:
    rgba = np.array([[[10, 20, 30, 0], [40, 50, 60, 255]]], dtype=np.uint8)
    loaded = _load(tmp_path, Image.fromarray(rgba, mode="RGBA"))
    np.testing.assert_array_equal(loaded, rgba[..., :3])


def test_load_16bit_grayscale(tmp_path) -> None:
    deep = np.array([[0, 65535], [256, 1000]], dtype=np.uint16)
    loaded = _load(tmp_path, Image.fromarray(deep))
    np.testing.assert_array_equal(loaded[..., 0], [[0, 255], [1, 3]])
    np.testing.assert_array_equal(loaded[..., 0], loaded[..., 2])


def test_load_palette(tmp_path) -> None:
    image = Image.fromarray(np.array([[0, 1], [2, 1]], dtype=np.uint8), mode="P")
    image.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * (3 * 253))
    loaded = _load(tmp_path, image)
    red, green, blue = [255, 0, 0], [0, 255, 0], [0, 0, 255]
    np.testing.assert_array_equal(loaded, [[red, green], [blue, green]])


def test_missing_file_names_id_and_path(tmp_path) -> None:
    path = str(tmp_path / "missing.png")
    with pytest.raises(FileNotFoundError, match=r"image 0 .*missing\.png"):
        _dataset_with_file(path).load_image(0)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_undecodable_file_names_id_and_path(tmp_path) -> None:
    path = tmp_path / "broken.png"
    path.write_bytes(b"not an image")
    with pytest.raises(ValueError, match=r"image 0 .*broken\.png"):
        _dataset_with_file(str(path)).load_image(0)


def test_extract_bboxes() -> None:
    masks = np.zeros([6, 8, 3], dtype=bool)
    masks[1:3, 2:5, 0] = True
    masks[5, 7, 1] = True
    masks[0, 0, 1] = True
    boxes = extract_bboxes(masks)
    assert boxes.dtype == np.int32
    np.testing.assert_array_equal(boxes, [[1, 2, 3, 5], [0, 0, 6, 8], [0, 0, 0, 0]])


def test_extract_bboxes_no_instances() -> None:
    assert extract_bboxes(np.zeros([4, 4, 0], dtype=bool)).shape == (0, 4)
