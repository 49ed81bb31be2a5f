"""Final detections: refine RoIs per class, clip to the image window, per-class NMS."""

from __future__ import annotations

from collections.abc import Sequence

import keras
import tensorflow as tf

from mrcnn.ops.boxes import clip_boxes, decode_boxes, norm_boxes
from mrcnn.ops.image_meta import parse_image_meta
from mrcnn.ops.nms import nms_per_class
from mrcnn.precision import Float32Layer


@keras.saving.register_keras_serializable(package="mrcnn")
class DetectionLayer(Float32Layer):
    """Turn RoIs and box-head outputs into at most ``max_instances`` detections per image.

    Every foreground class of every RoI is a candidate scored by its class probability
    (torchvision/detectron2 practice); candidates below ``min_confidence`` are dropped,
    NMS runs per class, and the best ``max_instances`` survive.

    Inputs: rois ``[B, R, 4]`` normalized, probs ``[B, R, C]``, deltas ``[B, R, C, 4]``
    (normalized by ``bbox_std_dev``), image_meta ``[B, META]`` (its window, the image
    without padding, is where boxes are clipped).
    Returns ``[B, max_instances, 6]`` rows ``(y1, x1, y2, x2, class_id, score)``,
    normalized, sorted by score; padding rows are all zero. ``nms_impl``: see
    :mod:`mrcnn.ops.nms`.
    """

    def __init__(self, max_instances: int, min_confidence: float, nms_threshold: float,
                 bbox_std_dev: Sequence[float], nms_impl: str = "native", **kwargs):
        super().__init__(**kwargs)
        self.max_instances = int(max_instances)
        self.nms_impl = nms_impl
        self.min_confidence = float(min_confidence)
        self.nms_threshold = float(nms_threshold)
        self.bbox_std_dev = [float(v) for v in bbox_std_dev]

    def call(self, rois, probs, deltas, image_meta):
        meta = parse_image_meta(image_meta)
        window = norm_boxes(meta["window"], meta["image_shape"][0, :2])
        boxes = decode_boxes(rois[:, :, None, :], deltas * self.bbox_std_dev)  # [B, R, C, 4]
        boxes = clip_boxes(boxes, window[:, None, None, :])
        roi_area = (rois[..., 2] - rois[..., 0]) * (rois[..., 3] - rois[..., 1])
        # Padding RoIs and candidates below min_confidence score 0; NMS drops scores <= 0
        # (its score_threshold is strict, so passing min_confidence would drop ties).
        keep = (roi_area[..., None] > 0) & (probs >= self.min_confidence)
        scores = tf.where(keep, probs, 0.0)
        boxes, scores, classes, count = nms_per_class(
            boxes[:, :, 1:, :], scores[:, :, 1:], self.max_instances, self.max_instances,
            self.nms_threshold, 0.0, self.nms_impl)
        valid = tf.sequence_mask(count, self.max_instances)
        class_ids = tf.where(valid, classes + 1.0, 0.0)
        detections = tf.concat([boxes, class_ids[..., None], scores[..., None]], axis=-1)
        return tf.where(valid[..., None], detections, 0.0)

    def get_config(self):
        return {**super().get_config(), "max_instances": self.max_instances,
                "min_confidence": self.min_confidence, "nms_threshold": self.nms_threshold,
                "bbox_std_dev": self.bbox_std_dev, "nms_impl": self.nms_impl}
