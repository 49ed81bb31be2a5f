"""COCO json of a ``Dataset``'s ground truth and of ``MaskRCNN.detect`` results.

Ids: a COCO image id is the data set's internal image id and a COCO category id is its
internal class id (BG, id 0, is left out); annotation ids start at 1, because COCOeval reads
a matched annotation id of 0 as "no match".
:func:`mrcnn.data.coco.export_coco` and :func:`~mrcnn.data.coco.export_detections` write
them to files with portable ids; :mod:`mrcnn.evaluation.coco` evaluates them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
from pycocotools import mask as mask_utils

from mrcnn.data.boxes_from_masks import extract_bboxes
from mrcnn.data.dataset import load_ground_truth


def encode_mask(mask: np.ndarray) -> dict[str, Any]:
    """COCO RLE of a mask [H, W] (non-zero = inside), with "counts" as str (json-ready)."""
    rle = mask_utils.encode(np.asfortranarray(np.asarray(mask).astype(bool).astype(np.uint8)))
    rle["counts"] = rle["counts"].decode("ascii")
    return rle


def dataset_to_coco(dataset: Any, image_ids: Iterable[int] | None = None) -> dict[str, Any]:
    """Ground truth of a prepared ``Dataset`` as a COCO json dict.

    Images come from ``image_ids`` (default all) with width/height of their masks, categories
    from ``dataset.class_info`` without BG, annotations from ``load_ground_truth`` (crowd
    regions included whatever the data set was loaded with): RLE segmentation, bbox
    [x, y, w, h] of the mask, area = mask pixels. A negative class id marks a crowd region
    (classic Mask R-CNN COCO convention): category |id|, iscrowd 1. Empty masks are skipped.
    """
    if not hasattr(dataset, "class_names"):
        raise RuntimeError("dataset_to_coco: call dataset.prepare() first")
    image_ids = [int(i) for i in (dataset.image_ids if image_ids is None else image_ids)]
    categories = [
        {"id": class_id, "name": dataset.class_names[class_id],
         "supercategory": str(info["source"])}
        for class_id, info in enumerate(dataset.class_info) if class_id > 0
    ]
    images, annotations = [], []
    for image_id in image_ids:
        masks, class_ids = load_ground_truth(dataset, image_id)
        masks, class_ids = np.asarray(masks), np.asarray(class_ids).reshape(-1)
        if masks.ndim != 3 or masks.shape[-1] != len(class_ids):
            raise ValueError(
                f"dataset_to_coco: image {image_id}: load_mask returned masks {masks.shape} and "
                f"{len(class_ids)} class ids; expected [H, W, N] and [N]")
        height, width = _image_size(dataset, image_id, masks)
        images.append({"id": image_id, "width": width, "height": height,
                        "file_name": dataset.image_reference(image_id) or str(image_id)})
        boxes = extract_bboxes(masks)
        areas = masks.astype(bool).sum(axis=(0, 1))
        for i, class_id in enumerate(class_ids):
            if areas[i] == 0:
                continue
            category = abs(int(class_id))
            if not 0 < category < dataset.num_classes:
                raise ValueError(f"dataset_to_coco: image {image_id}, mask {i}: class id "
                                 f"{class_id} is not in 1..{dataset.num_classes - 1}")
            y1, x1, y2, x2 = (int(v) for v in boxes[i])
            annotations.append({
                "id": len(annotations) + 1, "image_id": image_id, "category_id": category,
                "segmentation": encode_mask(masks[:, :, i]),
                "bbox": [x1, y1, x2 - x1, y2 - y1], "area": int(areas[i]),
                "iscrowd": int(class_id < 0),
            })
    return {"info": {"description": f"{type(dataset).__name__} ground truth (mrcnn)"},
            "images": images, "categories": categories, "annotations": annotations}


def detections_to_coco(image_id: int, result: Mapping[str, np.ndarray]) -> list[dict[str, Any]]:
    """COCO result entries for one ``MaskRCNN.detect`` result of image ``image_id``.

    ``result``: rois [N, 4] (y1, x1, y2, x2) px, class_ids [N], scores [N], masks [H, W, N].
    Each entry has image_id, category_id, score, bbox [x, y, w, h] (from rois, i.e. the box
    head's box) and segmentation (RLE of the mask).
    """
    missing = [key for key in ("rois", "class_ids", "scores", "masks") if key not in result]
    if missing:
        raise KeyError(f"detections_to_coco: image {image_id}: result lacks {missing}")
    rois = np.asarray(result["rois"], dtype=np.float64).reshape(-1, 4)
    class_ids = np.asarray(result["class_ids"]).reshape(-1)
    scores = np.asarray(result["scores"], dtype=np.float64).reshape(-1)
    masks = np.asarray(result["masks"])
    count = len(rois)
    if len(class_ids) != count or len(scores) != count or masks.ndim != 3 \
            or masks.shape[-1] != count:
        raise ValueError(
            f"detections_to_coco: image {image_id}: inconsistent result, rois {rois.shape}, "
            f"class_ids {class_ids.shape}, scores {scores.shape}, masks {masks.shape}")
    entries = []
    for i in range(count):
        y1, x1, y2, x2 = (float(v) for v in rois[i])
        entries.append({
            "image_id": int(image_id), "category_id": int(class_ids[i]),
            "score": float(scores[i]), "bbox": [x1, y1, x2 - x1, y2 - y1],
            "segmentation": encode_mask(masks[:, :, i]),
        })
    return entries



def _image_size(dataset: Any, image_id: int, masks: np.ndarray) -> tuple[int, int]:
    """(height, width) of an image: from its masks, else image_info, else load_image."""
    if masks.shape[0] > 0 and masks.shape[1] > 0:
        return int(masks.shape[0]), int(masks.shape[1])
    info = dataset.image_info[image_id]
    if "height" in info and "width" in info:
        return int(info["height"]), int(info["width"])
    shape = dataset.load_image(image_id).shape
    return int(shape[0]), int(shape[1])
