"""VGG Image Annotator (VIA) 1.x / 2.x json: polygons, circles, ellipses and rectangles.

    dataset = ViaDataset()
    dataset.load_via("balloon/train/via_region_data.json", "balloon/train")
    dataset.prepare()                      # one class, "object" (or class_names[0])

    # several classes, named by a region attribute:
    dataset.load_via(json_path, image_dir, class_attribute="name",
                     class_names=["balloon", "kite"])

Accepted files: the VIA 1.x export (``via_region_data.json``: a dict keyed by
``<filename><size>``, ``regions`` a dict ``{"0": region, ...}`` or a list), the VIA 2.x
annotation export (same dict, ``regions`` a list) and the VIA 2.x project file (that dict
under ``_via_img_metadata``). A region is ``{"shape_attributes": {"name": shape, ...},
"region_attributes": {...}}`` with shape ``polygon`` (``all_points_x``, ``all_points_y``),
``circle`` (``cx, cy, r``), ``ellipse`` (``cx, cy, rx, ry`` and, in 2.x, ``theta``:
radians, clockwise on screen), ``rect`` (``x, y, width, height``); ``point`` and
``polyline`` regions carry no area and are skipped. Masks are rasterised with
``skimage.draw`` at load time.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import skimage.draw
from PIL import Image

from mrcnn.data.dataset import Dataset

logger = logging.getLogger(__name__)

AREA_SHAPES = ("polygon", "circle", "ellipse", "rect")
SKIPPED_SHAPES = ("point", "polyline")


class ViaDataset(Dataset):
    """A ``Dataset`` over VIA json annotations (see the module docstring)."""

    def load_via(self, json_path: str | os.PathLike, image_dir: str | os.PathLike | None = None,
                 class_attribute: str | None = None,
                 class_names: Sequence[str] | None = None,
                 source: str = "via", missing: str = "error") -> None:
        """Register the classes and the annotated images of a VIA json file.

        Args:
            json_path: the VIA json (1.x export, 2.x export or 2.x project).
            image_dir: folder of the images (default: the json's folder).
            class_attribute: region attribute holding the class name; None: every region
                is of one class, ``class_names[0]`` (default "object").
            class_names: classes to register, in id order (1, 2, ...). With a
                ``class_attribute`` and no ``class_names``, the sorted attribute values.
                Regions of other classes are skipped (counted in a log message).
            source: source name of the classes and images.
            missing: images absent from ``image_dir``: "error" (FileNotFoundError listing
                them), "skip" (left out, with a warning).
        """
        if missing not in ("error", "skip"):
            raise ValueError(f"load_via: missing must be 'error' or 'skip', got {missing!r}")
        json_path = os.fspath(json_path)
        if not os.path.isfile(json_path):
            raise FileNotFoundError(f"VIA annotation file not found: {json_path}")
        image_dir = os.path.dirname(json_path) if image_dir is None else os.fspath(image_dir)
        with open(json_path) as f:
            try:
                data = json.load(f)
            except json.JSONDecodeError as error:
                raise ValueError(f"{json_path}: not valid json: {error}") from error
        entries = _via_entries(data, json_path)

        parsed = []  # (filename, [(shape_attributes, class name, region index)])
        for key, entry in entries.items():
            if not isinstance(entry, Mapping) or "filename" not in entry:
                raise ValueError(f"{json_path}: entry {key!r} has no 'filename'")
            regions = entry.get("regions") or []
            if isinstance(regions, Mapping):
                regions = [regions[k] for k in sorted(regions, key=_region_order)]
            shapes = []
            for index, region in enumerate(regions):
                name = _region_class(region, class_attribute, class_names, json_path,
                                     entry["filename"], index)
                shapes.append((region.get("shape_attributes") or {}, name, index))
            parsed.append((str(entry["filename"]), shapes))

        if class_names is None:
            if class_attribute is None:
                class_names = ["object"]
            else:
                class_names = sorted({name for _, shapes in parsed for _, name, _ in shapes})
        class_names = [str(n) for n in class_names]
        if len(set(class_names)) != len(class_names):
            raise ValueError(f"load_via: class_names has duplicates: {class_names}")
        for i, name in enumerate(class_names, start=1):
            self.add_class(source, i, name)
        class_ids = {name: i for i, name in enumerate(class_names, start=1)}

        absent, skipped_classes = [], 0
        for filename, shapes in parsed:
            path = os.path.join(image_dir, filename)
            if not os.path.isfile(path):
                absent.append(path)
                continue
            try:
                with Image.open(path) as image:  # reads the header only
                    width, height = image.size
            except Exception:  # unreadable: load_image and the data check name the file
                width = height = None
            regions = []
            for attributes, name, index in shapes:
                if name not in class_ids:
                    skipped_classes += 1
                    continue
                kind = attributes.get("name")
                if kind in SKIPPED_SHAPES:
                    logger.debug("%s, region %d: %s has no area; skipped", path, index, kind)
                    continue
                _check_shape(attributes, path, index)
                regions.append({"shape": dict(attributes), "class": class_ids[name],
                                "region": index})
            self.add_image(source, image_id=filename, path=path, width=width, height=height,
                           regions=regions)
        if skipped_classes:
            logger.info("%s: %d region(s) of classes other than %s skipped", json_path,
                        skipped_classes, class_names)
        if absent:
            listing = "; ".join(absent[:10]) + (f" (and {len(absent) - 10} more)"
                                                 if len(absent) > 10 else "")
            message = f"{json_path}: {len(absent)} annotated image(s) not found: {listing}"
            if missing == "error":
                raise FileNotFoundError(message + "; pass missing='skip' to leave them out")
            logger.warning("%s; left out", message)

    def load_mask(self, image_id: int) -> tuple[np.ndarray, np.ndarray]:
        """Masks ``[H, W, N]`` bool, one per region (clipped to the image), class ids [N]."""
        info = self.image_info[image_id]
        if "regions" not in info:
            return super().load_mask(image_id)
        height, width = info["height"], info["width"]
        if height is None:
            height, width = self.load_image(image_id).shape[:2]
        masks, class_ids = [], []
        for region in info["regions"]:
            mask = shape_to_mask(region["shape"], height, width)
            if not mask.any():
                logger.debug("%s, region %d: empty mask (outside the image?); skipped",
                             info["path"], region["region"])
                continue
            masks.append(mask)
            class_ids.append(region["class"])
        if not masks:
            return np.zeros((height, width, 0), bool), np.zeros((0,), np.int32)
        return np.stack(masks, axis=-1), np.array(class_ids, np.int32)


def _via_entries(data: Any, json_path: str) -> Mapping[str, Any]:
    """The per-image dict of a VIA 1.x/2.x export or 2.x project."""
    if isinstance(data, Mapping) and "_via_img_metadata" in data:
        data = data["_via_img_metadata"]
    elif isinstance(data, Mapping) and ("project" in data and "file" in data
                                        and "metadata" in data):
        raise ValueError(f"{json_path}: a VIA 3.x project; export the annotations from VIA "
                         "2.x (or convert to COCO and use CocoDataset)")
    if not isinstance(data, Mapping):
        raise ValueError(f"{json_path}: expected a VIA json object, got {type(data).__name__}")
    return data


def _region_order(key: str):
    return (0, int(key)) if str(key).isdigit() else (1, str(key))


def _region_class(region: Any, class_attribute: str | None,
                  class_names: Sequence[str] | None, json_path: str, filename: str,
                  index: int) -> str:
    where = f"{json_path}: image {filename!r}, region {index}"
    if not isinstance(region, Mapping) or "shape_attributes" not in region:
        raise ValueError(f"{where}: a region needs 'shape_attributes'")
    if class_attribute is None:
        return str(class_names[0]) if class_names else "object"
    attributes = region.get("region_attributes") or {}
    if class_attribute not in attributes:
        raise ValueError(f"{where}: no region attribute {class_attribute!r} "
                         f"(has {sorted(attributes)})")
    value = attributes[class_attribute]
    if isinstance(value, Mapping):  # VIA 2.x checkbox / dropdown: {"balloon": true}
        chosen = [k for k, v in value.items() if v]
        if len(chosen) != 1:
            raise ValueError(f"{where}: attribute {class_attribute!r} = {value!r} does not "
                             "name exactly one class")
        value = chosen[0]
    return str(value).strip()


def _check_shape(attributes: Mapping[str, Any], path: str, index: int) -> None:
    kind = attributes.get("name")
    needed = {"polygon": ("all_points_x", "all_points_y"), "circle": ("cx", "cy", "r"),
              "ellipse": ("cx", "cy", "rx", "ry"), "rect": ("x", "y", "width", "height")}
    if kind not in needed:
        raise ValueError(f"{path}, region {index}: unsupported shape {kind!r}; expected one "
                         f"of {AREA_SHAPES} (or {SKIPPED_SHAPES}, skipped)")
    absent = [k for k in needed[kind] if k not in attributes]
    if absent:
        raise ValueError(f"{path}, region {index}: {kind} lacks {absent}")
    if kind == "polygon" and len(attributes["all_points_x"]) != len(attributes["all_points_y"]):
        raise ValueError(f"{path}, region {index}: polygon has "
                         f"{len(attributes['all_points_x'])} x and "
                         f"{len(attributes['all_points_y'])} y coordinates")


def shape_to_mask(attributes: Mapping[str, Any], height: int, width: int) -> np.ndarray:
    """``[height, width]`` bool mask of one VIA ``shape_attributes`` dict."""
    mask = np.zeros((height, width), bool)
    kind = attributes["name"]
    shape = (height, width)
    if kind == "polygon":
        rows, cols = skimage.draw.polygon(np.asarray(attributes["all_points_y"], float),
                                          np.asarray(attributes["all_points_x"], float), shape)
    elif kind == "circle":
        rows, cols = skimage.draw.disk((float(attributes["cy"]), float(attributes["cx"])),
                                       float(attributes["r"]), shape=shape)
    elif kind == "ellipse":
        # VIA's theta turns clockwise on screen (y down); skimage's rotation the other way.
        rows, cols = skimage.draw.ellipse(float(attributes["cy"]), float(attributes["cx"]),
                                          float(attributes["ry"]), float(attributes["rx"]),
                                          shape=shape,
                                          rotation=-float(attributes.get("theta", 0.0)))
    elif kind == "rect":
        y1, x1 = round(float(attributes["y"])), round(float(attributes["x"]))
        y2 = round(float(attributes["y"]) + float(attributes["height"]))
        x2 = round(float(attributes["x"]) + float(attributes["width"]))
        mask[max(y1, 0):max(y2, 0), max(x1, 0):max(x2, 0)] = True
        return mask
    else:
        raise ValueError(f"unsupported VIA shape {kind!r}; expected one of {AREA_SHAPES}")
    mask[rows, cols] = True
    return mask
