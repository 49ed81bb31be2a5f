"""VOC-style mean of per-image mask AP over a data set (the classic shapes metric)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from mrcnn.data.boxes_from_masks import extract_bboxes
from mrcnn.data.dataset import load_ground_truth
from mrcnn.evaluation.ap import compute_ap, compute_ap_range
from mrcnn.evaluation.detect import timed_detect


def voc_map(dataset: Any, results: Mapping[int, Mapping[str, np.ndarray]],
            image_ids: Iterable[int] | None = None) -> dict[str, float]:
    """Mean over images of per-image mask AP at IoU 0.5, 0.75 and 0.5:0.95.

    ``results`` maps image id -> ``MaskRCNN.detect`` result; ground truth comes from
    :func:`~mrcnn.data.dataset.load_ground_truth`: crowd regions are ignore regions, as
    in COCO (see :func:`~mrcnn.evaluation.ap.compute_ap`).
    """
    image_ids = list(results) if image_ids is None else list(image_ids)
    ap50, ap75, ap_range = [], [], []
    for image_id in image_ids:
        r = results[image_id]
        gt_masks, gt_class_ids = load_ground_truth(dataset, image_id)
        args = (extract_bboxes(gt_masks), gt_class_ids, gt_masks, r["rois"], r["class_ids"],
                r["scores"], r["masks"])
        ap50.append(compute_ap(*args, iou_threshold=0.5)[0])
        ap75.append(compute_ap(*args, iou_threshold=0.75)[0])
        ap_range.append(compute_ap_range(*args))
    return {"mAP50": float(np.mean(ap50)), "mAP75": float(np.mean(ap75)),
            "mAP": float(np.mean(ap_range)), "images": len(image_ids)}


def evaluate_dataset(model: Any, dataset: Any, image_ids: Iterable[int] | None = None,
                     batch_size: int = 8, verbose: bool = True) -> dict[str, float]:
    """Detect on ``image_ids`` of ``dataset`` and average per-image mask AP.

    Returns ``{"mAP50", "mAP75", "mAP" (0.5:0.95), "images", "ms_per_image"}``.
    """
    results, ms_per_image = timed_detect(model, dataset, image_ids, batch_size, verbose)
    return {**voc_map(dataset, results), "ms_per_image": ms_per_image}
