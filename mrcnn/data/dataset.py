"""Base class for Mask R-CNN data sets.

API-compatible with the classic Keras Mask R-CNN ``utils.Dataset``, so existing
subclasses port unchanged: a subclass registers classes with ``add_class``,
images with ``add_image``, overrides ``load_mask`` (and optionally ``load_image``
and ``image_reference``), then the caller runs ``prepare()`` before use.

Classes and images carry two ids: the *source* id (as in the original data
set, e.g. a COCO category id) and the *internal* id (a dense index into
``class_info`` / ``image_info``). Class id 0 is always the background "BG".
"""

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from mrcnn.data.boxes_from_masks import extract_bboxes
from mrcnn.data.image_convert import to_rgb_uint8
from mrcnn.data.image_io import read_image
from mrcnn.data.resize import inference_resize_mode, resize_image

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DatasetProblem:
    """One thing wrong with one image (``image_id`` None: the data set as a whole)."""

    dataset: str  # the Dataset subclass name
    image_id: int | None  # internal id
    source: str | None
    source_id: Any
    reference: str  # path or image_reference()
    problem: str

    def __str__(self) -> str:
        if self.image_id is None:
            return f"{self.dataset}: {self.problem}"
        return (f"{self.dataset} image {self.image_id} (source {self.source!r}, id "
                f"{self.source_id!r}, {self.reference or 'no path'}): {self.problem}")


class DatasetError(ValueError):
    """A data set has problems; ``problems`` lists every one (:class:`DatasetProblem`)."""

    MAX_LINES = 100

    def __init__(self, problems: list[DatasetProblem], checked: int | None = None,
                 hint: str = ""):
        self.problems = list(problems)
        images = {p.image_id for p in self.problems if p.image_id is not None}
        head = (f"{len(self.problems)} problem(s) in {len(images)} image(s)"
                + (f" of {checked} checked" if checked is not None else "") + hint)
        lines = [str(p) for p in self.problems[:self.MAX_LINES]]
        if len(self.problems) > self.MAX_LINES:
            lines.append(f"... and {len(self.problems) - self.MAX_LINES} more "
                         "(all are in DatasetError.problems)")
        super().__init__(head + ":\n  " + "\n  ".join(lines))


def mask_problems(masks: Any, class_ids: Any, image_shape: tuple,
                  num_classes: int | None,
                  crowd: bool = False) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Check what ``load_mask`` returned against the image; returns
    ``(problems, masks [H, W, N] bool, class_ids [N] int32)``. With ``crowd``, negative
    class ids (crowd regions, see ``Dataset.load_mask_with_crowd``) are accepted.

    ``problems`` lists what makes the pair unusable (shape, size, count, class range);
    when it is empty the arrays are normalized. Any empty array (size 0) with no class
    ids means "no instances". Empty masks are not a problem here (training drops them).
    """
    height, width = int(image_shape[0]), int(image_shape[1])
    problems: list[str] = []
    try:
        masks = np.asarray(masks)
        class_ids = np.asarray(class_ids)
    except Exception as error:
        return [f"load_mask returned something that is not an array: {error}"], None, None
    if masks.size == 0 and class_ids.size == 0:
        return [], np.zeros((height, width, 0), bool), np.zeros((0,), np.int32)
    if masks.ndim != 3:
        problems.append(f"masks have shape {masks.shape}; expected [H, W, N] = "
                        f"[{height}, {width}, N]")
    elif masks.shape[:2] != (height, width):
        problems.append(f"masks are {masks.shape[0]}x{masks.shape[1]} (shape {masks.shape}) "
                        f"but the image is {height}x{width}")
    if not (masks.dtype == bool or np.issubdtype(masks.dtype, np.number)):
        problems.append(f"masks have dtype {masks.dtype}; expected bool (or 0/1 numbers)")
    elif np.issubdtype(masks.dtype, np.floating) and not np.isfinite(masks).all():
        problems.append("masks contain NaN or infinite values")
    if class_ids.ndim != 1:
        problems.append(f"class ids have shape {class_ids.shape}; expected [N]")
    elif not (np.issubdtype(class_ids.dtype, np.integer)
              or (np.issubdtype(class_ids.dtype, np.floating)
                  and np.isfinite(class_ids).all()
                  and np.array_equal(class_ids, np.round(class_ids)))):
        problems.append(f"class ids must be integers, got {class_ids.dtype} {class_ids.tolist()}")
    else:
        if masks.ndim == 3 and len(class_ids) != masks.shape[2]:
            problems.append(f"{masks.shape[2]} mask(s) but {len(class_ids)} class id(s)")
        ids = class_ids.astype(np.int64)
        if crowd:
            ids = np.abs(ids)
        if np.any(ids == 0):
            problems.append(f"class id 0 (the background) given to instance(s) "
                            f"{np.flatnonzero(ids == 0).tolist()}; instances need ids >= 1")
        if num_classes is not None:
            bad = (ids < 0) | (ids >= num_classes)
        else:
            bad = ids < 0
        if bad.any():
            allowed = f"1..{num_classes - 1}" if num_classes is not None else ">= 1"
            problems.append(f"class id(s) {sorted(set(ids[bad].tolist()))} out of range: "
                            f"{num_classes} classes with the background, so ids are {allowed}")
    if problems:
        return problems, None, None
    return problems, masks.astype(bool, copy=False), class_ids.astype(np.int32)


def has_crowd(dataset: Any) -> bool:
    """Whether ``dataset`` may give crowd regions: its ``has_crowd``, else (a duck-typed
    data set) whether it has a ``load_mask_with_crowd``."""
    value = getattr(dataset, "has_crowd", None)
    if value is None:
        return callable(getattr(dataset, "load_mask_with_crowd", None))
    return bool(value)


def load_ground_truth(dataset: Any, image_id: int) -> tuple[np.ndarray, np.ndarray]:
    """Masks and class ids of an image with its crowd regions (negative ids): the data
    set's ``load_mask_with_crowd`` where it has one (duck-typed data sets may not), else
    ``load_mask``. Evaluation and training targets read ground truth through this."""
    load = getattr(dataset, "load_mask_with_crowd", None) or dataset.load_mask
    return load(image_id)


class Dataset:
    """Registry of classes and images with loaders for pixels and masks.

    Attributes after ``prepare()``:
        num_classes, class_ids [num_classes], class_names (cleaned),
        num_images, class_from_source_map {"source.id": internal class id},
        image_from_source_map {"source.id": internal image id},
        sources (sorted unique class sources, "" of BG included),
        source_class_ids {source: [internal class ids, BG (0) first]}.
    """

    def __init__(self, class_map: dict | None = None) -> None:
        """``class_map`` is accepted for compatibility with the classic API and unused."""
        self._image_ids: list[int] | np.ndarray = []
        self.image_info: list[dict[str, Any]] = []
        self.class_info: list[dict[str, Any]] = [{"source": "", "id": 0, "name": "BG"}]
        self.source_class_ids: dict[str, list[int]] = {}

    def add_class(self, source: str, class_id: int, name: str) -> None:
        """Register class ``class_id`` of ``source``; a repeated (source, id) pair is ignored."""
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

        Must be called after all ``add_class`` / ``add_image`` calls and before
        use. ``class_map`` is accepted for compatibility and unused.
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
        """Source-side id of internal class ``class_id``, asserting it belongs to ``source``."""
        info = self.class_info[class_id]
        assert info["source"] == source, (
            f"Class {class_id} belongs to source {info['source']!r}, not {source!r}"
        )
        return info["id"]

    @property
    def image_ids(self) -> np.ndarray:
        """Internal image ids [num_images] (valid after ``prepare()``)."""
        return self._image_ids

    def source_image_link(self, image_id: int) -> str | None:
        """Path or URL of the image in its source data set."""
        return self.image_info[image_id]["path"]

    def load_image(self, image_id: int) -> np.ndarray:
        """Read the image file as [H, W, 3] uint8 RGB, as a photo viewer shows it.

        Decoded by :func:`mrcnn.data.image_io.read_image`: the EXIF orientation is
        applied, CMYK JPEGs and palette images are converted to RGB, 16-bit TIFFs (gray
        or RGB) are read with tifffile. Values follow
        :func:`mrcnn.data.image_convert.to_rgb_uint8` (the same rules as
        ``MaskRCNN.detect``): grayscale is replicated to 3 channels, alpha is dropped,
        integer images wider than 8 bits keep their top 8 bits (uint16 >> 8), floats
        in [0, 1] are scaled by 255 and other floats taken as 0..255.
        URLs are passed to skimage as in the classic API.
        Raises FileNotFoundError / ValueError naming the image id, source and path when
        the file is missing, empty or cannot be decoded.
        """
        path = self.image_info[image_id].get("path")
        where = f"image {image_id} ({self.image_info[image_id].get('source')!r}, path {path!r})"
        if path is None:
            raise FileNotFoundError(f"{where}: file not found")
        return read_image(path, where)

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

    def load_mask_with_crowd(self, image_id: int) -> tuple[np.ndarray, np.ndarray]:
        """``load_mask`` plus the image's crowd regions, with negative class ids.

        Crowd regions (COCO's ``iscrowd``) are groups of objects not segmented one by
        one: evaluation treats them as ignore regions and training keeps proposals on them
        out of the negatives. Data sets that have them (``CocoDataset``) override this;
        the base version is ``load_mask``.
        """
        return self.load_mask(image_id)

    @property
    def has_crowd(self) -> bool:
        """Whether ``load_mask_with_crowd`` may return crowd regions: True when a class
        overrides it (wrappers such as ``DatasetSubset`` answer for what they wrap)."""
        return type(self).load_mask_with_crowd is not Dataset.load_mask_with_crowd

    # ------------------------------------------------------------------ checking
    def validate(self, config: Any = None, image_ids: Iterable[int] | None = None,
                 raise_on_error: bool = True,
                 progress: Callable[[int, int], None] | None = None) -> list[DatasetProblem]:
        """Check every image and its masks (:meth:`check_image`) and report ALL problems
        at once.

        Checks: the image file decodes and has the size its annotations say;
        ``load_mask`` gives ``[H, W, N]`` masks of the image's size and ``N`` integer
        class ids in ``1..num_classes - 1`` that belong to the image's source; no two
        images share a ``(source, id)``. With ``config`` (a
        :class:`~mrcnn.config.Config`) it also flags boxes that shrink below one pixel
        at the training resize (degenerate: training drops them) and a
        ``NUM_CLASSES`` that differs from the data set's. Faults that loading repairs
        (an empty mask dropped, a polygon clipped at the border) are not problems: they
        are in :attr:`repairs`. ``progress(done, total)`` is called after every image.

        Raises :class:`DatasetError` listing every :class:`DatasetProblem` (each names
        the data set class, image id, source, path and what is wrong); with
        ``raise_on_error=False`` returns the list instead (empty when all is well).
        Call after :meth:`prepare`.
        """
        if not hasattr(self, "num_classes"):
            raise RuntimeError(f"{type(self).__name__}.prepare() must be called before "
                               "validate()")
        problems: list[DatasetProblem] = []
        ids = [int(i) for i in (self.image_ids if image_ids is None else image_ids)]
        if self.num_images == 0:
            problems.append(self.problem(None, "the data set has no images"))
        if self.num_classes < 2:
            problems.append(self.problem(
                None, "no classes registered besides the background (add_class)"))
        if config is not None and getattr(config, "NUM_CLASSES", None) != self.num_classes:
            problems.append(self.problem(
                None, f"config {type(config).__name__}.NUM_CLASSES = {config.NUM_CLASSES} "
                f"but the data set has {self.num_classes} classes (with the background)"))

        wanted = set(ids)
        first_of: dict[tuple, int] = {}
        for image_id, info in enumerate(self.image_info):
            key = (info.get("source"), _hashable(info.get("id")))
            if key in first_of:
                if image_id in wanted:
                    problems.append(self.problem(
                        image_id, f"duplicate image id: (source {key[0]!r}, id "
                        f"{info.get('id')!r}) is also image {first_of[key]}"))
            else:
                first_of[key] = image_id

        for done, image_id in enumerate(ids, 1):
            problems.extend(self.problem(image_id, text)
                            for text in self.check_image(image_id, config))
            if progress is not None:
                progress(done, len(ids))
        if problems and raise_on_error:
            raise DatasetError(problems, checked=len(ids))
        return problems

    @property
    def repairs(self) -> dict[str, list[str]]:
        """Faults that loading repairs, by kind: ``{"empty segmentation, dropped":
        ["image 3 (a.jpg), annotation 17", ...]}``. Loaders and :meth:`check_image`
        add to it (:meth:`repaired`)."""
        if "_repairs" not in self.__dict__:
            self._repairs: dict[str, list[str]] = {}
        return self._repairs

    def repaired(self, kind: str, what: str) -> None:
        """Record one repaired fault (``what`` names the image and the annotation)."""
        found = self.repairs.setdefault(kind, [])
        if what not in found:
            found.append(what)

    def problem(self, image_id: int | None, text: str) -> DatasetProblem:
        """A :class:`DatasetProblem` of image ``image_id`` (None: the whole data set)."""
        name = type(self).__name__
        if image_id is None:
            return DatasetProblem(name, None, None, None, "", text)
        info = self.image_info[image_id]
        try:
            reference = self.image_reference(image_id)
        except Exception:  # a broken image_reference must not hide the real problem
            reference = str(info.get("path") or "")
        return DatasetProblem(name, int(image_id), info.get("source"), info.get("id"),
                              reference, text)

    def check_image(self, image_id: int, config: Any = None) -> list[str]:
        """What is wrong with one image (empty: nothing): loads it and its masks and
        checks them (see :meth:`validate`). Data sets that know the image size from their
        annotations override this with a faster check (:class:`CocoDataset` reads
        only what it needs of the file)."""
        try:
            image = self.load_image(image_id)
        except Exception as error:
            return [f"unreadable image: {type(error).__name__}: {error}"]
        try:
            image = to_rgb_uint8(image, "load_image result")
        except ValueError as error:
            return [str(error)]
        try:
            masks, class_ids = self.load_mask(image_id)
        except Exception as error:
            return [f"load_mask failed: {type(error).__name__}: {error}"]
        found, masks, class_ids = mask_problems(masks, class_ids, image.shape,
                                                self.num_classes)
        if found:
            return found
        source = self.image_info[image_id].get("source")
        for k, class_id in enumerate(class_ids):
            owner = self.class_info[class_id]["source"]
            if owner != source:
                found.append(
                    f"instance {k}: class id {class_id} "
                    f"({self.class_info[class_id]['name']!r}) belongs to source {owner!r}, "
                    f"not to the image's source {source!r}: unknown class for this image")
        areas = masks.sum(axis=(0, 1))
        for k in np.flatnonzero(areas == 0):
            self.repaired("empty mask, dropped in training",
                          f"image {image_id} ({self.image_reference(image_id)}), "
                          f"instance {int(k)}")
        if config is not None and masks.shape[2]:
            found.extend(small_box_problems(extract_bboxes(masks), areas, image.shape,
                                            config))
        return found


def repair_lines(name: str, repairs: dict[str, list[str]], shown: int = 3) -> list[str]:
    """One line per kind of repaired fault of the data set ``name``, naming the first
    ``shown`` items and counting the rest."""
    return [f"{name}: {len(items)} {kind}: {'; '.join(items[:shown])}"
            + (f"; and {len(items) - shown} more" if len(items) > shown else "")
            for kind, items in repairs.items()]


def small_box_problems(boxes: np.ndarray, areas: np.ndarray, image_shape: tuple,
                       config: Any) -> list[str]:
    """Boxes ``[N, 4]`` (pixels) of non-empty masks that shrink under one pixel at the
    training scale of ``config``."""
    _, _, scale, _, _ = resize_image(
        np.zeros(tuple(image_shape[:2]) + (1,), np.uint8), config.IMAGE_MIN_DIM,
        config.IMAGE_MAX_DIM, config.IMAGE_MIN_SCALE, inference_resize_mode(config))
    size = (boxes[:, 2:] - boxes[:, :2]) * scale
    return [f"instance {int(k)}: degenerate box {boxes[k].tolist()} "
            f"({boxes[k][2] - boxes[k][0]}x{boxes[k][3] - boxes[k][1]} px) is under 1 px at "
            f"the training scale {scale:.3g}; its mask may vanish and training will drop it"
            for k in np.flatnonzero((areas > 0) & (size.min(axis=1) < 1.0))]


class WrappedDataset(Dataset):
    """A data set served from another, prepared ``dataset``: its classes (copied), and its
    crowd regions where it has them. ``DatasetSubset`` and ``CachedDataset`` build on it."""

    def __init__(self, dataset: Dataset):
        super().__init__()
        if not hasattr(dataset, "class_names"):
            raise RuntimeError(f"{type(self).__name__}: call prepare() on the wrapped data "
                               "set first")
        self.dataset = dataset
        self.class_info = [dict(info) for info in dataset.class_info]

    @property
    def has_crowd(self) -> bool:
        return has_crowd(self.dataset)


def _clean_name(name: str) -> str:
    """First comma-separated part of a class name, stripped ("person, human" -> "person")."""
    return name.split(",")[0].strip()


def _hashable(value: Any) -> Any:
    try:
        hash(value)
        return value
    except TypeError:
        return repr(value)
