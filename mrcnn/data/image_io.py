"""Decoding image files and objects into arrays, as a photo viewer shows them.

:func:`read_image` turns a file into ``[H, W, 3]`` uint8 RGB; :func:`to_image_array`
accepts what a user may hand to ``MaskRCNN.detect`` (an array, a PIL image or a path).

Why not ``skimage.io.imread``: it ignores the EXIF orientation (phone photos come out
sideways; detectron2's ``read_image`` applies it too), returns CMYK JPEGs as 4 channels that
then pass for RGBA (wrong colours), and cannot tell a 16-bit RGB TIFF from anything else.

How:

* Pillow decodes; :func:`PIL.ImageOps.exif_transpose` applies the EXIF orientation.
* CMYK JPEGs (Adobe inverted CMYK and YCCK included, as Pillow/libjpeg decode them) and
  other non-RGB colour modes go through Pillow's own conversion to RGB (embedded ICC
  profiles are not applied). Palette images are expanded through their palette.
* TIFFs with more than 8 bits per sample are read with ``tifffile`` (installed with
  scikit-image): Pillow cannot open 16-bit gray + alpha, 32-bit or float RGB TIFFs at all
  and garbles uncompressed 16-bit planar RGB; the TIFF orientation tag is applied by hand.
  Deep TIFFs tifffile cannot decode (LZW or JPEG without ``imagecodecs``) go to Pillow.
* Every path ends in :func:`mrcnn.data.image_convert.to_rgb_uint8`, so the value and
  layout rules (alpha dropped, 16-bit keeps its top 8 bits, ...) live in one place.
* URLs (``"://"`` in the path) are still handed to ``skimage.io.imread`` as in the classic
  API, without the fixes above.
"""

from __future__ import annotations

import os

import numpy as np
from PIL import Image, ImageOps

from mrcnn.data.image_convert import to_rgb_uint8

_TIFF_MAGICS = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")  # classic and BigTIFF
_ORIENTATION_TAG = 274  # the same number in EXIF and TIFF
# Modes np.asarray cannot hand to to_rgb_uint8 as they are, and what Pillow converts them to.
_CONVERT_MODES = {"P": "RGBA", "PA": "RGBA", "RGBa": "RGBA", "La": "LA",
                  "CMYK": "RGB", "YCbCr": "RGB", "LAB": "RGB", "HSV": "RGB", "RGBX": "RGB"}


def read_image(path: str | os.PathLike, where: str | None = None) -> np.ndarray:
    """Decode an image file to ``[H, W, 3]`` uint8 RGB, oriented as its EXIF says.

    ``where`` names the image in error messages (default: the path). A missing file
    raises ``FileNotFoundError``; an empty or undecodable one raises ``ValueError``.
    """
    if where is None:
        where = os.fsdecode(path)
    if isinstance(path, str) and "://" in path:
        return _read_url(path, where)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{where}: file not found")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{where}: not a file")
    if os.path.getsize(path) == 0:
        raise ValueError(f"{where}: empty file (0 bytes)")
    tiff_error = None
    try:
        array = _read_deep_tiff(path)
    except Exception as error:  # e.g. a codec that needs imagecodecs: Pillow may manage
        tiff_error, array = error, None
    if array is None:
        try:
            with Image.open(path) as image:
                array = _pil_to_array(image)
        except Exception as error:
            also = f" (tifffile: {tiff_error})" if tiff_error is not None else ""
            raise ValueError(f"{where}: could not decode image: {error}{also}") from error
    return to_rgb_uint8(array, where)


def check_image_file(path: str | os.PathLike, where: str | None = None) -> tuple[int, int]:
    """``(height, width)`` that :func:`read_image` would return for the file, and a check
    that it decodes, without decoding all of it where the format allows: PNG chunks are
    read and their checksums verified, JPEGs are decoded at 1/8 scale (a truncated or
    corrupt stream still fails), other formats are decoded in full. Raises as
    :func:`read_image` does."""
    if where is None:
        where = os.fsdecode(path)
    if isinstance(path, str) and "://" in path:
        height, width = _read_url(path, where).shape[:2]
        return int(height), int(width)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{where}: file not found")
    if os.path.getsize(path) == 0:
        raise ValueError(f"{where}: empty file (0 bytes)")
    try:
        with Image.open(path) as image:
            if image.format == "PNG":
                image.verify()  # must come first: it reads the file to its end
        with Image.open(path) as image:
            width, height = image.size
            orientation = image.getexif().get(_ORIENTATION_TAG, 1)
            if image.format == "JPEG":
                image.draft("RGB", (max(1, width // 8), max(1, height // 8)))
                image.load()
            elif image.format != "PNG":
                height, width = read_image(path, where).shape[:2]
                orientation = 1
    except (FileNotFoundError, ValueError):
        raise
    except Exception as error:
        raise ValueError(f"{where}: could not decode image: {error}") from error
    if orientation in (5, 6, 7, 8):  # read_image turns the picture on its side
        height, width = width, height
    return int(height), int(width)


def to_image_array(image, where: str) -> np.ndarray:
    """An image as a numpy array: arrays as they are, PIL images and paths decoded.

    A ``numpy.ndarray`` (or nested list) is returned unchanged (the caller converts it with
    :func:`~mrcnn.data.image_convert.to_rgb_uint8`). A ``PIL.Image.Image`` is turned by its
    EXIF orientation and converted to ``[H, W, 3]`` uint8 RGB; a ``str`` or ``os.PathLike``
    is read with :func:`read_image`. Anything else is a ``ValueError`` naming ``where``.
    """
    if isinstance(image, (np.ndarray, list, tuple)):
        return image  # nested lists: to_rgb_uint8 makes (or refuses) the array
    if isinstance(image, Image.Image):
        try:
            array = _pil_to_array(image)
        except Exception as error:
            raise ValueError(f"{where}: could not convert PIL image (mode "
                             f"{image.mode!r}): {error}") from error
        return to_rgb_uint8(array, where)
    if isinstance(image, (str, os.PathLike)):
        return read_image(image, f"{where} ({os.fspath(image)})")
    raise ValueError(f"{where}: expected a numpy array, a PIL image or a file path, got "
                     f"{type(image).__module__}.{type(image).__qualname__}")


def _read_url(url: str, where: str) -> np.ndarray:
    """The classic behaviour for URLs: whatever ``skimage.io.imread`` makes of them."""
    import skimage.io  # only here: URLs are rare and skimage.io is slow to import

    try:
        image = skimage.io.imread(url)
    except Exception as error:
        raise ValueError(f"{where}: could not decode image: {error}") from error
    return to_rgb_uint8(image, where)


def _pil_to_array(image: Image.Image) -> np.ndarray:
    """A PIL image, EXIF-oriented, as an array that :func:`to_rgb_uint8` understands."""
    image = ImageOps.exif_transpose(image)
    target = _CONVERT_MODES.get(image.mode)
    if target is not None:
        image = image.convert(target)
    return np.asarray(image)


def _read_deep_tiff(path) -> np.ndarray | None:
    """A TIFF with more than 8 bits per sample, via tifffile; None for anything else.

    Only gray (min-is-black or min-is-white) and RGB pages with an optional alpha or
    other extra samples; other TIFFs (8-bit, palette, CMYK, YCbCr, ...) are left to Pillow.
    Reads the first page, as Pillow does.
    """
    with open(path, "rb") as file:
        if file.read(4) not in _TIFF_MAGICS:
            return None
    import tifffile

    with tifffile.TiffFile(path) as tiff:
        page = tiff.pages[0]
        photometric = int(page.photometric)
        colour_samples = page.samplesperpixel - len(page.extrasamples)
        if page.bitspersample <= 8 or page.axes not in ("YX", "YXS", "SYX"):
            return None
        if not ((photometric in (0, 1) and colour_samples == 1)  # MINISWHITE, MINISBLACK
                or (photometric == 2 and colour_samples == 3)):  # RGB
            return None
        array = page.asarray()
        tag = page.tags.get(_ORIENTATION_TAG)
        orientation = int(tag.value) if tag is not None else 1
    if page.axes == "SYX":
        array = np.moveaxis(array, 0, -1)
    if array.ndim == 3:
        array = array[..., :colour_samples]  # extra samples (alpha, ...) dropped
    if photometric == 0:  # min-is-white: 0 is white
        if not np.issubdtype(array.dtype, np.unsignedinteger):
            return None
        array = np.iinfo(array.dtype).max - array
    return _orient(array, orientation)


def _orient(array: np.ndarray, orientation: int) -> np.ndarray:
    """Apply a TIFF/EXIF orientation (1..8) as :func:`PIL.ImageOps.exif_transpose` does."""
    if orientation in (5, 6, 7, 8):  # stored rows run left-right or right-left
        array = np.swapaxes(array, 0, 1)
    if orientation in (3, 4, 7, 8):  # then flip vertically
        array = array[::-1]
    if orientation in (2, 3, 6, 7):  # then flip horizontally
        array = array[:, ::-1]
    return np.ascontiguousarray(array)
