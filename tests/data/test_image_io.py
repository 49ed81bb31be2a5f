"""mrcnn.data.image_io: files and PIL images decoded as a photo viewer shows them.

Every file is written here with Pillow, tifffile or by hand (16-bit RGB PNG), never
downloaded.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from mrcnn.data import Dataset
from mrcnn.data.image_io import read_image, to_image_array

# EXIF orientation, as the standard defines it: which side of the picture as viewed the
# stored image's first row and first column are on.
EXIF_SIDES = {1: ("top", "left"), 2: ("top", "right"), 3: ("bottom", "right"),
              4: ("bottom", "left"), 5: ("left", "top"), 6: ("right", "top"),
              7: ("right", "bottom"), 8: ("left", "bottom")}


def viewed(stored: np.ndarray, orientation: int) -> np.ndarray:
    """What a viewer shows for ``stored`` pixels tagged with ``orientation``."""
    row0, col0 = EXIF_SIDES[orientation]
    if row0 in ("top", "bottom"):
        out, vertical, horizontal = stored, row0, col0
    else:  # stored rows run across the view: stored row index grows along viewed columns
        out, vertical, horizontal = np.swapaxes(stored, 0, 1), col0, row0
    if vertical == "bottom":
        out = out[::-1]
    if horizontal == "right":
        out = out[:, ::-1]
    return out


def pattern(block: int = 1) -> np.ndarray:
    """A 2 x 3 grid of distinct colours (each ``block`` pixels square): every orientation
    of it differs from every other."""
    colours = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255]],
                        [[255, 255, 0], [0, 255, 255], [255, 0, 255]]], dtype=np.uint8)
    return colours.repeat(block, axis=0).repeat(block, axis=1)


def save_with_orientation(path: Path, pixels: np.ndarray, orientation: int, **kw) -> None:
    exif = Image.Exif()
    exif[274] = orientation
    Image.fromarray(pixels).save(path, exif=exif, **kw)


def test_viewed_matches_the_usual_names() -> None:
    stored = pattern()
    np.testing.assert_array_equal(viewed(stored, 6), np.rot90(stored, -1))  # 90° clockwise
    np.testing.assert_array_equal(viewed(stored, 8), np.rot90(stored, 1))
    np.testing.assert_array_equal(viewed(stored, 3), stored[::-1, ::-1])
    np.testing.assert_array_equal(viewed(stored, 2), stored[:, ::-1])
    shown = {viewed(stored, o).tobytes() + bytes(viewed(stored, o).shape) for o in EXIF_SIDES}
    assert len(shown) == 8


@pytest.mark.parametrize("orientation", range(1, 9))
def test_png_exif_orientation(tmp_path, orientation: int) -> None:
    path = tmp_path / "photo.png"
    stored = pattern()
    save_with_orientation(path, stored, orientation)
    np.testing.assert_array_equal(read_image(path), viewed(stored, orientation))


@pytest.mark.parametrize("orientation", range(1, 9))
def test_jpeg_exif_orientation(tmp_path, orientation: int) -> None:
    path = tmp_path / "photo.jpg"
    block = 16
    stored = pattern(block)
    save_with_orientation(path, stored, orientation, quality=95, subsampling=0)
    loaded = read_image(str(path))
    expected = viewed(stored, orientation)
    assert loaded.shape == expected.shape and loaded.dtype == np.uint8
    centres = np.s_[block // 2::block, block // 2::block]  # away from JPEG edge ringing
    np.testing.assert_allclose(loaded[centres], expected[centres], atol=10)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_16bit_rgb_tiff_orientation_tag(tmp_path, orientation: int) -> None:
    path = tmp_path / "deep.tif"
    stored = pattern().astype(np.uint16) * 257
    tifffile.imwrite(path, stored, photometric="rgb",
                     extratags=[(274, "H", 1, orientation, True)])
    np.testing.assert_array_equal(read_image(path), viewed(pattern(), orientation))


def test_cmyk_jpeg_colours(tmp_path) -> None:
    cmyk = np.array([[[0, 0, 0, 0], [255, 0, 0, 0], [0, 255, 0, 0], [0, 0, 255, 0]],
                     [[0, 0, 0, 255], [100, 50, 0, 80], [0, 200, 200, 0], [30, 60, 90, 20]]],
                    dtype=np.uint8)
    block = 16
    path = tmp_path / "print.jpg"
    Image.fromarray(cmyk.repeat(block, 0).repeat(block, 1), mode="CMYK").save(path, quality=95)
    with Image.open(path) as check:
        assert check.mode == "CMYK"  # the file really is CMYK
    c, m, y, k = np.moveaxis(cmyk.astype(float), -1, 0)
    rgb = np.stack([(255 - c) * (255 - k), (255 - m) * (255 - k), (255 - y) * (255 - k)],
                   axis=-1) / 255  # the usual naive CMYK -> RGB
    loaded = read_image(path)
    assert loaded.shape == (2 * block, 4 * block, 3)
    np.testing.assert_allclose(loaded[block // 2::block, block // 2::block], rgb, atol=6)


GRAY16 = np.array([[0, 65535, 256], [1000, 255, 32768]], dtype=np.uint16)
GRAY16_TOP = np.array([[0, 255, 1], [3, 0, 128]], dtype=np.uint8)  # uint16 >> 8


def gray3(gray: np.ndarray) -> np.ndarray:
    return np.stack([gray] * 3, axis=-1)


@pytest.mark.parametrize("writer", ["tifffile", "tifffile big-endian", "pillow",
                                    "pillow lzw"])
def test_16bit_grayscale_tiff(tmp_path, writer: str) -> None:
    path = tmp_path / "gray16.tif"
    if writer == "tifffile":
        tifffile.imwrite(path, GRAY16)
    elif writer == "tifffile big-endian":
        tifffile.imwrite(path, GRAY16, byteorder=">")
    elif writer == "pillow":
        Image.fromarray(GRAY16).save(path)
    else:  # tifffile cannot decode LZW without imagecodecs: Pillow must take over
        Image.fromarray(GRAY16).save(path, compression="tiff_lzw")
    np.testing.assert_array_equal(read_image(path), gray3(GRAY16_TOP))


def test_16bit_min_is_white_tiff(tmp_path) -> None:
    path = tmp_path / "white16.tif"
    tifffile.imwrite(path, GRAY16, photometric="miniswhite")
    np.testing.assert_array_equal(read_image(path), gray3(255 - GRAY16_TOP))


def test_16bit_gray_alpha_tiff(tmp_path) -> None:  # Pillow cannot open this one
    path = tmp_path / "gray_alpha16.tif"
    tifffile.imwrite(path, np.dstack([GRAY16, np.full_like(GRAY16, 7)]),
                     photometric="minisblack", extrasamples=["unassalpha"])
    np.testing.assert_array_equal(read_image(path), gray3(GRAY16_TOP))


RGB16 = np.stack([GRAY16, GRAY16[::-1], GRAY16[:, ::-1]], axis=-1)
RGB16_TOP = np.stack([GRAY16_TOP, GRAY16_TOP[::-1], GRAY16_TOP[:, ::-1]], axis=-1)


@pytest.mark.parametrize("layout", ["contiguous", "planar", "planar zlib", "big-endian",
                                    "alpha", "bigtiff"])
def test_16bit_rgb_tiff(tmp_path, layout: str) -> None:
    path = tmp_path / "rgb16.tif"
    if layout == "contiguous":
        tifffile.imwrite(path, RGB16, photometric="rgb")
    elif layout.startswith("planar"):  # Pillow garbles the uncompressed one
        tifffile.imwrite(path, np.moveaxis(RGB16, -1, 0), photometric="rgb",
                         planarconfig="separate",
                         compression="zlib" if "zlib" in layout else None)
    elif layout == "big-endian":
        tifffile.imwrite(path, RGB16, photometric="rgb", byteorder=">")
    elif layout == "alpha":
        tifffile.imwrite(path, np.dstack([RGB16, GRAY16]), photometric="rgb",
                         extrasamples=["unassalpha"])
    else:
        tifffile.imwrite(path, RGB16, photometric="rgb", bigtiff=True)
    np.testing.assert_array_equal(read_image(path), RGB16_TOP)


def test_float_rgb_tiff(tmp_path) -> None:  # Pillow cannot open this one
    path = tmp_path / "rgbf.tif"
    tifffile.imwrite(path, np.array([[[0.0, 0.5, 1.0]]], dtype=np.float32), photometric="rgb")
    np.testing.assert_array_equal(read_image(path), [[[0, 128, 255]]])


def write_png_rgb16(path: Path, rgb16: np.ndarray) -> None:
    """A 16-bit RGB PNG, by hand: Pillow has no mode to write one from."""
    height, width, _ = rgb16.shape
    rows = b"".join(b"\x00" + rgb16[y].astype(">u2").tobytes() for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))

    header = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
                     + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def test_16bit_rgb_png(tmp_path) -> None:
    path = tmp_path / "rgb16.png"
    write_png_rgb16(path, RGB16)
    np.testing.assert_array_equal(read_image(path), RGB16_TOP)


def test_palette_png_with_transparency(tmp_path) -> None:
    path = tmp_path / "palette.png"
    image = Image.fromarray(np.array([[0, 1], [2, 1]], dtype=np.uint8), mode="P")
    image.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * (3 * 253))
    image.save(path, transparency=1)
    red, green, blue = [255, 0, 0], [0, 255, 0], [0, 0, 255]
    np.testing.assert_array_equal(read_image(path), [[red, green], [blue, green]])


def test_gray_alpha_png_drops_alpha(tmp_path) -> None:
    path = tmp_path / "la.png"
    Image.fromarray(np.array([[[10, 0], [200, 255]]], dtype=np.uint8), mode="LA").save(path)
    np.testing.assert_array_equal(read_image(path), [[[10] * 3, [200] * 3]])


def test_pil_image_input_is_oriented_and_converted(tmp_path) -> None:
    path = tmp_path / "photo.png"
    save_with_orientation(path, pattern(), 6)
    with Image.open(path) as image:
        np.testing.assert_array_equal(to_image_array(image, "image 0"), np.rot90(pattern(), -1))
    plain = Image.fromarray(pattern())
    np.testing.assert_array_equal(to_image_array(plain, "image 0"), pattern())
    cmyk = Image.fromarray(np.array([[[255, 0, 0, 0]]], dtype=np.uint8), mode="CMYK")
    np.testing.assert_array_equal(to_image_array(cmyk, "image 0"), [[[0, 255, 255]]])
    deep = Image.fromarray(GRAY16)
    assert deep.mode == "I;16"
    np.testing.assert_array_equal(to_image_array(deep, "image 0"), gray3(GRAY16_TOP))
    palette = Image.fromarray(np.array([[0, 1]], dtype=np.uint8), mode="P")
    palette.putpalette([9, 8, 7, 1, 2, 3])
    np.testing.assert_array_equal(to_image_array(palette, "image 0"), [[[9, 8, 7], [1, 2, 3]]])


def test_array_input_is_returned_as_is() -> None:
    array = np.zeros([2, 2], dtype=np.float32)
    assert to_image_array(array, "image 0") is array
    nested = [[1, 2]]  # nested lists are left to to_rgb_uint8, as detect() always did
    assert to_image_array(nested, "image 0") is nested


def test_path_inputs(tmp_path) -> None:
    path = tmp_path / "photo.png"
    save_with_orientation(path, pattern(), 8)
    for given in (path, str(path)):
        np.testing.assert_array_equal(to_image_array(given, "image 1"), np.rot90(pattern()))


@pytest.mark.parametrize("bad", [3, b"\x89PNG", None])
def test_other_inputs_are_value_errors(bad) -> None:
    with pytest.raises(ValueError, match=rf"image 2: .*{type(bad).__name__}"):
        to_image_array(bad, "image 2")


def test_missing_file_names_where(tmp_path) -> None:
    path = tmp_path / "missing.jpg"
    with pytest.raises(FileNotFoundError, match=r"missing\.jpg: file not found"):
        read_image(path)
    with pytest.raises(FileNotFoundError, match=r"^my photo: file not found"):
        read_image(str(path), "my photo")
    with pytest.raises(FileNotFoundError, match=r"^image 3 \(.*missing\.jpg\): file not found"):
        to_image_array(str(path), "image 3")
    with pytest.raises(FileNotFoundError, match="not a file"):
        read_image(tmp_path)


def test_empty_file_is_value_error(tmp_path) -> None:
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    with pytest.raises(ValueError, match=r"empty\.png: empty file"):
        read_image(path)


@pytest.mark.parametrize("content", [b"not an image", b"\x89PNG\r\n\x1a\n" + b"\x00" * 20,
                                     b"II*\x00" + b"\x00" * 20])
def test_undecodable_file_is_value_error(tmp_path, content: bytes) -> None:
    path = tmp_path / "broken.img"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=r"^my photo: could not decode image"):
        read_image(path, "my photo")


def test_truncated_jpeg_is_value_error(tmp_path) -> None:
    path = tmp_path / "cut.jpg"
    Image.fromarray(pattern(16)).save(path, quality=95)
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ValueError, match=r"cut\.jpg: could not decode image"):
        read_image(path)


def test_urls_still_go_to_skimage(monkeypatch) -> None:
    import skimage.io

    seen = []

    def fake_imread(url):
        seen.append(url)
        if "broken" in url:
            raise OSError("HTTP 404")
        return np.full([2, 3], 7, dtype=np.uint16) * 256

    monkeypatch.setattr(skimage.io, "imread", fake_imread)
    image = read_image("https://example.org/a.png")
    assert seen == ["https://example.org/a.png"]
    np.testing.assert_array_equal(image, np.full([2, 3, 3], 7, dtype=np.uint8))
    with pytest.raises(ValueError, match=r"broken\.png: could not decode image: HTTP 404"):
        read_image("https://example.org/broken.png")


def test_dataset_load_image_is_oriented_and_names_the_image(tmp_path) -> None:
    path = tmp_path / "photo.jpg"
    save_with_orientation(path, pattern(16), 6, quality=95, subsampling=0)
    dataset = Dataset()
    dataset.add_image("phone", image_id="p1", path=str(path))
    dataset.add_image("phone", image_id="p2", path=str(tmp_path / "gone.jpg"))
    dataset.prepare()
    loaded = dataset.load_image(0)
    assert loaded.shape == (3 * 16, 2 * 16, 3)
    np.testing.assert_allclose(loaded[8::16, 8::16], np.rot90(pattern(), -1), atol=10)
    with pytest.raises(FileNotFoundError, match=r"image 1 \('phone', path .*gone\.jpg"):
        dataset.load_image(1)
