"""One conversion of any common image array to what the network eats: ``[H, W, 3]`` uint8 RGB.

Used by :meth:`mrcnn.data.Dataset.load_image` (decoded files), by the training input
pipeline (whatever a ``load_image`` override returns) and by :meth:`MaskRCNN.detect`
(arrays passed by the caller), so a picture means the same thing everywhere.

The rules (:func:`to_rgb_uint8`):

Layout
    ``[H, W]`` and ``[H, W, 1]`` (grayscale) are replicated to 3 channels;
    ``[H, W, 2]`` (grayscale + alpha) keeps the gray channel, replicated;
    ``[H, W, 3]`` is taken as RGB; ``[H, W, 4]`` (RGBA) drops the alpha channel
    (it is not composited onto a background). Any other rank or channel count, or a
    zero height or width, is a ``ValueError``.
Values
    ``uint8``: unchanged. ``bool``: ``False -> 0``, ``True -> 255``.
    Unsigned integers wider than 8 bits (``uint16``, ``uint32``, ...): the top 8 bits
    (``uint16 >> 8``, so 65535 -> 255, 256 -> 1; a 12-bit image stored in uint16 comes
    out dark: stretch it yourself first if you need its full range).
    Signed integers: taken as 0..255 values, clipped to that range.
    Floats: if every value is within ``[0, 1]`` the image is taken as 0..1 and scaled by
    255; otherwise it is taken as 0..255. Then rounded and clipped to 0..255. (A 0..255
    float image whose pixels are all <= 1 would be read as 0..1: such an image is black
    to the eye either way.) NaN or infinite pixels are a ``ValueError``.
"""

from __future__ import annotations

import numpy as np

CONVERSION_RULES = __doc__


def to_uint8(image: np.ndarray, where: str = "image") -> np.ndarray:
    """The value rules of :func:`to_rgb_uint8` only: any dtype to uint8, same shape."""
    image = np.asarray(image)
    dtype = image.dtype
    if dtype == np.uint8:
        return image
    if dtype == np.bool_:
        return image.astype(np.uint8) * np.uint8(255)
    if np.issubdtype(dtype, np.unsignedinteger):
        return (image >> (8 * dtype.itemsize - 8)).astype(np.uint8)
    if np.issubdtype(dtype, np.signedinteger):
        return np.clip(image.astype(np.int64), 0, 255).astype(np.uint8)
    if np.issubdtype(dtype, np.floating):
        if image.size and not np.isfinite(image).all():
            bad = int(np.size(image) - np.count_nonzero(np.isfinite(image)))
            raise ValueError(f"{where}: {bad} pixel value(s) are NaN or infinite")
        if image.size and image.min() >= 0.0 and image.max() <= 1.0:
            image = image * 255.0
        return np.clip(np.round(image), 0, 255).astype(np.uint8)
    raise ValueError(f"{where}: unsupported pixel type {dtype}; expected an integer, float "
                     "or bool array")


def to_rgb_uint8(image, where: str = "image") -> np.ndarray:
    """Convert an image array of any common layout and dtype to ``[H, W, 3]`` uint8 RGB.

    The rules are in this module's docstring (:data:`CONVERSION_RULES`). ``where`` names
    the image in error messages (e.g. ``"image 3"`` or a dataset id and path). An array
    that already is ``[H, W, 3]`` uint8 is returned as it is (no copy).
    """
    if not isinstance(image, np.ndarray):
        try:
            image = np.asarray(image)
        except Exception as error:  # ragged lists and the like
            raise ValueError(f"{where}: not an image array ({type(image).__name__}): "
                             f"{error}") from None
    if image.dtype == object:
        raise ValueError(f"{where}: not an image array (dtype object)")
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (1, 2, 3, 4)):
        raise ValueError(f"{where}: expected an image of shape [H, W] or [H, W, 1|2|3|4], "
                         f"got shape {image.shape}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"{where}: empty image (shape {image.shape})")
    if image.ndim == 3 and image.shape[2] == 3 and image.dtype == np.uint8:
        return image
    image = to_uint8(image, where)
    if image.ndim == 2:
        image = image[..., np.newaxis]
    channels = image.shape[2]
    if channels in (1, 2):
        image = np.repeat(image[..., :1], 3, axis=2)
    elif channels == 4:
        image = image[..., :3]
    return np.ascontiguousarray(image)
