"""COCO-format instance segmentation data: load any COCO json, write any Dataset as one.

    dataset = CocoDataset()
    dataset.load_coco("annotations/instances_val2017.json", "val2017",
                      class_ids=[1, 18])            # a subset of categories, or None: all
    dataset.prepare()
    dataset.map_source_class_id("coco.18")          # -> internal id 2
    dataset.get_source_class_id(2, "coco")          # -> 18
    masks, class_ids = dataset.load_mask(0)         # crowd regions left out (see below)
    export_coco(dataset, "gt.json", image_dir="val2017")

Segmentations may be polygons (one or several parts), compressed RLE (``counts`` a
string) or uncompressed RLE (``counts`` a list, as COCO stores crowd regions). COCO's
non-contiguous category ids (1..90) become contiguous internal class ids 1..K in the
order of the json's ``categories`` (BG is 0); ``get_source_class_id`` maps back.

Crowd regions (``iscrowd: 1``) mark groups of objects that are not segmented one by
one. They are never objects to learn or to find: ``load_mask`` leaves them out by default
(``include_crowd=False``); ``load_mask_with_crowd`` (and ``load_mask`` with
``include_crowd=True``, per call or for the whole data set in ``load_coco``) returns them
with *negative* class ids, the classic Mask R-CNN convention. Evaluation always reads
them that way (COCO's ``iscrowd: 1`` ignore regions, and ignore regions of the VOC-style
AP), and so does training, which keeps anchors and proposals overlapping a crowd region
out of the negatives (the classic rule).
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

from mrcnn.data.boxes_from_masks import extract_bboxes
from mrcnn.data.coco_format import dataset_to_coco, detections_to_coco
from mrcnn.data.dataset import Dataset, repair_lines, small_box_problems
from mrcnn.data.image_io import check_image_file

logger = logging.getLogger(__name__)

MISSING_POLICIES = ("error", "skip", "ignore")


class CocoDataset(Dataset):
    """A ``Dataset`` over one or more COCO-format annotation files."""

    include_crowd = False

    def load_coco(self, annotation_json: str | os.PathLike | Mapping[str, Any],
                  image_dir: str | os.PathLike | None,
                  class_ids: Iterable[int] | None = None,
                  image_ids: Iterable[int] | None = None,
                  source: str = "coco",
                  include_crowd: bool = False,
                  missing: str = "error",
                  return_coco: bool = False,
                  name: str | None = None) -> COCO | None:
        """Register the categories and images of a COCO annotation file.

        Args:
            annotation_json: path of the json, or the json dict itself.
            image_dir: folder the images' ``file_name`` are relative to; None registers
                images without paths (masks and evaluation only; ``load_image`` fails).
            class_ids: COCO category ids to keep (default: all). Only images with at
                least one annotation of these categories are registered, and only those
                annotations are returned by ``load_mask``.
            image_ids: COCO image ids to keep (default: all, or those of ``class_ids``).
            source: source name of the classes and images ("coco" -> ``"coco.90"``).
            include_crowd: default of ``load_mask(include_crowd=...)`` for this data set.
            missing: what to do with images absent from ``image_dir``: "error" raises
                FileNotFoundError listing them (image id and file), "skip" leaves them out
                with a warning, "ignore" registers them anyway (``load_image`` raises).
            return_coco: also return the pycocotools ``COCO`` object.
            name: how error messages name the annotations (default: the path, or
                "<json dict>" for a dict).
        """
        if missing not in MISSING_POLICIES:
            raise ValueError(f"load_coco: missing must be one of {MISSING_POLICIES}, "
                             f"got {missing!r}")
        where = name or (annotation_json if not isinstance(annotation_json, Mapping)
                         else "<json dict>")
        coco = _load_coco_object(annotation_json)
        self.include_crowd = bool(include_crowd)

        categories = {int(c["id"]): c for c in coco.dataset.get("categories", [])}
        if class_ids is None:
            class_ids = sorted(categories)
        else:
            class_ids = sorted({int(c) for c in class_ids})
            unknown = [c for c in class_ids if c not in categories]
            if unknown:
                raise ValueError(f"{where}: category ids {unknown} are not in the file's "
                                 f"categories {sorted(categories)}")
        keep_categories = set(class_ids)
        if image_ids is not None:
            image_ids = [int(i) for i in image_ids]
            unknown = [i for i in image_ids if i not in coco.imgs]
            if unknown:
                raise ValueError(f"{where}: image ids {unknown[:10]} are not in the file")
        elif len(keep_categories) < len(categories):
            image_ids = sorted({i for c in class_ids for i in coco.getImgIds(catIds=[c])})
        else:
            image_ids = sorted(coco.imgs)

        for category_id in class_ids:
            self.add_class(source, category_id, str(categories[category_id]["name"]))

        absent = []
        for image_id in image_ids:
            image = coco.imgs[image_id]
            file_name = str(image.get("file_name", ""))
            path = os.path.join(os.fspath(image_dir), file_name) if image_dir is not None \
                else None
            if path is not None and missing != "ignore" and not os.path.isfile(path):
                absent.append((image_id, path))
                continue
            annotations = self._usable_annotations(
                coco.imgToAnns.get(image_id, []), image, keep_categories, categories, path)
            self.add_image(source, image_id=image_id, path=path, file_name=file_name,
                           width=int(image["width"]), height=int(image["height"]),
                           annotations=annotations)
        known_images = set(coco.imgs)
        for annotation in coco.dataset.get("annotations", []):
            if annotation.get("image_id") not in known_images:
                self.repaired("annotation of an image id not in 'images', left out",
                              f"annotation {annotation.get('id')} (image id "
                              f"{annotation.get('image_id')!r})")
        for line in repair_lines(str(where), self.repairs):
            logger.warning("%s", line)
        if absent:
            listing = "; ".join(f"image {i}: {p}" for i, p in absent[:10])
            more = f" (and {len(absent) - 10} more)" if len(absent) > 10 else ""
            message = (f"{where}: {len(absent)} of {len(image_ids)} images not found on disk "
                       f"under {os.fspath(image_dir)!r}: {listing}{more}")
            if missing == "error":
                raise FileNotFoundError(message + "; pass missing='skip' to leave them out")
            logger.warning("%s; left out", message)
        return coco if return_coco else None

    def _usable_annotations(self, annotations, image, keep_categories, categories,
                            path) -> list:
        """The annotations of one image that can become masks; the others are recorded
        in :attr:`repairs` (an unknown category or an empty segmentation: left out; a
        polygon past the image border: kept, clipped when drawn)."""
        usable = []
        for annotation in annotations:
            what = f"image {image['id']} ({path or image.get('file_name')}), annotation " \
                   f"{annotation.get('id')}"
            category = annotation.get("category_id")
            if category not in categories:
                self.repaired("annotation(s) with a category id not in 'categories', left "
                              "out", f"{what} (category {category!r})")
                continue
            if int(category) not in keep_categories:
                continue
            segmentation = annotation.get("segmentation")
            if isinstance(segmentation, list):
                parts = [part for part in segmentation
                         if isinstance(part, list) and len(part) >= 6]
                if not parts:
                    self.repaired("annotation(s) with an empty segmentation (no polygon of "
                                  "3 points or more), left out", what)
                    continue
                if _past_border(parts, int(image["width"]), int(image["height"])):
                    self.repaired("polygon(s) past the image border, clipped to it", what)
            elif not segmentation:
                self.repaired("annotation(s) with an empty segmentation, left out", what)
                continue
            usable.append(annotation)
        return usable

    def check_image(self, image_id: int, config: Any = None) -> list[str]:
        """What is wrong with one image: its file decodes (read only as far as needed,
        :func:`~mrcnn.data.image_io.check_image_file`) at the size the json gives, and
        each annotation makes a mask of that size (crowd regions included); an empty
        mask is recorded in :attr:`repairs` (it is left out when loading)."""
        info = self.image_info[image_id]
        if "annotations" not in info or info.get("path") is None:
            return super().check_image(image_id, config)
        height, width = int(info["height"]), int(info["width"])
        where = f"image {image_id} ({info['path']})"
        try:
            size = check_image_file(info["path"], where)
        except (FileNotFoundError, ValueError) as error:
            return [f"unreadable image: {str(error).removeprefix(where + ': ')}"]
        if size != (height, width):
            return [f"the file is {size[1]}x{size[0]} px (width x height) but the json says "
                    f"{width}x{height}: its masks would not fit the image"]
        problems, masks = [], []
        for annotation in info["annotations"]:
            segmentation = annotation.get("segmentation")
            if (annotation.get("iscrowd") and isinstance(segmentation, Mapping)
                    and [int(v) for v in segmentation.get("size", ())] != [height, width]):
                problems.append(f"annotation {annotation.get('id')}: crowd region RLE of size "
                                f"{segmentation.get('size')} in an image of {height}x{width}")
                continue
            try:
                mask = annotation_to_mask(annotation, height, width, where)
            except ValueError as error:
                problems.append(str(error))
                continue
            if not mask.any():
                self.repaired("annotation(s) whose mask is empty, left out",
                              f"{where}, annotation {annotation.get('id')}")
            elif not annotation.get("iscrowd"):
                masks.append(mask)
        if config is not None and masks and not problems:
            stack = np.stack(masks, axis=-1)
            problems.extend(small_box_problems(extract_bboxes(stack), stack.sum(axis=(0, 1)),
                                               (height, width), config))
        return problems

    def load_mask(self, image_id: int,
                  include_crowd: bool | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Instance masks ``[H, W, N]`` bool and internal class ids ``[N]`` int32.

        Crowd regions are left out unless ``include_crowd`` (default: the data set's
        ``include_crowd``), then returned with negative class ids. Annotations whose
        mask is empty are dropped.
        """
        info = self.image_info[image_id]
        if "annotations" not in info:
            return super().load_mask(image_id)
        include_crowd = self.include_crowd if include_crowd is None else include_crowd
        height, width = info["height"], info["width"]
        masks, class_ids = [], []
        for annotation in info["annotations"]:
            crowd = bool(annotation.get("iscrowd", 0))
            if crowd and not include_crowd:
                continue
            class_id = self.map_source_class_id(f"{info['source']}.{annotation['category_id']}")
            mask = annotation_to_mask(annotation, height, width,
                                      where=f"image {image_id} ({info['path']!r})")
            if not mask.any():
                continue
            masks.append(mask)
            class_ids.append(-class_id if crowd else class_id)
        if not masks:
            return np.zeros((height, width, 0), bool), np.zeros((0,), np.int32)
        return np.stack(masks, axis=-1), np.array(class_ids, np.int32)

    def load_mask_with_crowd(self, image_id: int) -> tuple[np.ndarray, np.ndarray]:
        """``load_mask`` with the crowd regions (negative class ids), whatever
        ``include_crowd`` is: evaluation and training targets read them."""
        return self.load_mask(image_id, include_crowd=True)

    def image_reference(self, image_id: int) -> str:
        """The image's path (or its file name when registered without ``image_dir``)."""
        info = self.image_info[image_id]
        return str(info.get("path") or info.get("file_name") or "")


def _load_coco_object(annotation_json) -> COCO:
    if isinstance(annotation_json, Mapping):
        data = dict(annotation_json)
    else:
        path = os.fspath(annotation_json)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"COCO annotation file not found: {path}")
        try:
            with open(path) as f:
                data = json.load(f)
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}: not valid json: {error}") from error
    if not isinstance(data, Mapping) or "images" not in data or "categories" not in data:
        raise ValueError("COCO json needs 'images' and 'categories' (and 'annotations'); got "
                         f"keys {sorted(data) if isinstance(data, Mapping) else type(data)}")
    coco = COCO()
    coco.dataset = {"annotations": [], **data}
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


def annotation_to_mask(annotation: Mapping[str, Any], height: int, width: int,
                       where: str = "") -> np.ndarray:
    """``[height, width]`` bool mask of one COCO annotation.

    Polygons: a list of parts ``[x1, y1, x2, y2, ...]``, merged; parts with fewer than 3
    points are ignored. RLE: ``{"size": [h, w], "counts": str | list}``. A crowd RLE whose
    size differs from the image covers the whole image (classic behaviour); any other size
    mismatch raises ValueError.
    """
    segmentation = annotation.get("segmentation")
    label = f"{where}, annotation {annotation.get('id')}".lstrip(", ")
    try:
        if isinstance(segmentation, list):
            parts = [[float(v) for v in part] for part in segmentation
                     if len(part) >= 6 and len(part) % 2 == 0]
            if len(parts) < len(segmentation):
                logger.debug("%s: ignored %d polygon part(s) with fewer than 3 points", label,
                             len(segmentation) - len(parts))
            if not parts:
                return np.zeros((height, width), bool)
            rle = mask_utils.merge(mask_utils.frPyObjects(parts, height, width))
        elif isinstance(segmentation, Mapping) and "counts" in segmentation:
            size = [int(v) for v in segmentation.get("size", ())]
            if size != [height, width]:
                if annotation.get("iscrowd"):
                    return np.ones((height, width), bool)
                raise ValueError(f"RLE size {size} differs from the image's "
                                 f"[{height}, {width}]")
            if isinstance(segmentation["counts"], list):
                rle = mask_utils.frPyObjects(dict(segmentation), height, width)
            else:
                rle = dict(segmentation)
        else:
            raise ValueError(f"unsupported segmentation {str(segmentation)[:80]!r}: expected "
                             "polygons (list of lists) or RLE ({'size', 'counts'})")
        mask = mask_utils.decode(rle)
    except ValueError as error:
        raise ValueError(f"{label}: {error}") from error
    except Exception as error:  # pycocotools raises TypeError etc. on malformed input
        raise ValueError(f"{label}: cannot decode segmentation: {error!r}") from error
    return mask.astype(bool).reshape(height, width)


def _past_border(parts: list, width: int, height: int) -> bool:
    """Whether a polygon point lies outside ``[0, width] x [0, height]``."""
    try:
        xs = [float(v) for part in parts for v in part[0::2]]
        ys = [float(v) for part in parts for v in part[1::2]]
    except (TypeError, ValueError):
        return False  # annotation_to_mask names what is wrong with it
    return min(xs) < 0 or min(ys) < 0 or max(xs) > width or max(ys) > height


def _unique_int_ids(values) -> bool:
    try:
        ints = [int(v) for v in values]
    except (TypeError, ValueError):
        return False
    return all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values) \
        and len(set(ints)) == len(ints)


def _id_maps(dataset: Dataset, ids: str) -> tuple[dict[int, int], dict[int, int]]:
    """(internal class id -> json category id, internal image id -> json image id)."""
    if ids not in ("auto", "source", "internal"):
        raise ValueError(f"ids must be 'auto', 'source' or 'internal', got {ids!r}")
    class_source = [info["id"] for info in dataset.class_info[1:]]
    image_source = [info["id"] for info in dataset.image_info]
    classes = {i: i for i in range(dataset.num_classes)}
    images = {i: i for i in range(dataset.num_images)}
    if ids == "internal":
        return classes, images
    class_ok = _unique_int_ids(class_source) and all(int(c) > 0 for c in class_source)
    image_ok = _unique_int_ids(image_source)
    if ids == "source" and not (class_ok and image_ok):
        raise ValueError("ids='source' needs unique positive integer source class ids and "
                         "unique integer source image ids; use ids='internal'")
    if class_ok:
        classes = {i + 1: int(c) for i, c in enumerate(class_source)}
    if image_ok:
        images = {i: int(v) for i, v in enumerate(image_source)}
    return classes, images


def dataset_coco_json(dataset: Dataset, image_ids: Iterable[int] | None = None,
                      image_dir: str | os.PathLike | None = None,
                      ids: str = "auto") -> dict[str, Any]:
    """COCO json dict of a prepared ``Dataset`` (ground truth from ``load_mask``).

    Built by :func:`mrcnn.data.coco_format.dataset_to_coco` (RLE masks; negative class ids
    become ``iscrowd: 1``), then made portable: ``ids="auto"`` writes the data set's
    source ids (COCO category and image ids survive a load/export round trip) where
    they are unique integers, else internal ids; ``"source"`` requires them,
    ``"internal"`` never uses them. ``file_name`` is the image path relative to
    ``image_dir`` when given, else the registered ``file_name`` or the path's base name.
    """
    data = dataset_to_coco(dataset, image_ids)
    class_map, image_map = _id_maps(dataset, ids)
    for category in data["categories"]:
        category["id"] = class_map[category["id"]]
    for annotation in data["annotations"]:
        annotation["category_id"] = class_map[annotation["category_id"]]
        annotation["image_id"] = image_map[annotation["image_id"]]
    for image in data["images"]:
        info = dataset.image_info[image["id"]]
        path = info.get("path")
        if image_dir is not None and path:
            image["file_name"] = os.path.relpath(os.fspath(path), os.fspath(image_dir))
        elif info.get("file_name"):
            image["file_name"] = str(info["file_name"])
        elif path:
            image["file_name"] = os.path.basename(os.fspath(path))
        image["id"] = image_map[image["id"]]
    return data


def export_coco(dataset: Dataset, path: str | os.PathLike,
                image_ids: Iterable[int] | None = None,
                image_dir: str | os.PathLike | None = None, ids: str = "auto") -> dict:
    """Write any prepared ``Dataset`` as a COCO json file (see :func:`dataset_coco_json`);
    returns the dict written. Load it back with ``CocoDataset().load_coco(path, image_dir)``.
    """
    data = dataset_coco_json(dataset, image_ids, image_dir, ids)
    _write_json(data, path)
    return data


def export_detections(dataset: Dataset, results: Mapping[int, Mapping[str, np.ndarray]],
                      path: str | os.PathLike, ids: str = "auto") -> list[dict[str, Any]]:
    """Write ``MaskRCNN.detect`` results ``{internal image id: result}`` as a COCO results
    json (``[{image_id, category_id, score, bbox, segmentation}]``, via
    :func:`mrcnn.data.coco_format.detections_to_coco`), with the same ids as
    :func:`export_coco` writes for ``dataset``, so the two files evaluate together."""
    class_map, image_map = _id_maps(dataset, ids)
    entries = []
    for image_id, result in results.items():
        for entry in detections_to_coco(int(image_id), result):
            entry["image_id"] = image_map[int(image_id)]
            entry["category_id"] = class_map[entry["category_id"]]
            entries.append(entry)
    _write_json(entries, path)
    return entries


def _write_json(data, path) -> None:
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    tmp = os.path.join(directory, f".tmp-{os.getpid()}-{os.path.basename(path)}")
    with open(tmp, "w") as f:
        json.dump(data, f)
    os.replace(tmp, path)
