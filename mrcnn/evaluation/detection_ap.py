"""Mean AP of a model's detections over a data set (the per-image metrics of ``ap``)."""

from __future__ import annotations

import time

import numpy as np

from mrcnn.data.boxes_from_masks import extract_bboxes
from mrcnn.evaluation.ap import compute_ap, compute_ap_range


def evaluate_dataset(model, dataset, image_ids=None, batch_size: int = 8,
                     verbose: bool = True) -> dict[str, float]:
    """Detect on ``image_ids`` of ``dataset`` and average per-image mask AP.

    Returns ``{"mAP50": ..., "mAP75": ..., "mAP": (0.5:0.95), "images": n,
    "ms_per_image": ...}``; ground truth comes from ``dataset.load_mask``; the time is
    that of ``detect`` after one warm-up call.
    """
    image_ids = list(dataset.image_ids if image_ids is None else image_ids)
    ap50, ap75, ap_range = [], [], []
    detect_seconds = 0.0
    if image_ids:  # warm-up: the first call traces the graph, which is not inference time
        model.detect([dataset.load_image(image_ids[0])])
    for start in range(0, len(image_ids), batch_size):
        chunk = image_ids[start:start + batch_size]
        images = [dataset.load_image(i) for i in chunk]
        tic = time.perf_counter()
        results = model.detect(images)
        detect_seconds += time.perf_counter() - tic
        for image_id, r in zip(chunk, results):
            gt_masks, gt_class_ids = dataset.load_mask(image_id)
            gt_boxes = extract_bboxes(gt_masks)
            args = (gt_boxes, gt_class_ids, gt_masks, r["rois"], r["class_ids"], r["scores"],
                    r["masks"])
            ap50.append(compute_ap(*args, iou_threshold=0.5)[0])
            ap75.append(compute_ap(*args, iou_threshold=0.75)[0])
            ap_range.append(compute_ap_range(*args))
        if verbose:
            done = min(start + batch_size, len(image_ids))
            print(f"\revaluated {done}/{len(image_ids)} images, mAP50 so far "
                  f"{np.mean(ap50):.3f}", end="", flush=True)
    if verbose:
        print()
    return {"mAP50": float(np.mean(ap50)), "mAP75": float(np.mean(ap75)),
            "mAP": float(np.mean(ap_range)), "images": len(image_ids),
            "ms_per_image": 1000.0 * detect_seconds / max(len(image_ids), 1)}
