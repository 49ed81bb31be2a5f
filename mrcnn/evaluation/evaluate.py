"""Every figure of one trained detector on a held-out set, from one detection pass."""

from __future__ import annotations

import numpy as np

from mrcnn.evaluation.coco import ap_vs_iou, evaluate_model_coco
from mrcnn.evaluation.detect import timed_detect
from mrcnn.evaluation.detection_ap import voc_map
from mrcnn.evaluation.mask_quality import mask_quality_from_results, summarize_mask_quality
from mrcnn.evaluation.protocol import COCO_SCORE_FLOOR, protocol_record, scoring_detector


def evaluate_run(detector, val_set, progress: bool = False,
                 score_floor: float = COCO_SCORE_FLOOR) -> dict:
    """Every figure of one trained head on the held-out set, from one detect pass, scored
    by COCO's protocol (:func:`mrcnn.evaluation.protocol.scoring_detector`: detections
    down to a score of 0.05, at most 100 an image, whatever ``detector`` deploys with):
    mask, box and Boundary AP (with AP90 of masks and boundaries), the AP-vs-IoU curves,
    VOC mAP and the mask quality of true positives; ``protocol`` says how."""
    detector = scoring_detector(detector, score_floor)
    results, ms_per_image = timed_detect(detector, val_set, progress=progress)
    coco = evaluate_model_coco(None, val_set, results=results, verbose=False,
                               return_precision=True)
    curves = {}
    for name in ("segm", "boundary"):
        thresholds, curve = ap_vs_iou(coco[name].pop("precision"))
        coco[name]["AP90"] = float(curve[np.argmin(np.abs(thresholds - 0.9))])
        curves[name] = [float(a) for a in curve]
    coco["bbox"].pop("precision")
    quality = summarize_mask_quality(mask_quality_from_results(val_set, results))
    return {"segm": coco["segm"], "bbox": coco["bbox"], "boundary": coco["boundary"],
            "voc": voc_map(val_set, results),
            "ap_vs_iou": {"iou": thresholds.tolist(), "AP": curves["segm"],
                          "boundary_AP": curves["boundary"]},
            "mask_quality": quality, "ms_per_image": ms_per_image,
            "held_out_images": int(val_set.num_images), "protocol": protocol_record(detector)}
