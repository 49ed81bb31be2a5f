"""COCO's scoring protocol, whatever threshold a model is deployed with.

COCO AP is an area under the precision-recall curve: it needs the low-scoring detections
too. Detectron2 and torchvision score the top 100 detections per image down to a score of
0.05; a model built to keep only detections above 0.7 (``DETECTION_MIN_CONFIDENCE``, the
deployment threshold ``detect()`` applies) would lose the tail of the curve and every
true positive below 0.7. :func:`scoring_detector` gives the detector that figures are
made with: the same weights, with the COCO floor and cap.
"""

from __future__ import annotations

import copy

from mrcnn.evaluation.boundary import COCO_DILATION_RATIO

COCO_SCORE_FLOOR = 0.05
COCO_MAX_DETECTIONS = 100


def scoring_detector(detector, score_floor: float = COCO_SCORE_FLOOR,
                     max_detections: int = COCO_MAX_DETECTIONS):
    """``detector`` (a :class:`~mrcnn.model.MaskRCNN` in inference mode) when it already
    keeps every detection scoring ``score_floor`` or more, up to ``max_detections`` an
    image; else a detector with the same config, weights and class names built with
    ``DETECTION_MIN_CONFIDENCE = score_floor`` and ``DETECTION_MAX_INSTANCES =
    max_detections`` (pycocotools keeps the top 100 of any more)."""
    config = detector.config
    if (config.DETECTION_MIN_CONFIDENCE <= score_floor
            and config.DETECTION_MAX_INSTANCES >= max_detections):
        return detector
    from mrcnn.model import MaskRCNN

    scoring = copy.copy(config)
    scoring.DETECTION_MIN_CONFIDENCE = min(score_floor, config.DETECTION_MIN_CONFIDENCE)
    scoring.DETECTION_MAX_INSTANCES = max(max_detections, config.DETECTION_MAX_INSTANCES)
    scoring.validate()
    scorer = MaskRCNN("inference", scoring, detector.model_dir)
    scorer.keras_model.set_weights(detector.keras_model.get_weights())
    scorer.class_names = detector.class_names
    return scorer


def protocol_record(detector) -> dict:
    """What a report states of how its figures were scored."""
    config = detector.config
    return {"score_floor": float(config.DETECTION_MIN_CONFIDENCE),
            "max_detections_per_image": min(int(config.DETECTION_MAX_INSTANCES),
                                            COCO_MAX_DETECTIONS),
            "nms_threshold": float(config.DETECTION_NMS_THRESHOLD),
            "boundary_dilation_ratio": COCO_DILATION_RATIO}
