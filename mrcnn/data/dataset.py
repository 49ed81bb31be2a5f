"""Base class for Mask R-CNN data sets.

API-compatible with the classic Keras Mask R-CNN `utils.Dataset`, so existing
subclasses port unchanged: a subclass registers classes with `add_class`,
images with `add_image`, overrides `load_mask` (and optionally `load_image`
and `image_reference`), then the caller runs `prepare()` before use.

Classes and images carry two ids: the *source* id (as in the original data
set, e.g. a COCO category id) and the *internal* id (a dense index into
`class_info` / `image_info`). Class id 0 is always the background "BG".
"""

import logging
import os
from typing import Any

import numpy as np
import skimage.io
import skimage.util

logger = logging.getLogger(__name__)


class Dataset:
    """Registry of classes and images with loaders for pixels and masks.

    Attributes after `prepare()`:
        num_classes, class_ids [num_classes], class_names (cleaned),
        num_images, class_from_source_map {"source.id": internal class id},
        image_from_source_map {"source.id": internal image id},
        sources (sorted unique class sources, "" of BG included),
        source_class_ids {source: [internal class ids, BG (0) first]}.
    """

    def __init__(self, class_map: dict | None = None) -> None:
        """`class_map` is accepted for compatibility with the classic API and unused."""
        self._image_ids: list[int] | np.ndarray = []
        self.image_info: list[dict[str, Any]] = []
        self.class_info: list[dict[str, Any]] = [{"source": "", "id": 0, "name": "BG"}]
        self.source_class_ids: dict[str, list[int]] = {}

    def add_class(self, source: str, class_id: int, name: str) -> None:
        """Register class `class_id` of `source`; a repeated (source, id) pair is ignored."""
        assert "." not in source, f"Source name cannot contain a dot: {source!r}"
        for info in self.class_info:
            if info["source"] == source and info["id"] == class_id:
                return
        self.class_info.append({"source": source, "id": class_id, "name": name})

    def add_image(self, source: str, image_id: Any, path: str | None, **kwargs: Any) -> None:
        """Register an image; extra keyword arguments are stored in its info dict."""
        image_info = {"id": image_id, "source": source, "path": path}
        image_info.update(kwargs)
        self.image_info.append(image_info)

    def image_reference(self, image_id: int) -> str:
        """Human-readable reference to the image (a path or URL) for debugging.

        Subclasses override this to point at the image's origin; the base
        version returns the stored path, or "" when there is none.
        """
        path = self.image_info[image_id].get("path")
        return "" if path is None else str(path)

    def prepare(self, class_map: dict | None = None) -> None:
        """Build the lookup tables used by the rest of the library.

        Must be called after all `add_class` / `add_image` calls and before
        use. `class_map` is accepted for compatibility and unused.
        """
        self.num_classes = len(self.class_info)
        self.class_ids = np.arange(self.num_classes)
        self.class_names = [_clean_name(info["name"]) for info in self.class_info]
        self.num_images = len(self.image_info)
        self._image_ids = np.arange(self.num_images)

        self.class_from_source_map = {
            f"{info['source']}.{info['id']}": int(internal_id)
            for internal_id, info in enumerate(self.class_info)
        }
        self.image_from_source_map = {
            f"{info['source']}.{info['id']}": int(internal_id)
            for internal_id, info in enumerate(self.image_info)
        }

        self.sources = sorted({info["source"] for info in self.class_info})
        self.source_class_ids = {}
        for source in self.sources:
            self.source_class_ids[source] = [
                internal_id
                for internal_id, info in enumerate(self.class_info)
                if internal_id == 0 or info["source"] == source
            ]

    def map_source_class_id(self, source_class_id: str) -> int:
        """Internal class id for a "source.id" string, e.g. "coco.12" -> 23."""
        try:
            return self.class_from_source_map[source_class_id]
        except AttributeError:
            raise RuntimeError(
                "Dataset.prepare() must be called before map_source_class_id()") from None
        except KeyError:
            raise KeyError(
                f"Unknown source class {source_class_id!r}; expected 'source.id' with one of "
                f"{sorted(self.class_from_source_map)}"
            ) from None

    def get_source_class_id(self, class_id: int, source: str) -> int:
        """Source-side id of internal class `class_id`, asserting it belongs to `source`."""
        info = self.class_info[class_id]
        assert info["source"] == source, (
            f"Class {class_id} belongs to source {info['source']!r}, not {source!r}"
        )
        return info["id"]

    @property
    def image_ids(self) -> np.ndarray:
        """Internal image ids [num_images] (valid after `prepare()`)."""
        return self._image_ids

    def source_image_link(self, image_id: int) -> str | None:
        """Path or URL of the image in its source data set."""
        return self.image_info[image_id]["path"]

    def load_image(self, image_id: int) -> np.ndarray:
        """Read the image file as [H, W, 3] uint8 RGB.

        Grayscale is replicated to 3 channels, alpha is dropped, and integer
        images wider than 8 bits are reduced to their top 8 bits (uint16 >> 8).
        Other dtypes (float, signed) are converted with skimage's
        `img_as_ubyte`. URLs are passed to skimage as in the classic API.
        Raises FileNotFoundError / ValueError naming the image id and path when
        the file is missing or cannot be decoded.
        """
        path = self.image_info[image_id].get("path")
        where = f"image {image_id} ({self.image_info[image_id].get('source')!r}, path {path!r})"
        is_url = isinstance(path, str) and "://" in path
        if path is None or not (is_url or os.path.isfile(path)):
            raise FileNotFoundError(f"{where}: file not found")
        try:
            image = skimage.io.imread(path)
        except Exception as error:
            raise ValueError(f"{where}: could not decode image: {error}") from error
        return _to_rgb_uint8(image, where)

    def load_mask(self, image_id: int) -> tuple[np.ndarray, np.ndarray]:
        """Instance masks [H, W, N] bool and class ids [N] int32 for one image.

        Subclasses override this. The base version returns empty arrays (and
        logs a warning) so that data sets without masks still load.
        """
        logger.warning(
            "Dataset.load_mask is not overridden in %s; image %s (%s) gets no masks",
            type(self).__name__,
            image_id,
            self.image_reference(image_id),
        )
        return np.empty([0, 0, 0], dtype=bool), np.empty([0], dtype=np.int32)


def _clean_name(name: str) -> str:
    """First comma-separated part of a class name, stripped ("person, human" -> "person")."""
    return name.split(",")[0].strip()


def _to_rgb_uint8(image: np.ndarray, where: str) -> np.ndarray:
    """Convert a decoded image of any common layout to [H, W, 3] uint8."""
    if image.dtype == bool:
        image = image.astype(np.uint8) * 255
    elif np.issubdtype(image.dtype, np.unsignedinteger) and image.dtype.itemsize > 1:
        image = (image >> (8 * image.dtype.itemsize - 8)).astype(np.uint8)
    elif image.dtype != np.uint8:
        try:
            image = skimage.util.img_as_ubyte(image)
        except ValueError as error:
            raise ValueError(
                f"{where}: cannot convert dtype {image.dtype} to uint8: {error}") from error

    if image.ndim == 2:
        image = image[..., np.newaxis]
    if image.ndim != 3 or image.shape[-1] not in (1, 2, 3, 4):
        raise ValueError(
            f"{where}: unsupported image shape {image.shape}; expected [H, W] or [H, W, 1|2|3|4]"
        )
    channels = image.shape[-1]
    if channels in (1, 2):
        image = np.repeat(image[..., :1], 3, axis=-1)
    elif channels == 4:
        image = image[..., :3]
    return np.ascontiguousarray(image)
