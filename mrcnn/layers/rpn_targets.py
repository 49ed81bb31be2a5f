"""RPN training targets computed in the graph: anchor labels and box deltas."""

from __future__ import annotations

from collections.abc import Sequence

import keras
import tensorflow as tf

from mrcnn.layers.sampling import random_subset
from mrcnn.ops.boxes import encode_boxes, norm_boxes, object_and_crowd_iou
from mrcnn.precision import Float32Layer


@keras.saving.register_keras_serializable(package="mrcnn")
class RpnTargetLayer(Float32Layer):
    """Label anchors against the ground truth and sample a training subset.

    An anchor is positive when its IoU with some ground-truth box is at least
    ``positive_iou`` or it is (one of) the best anchors of a ground-truth box; negative
    when its best IoU is below ``negative_iou`` and its IoU with every crowd region
    (negative class id) is below ``crowd_iou`` (the classic rule: anchors on a crowd are
    neither). At most half of ``anchors_per_image`` are positives; negatives fill the rest.

    Inputs: ``anchors`` ``[A, 4]`` normalized, ``gt_class_ids`` ``[B, G]`` (0 = padding),
    ``gt_boxes`` ``[B, G, 4]`` pixels, ``image`` ``[B, H, W, C]``; class id < 0 marks a crowd.
    Returns: ``rpn_match`` ``[B, A]`` int32 (1 positive, -1 negative, 0 ignored) and
    ``rpn_bbox`` ``[B, A, 4]`` deltas to the matched box divided by ``bbox_std_dev``.
    """

    def __init__(self, anchors_per_image: int, positive_iou: float, negative_iou: float,
                 bbox_std_dev: Sequence[float], crowd_iou: float = 0.001, **kwargs):
        super().__init__(**kwargs)
        self.anchors_per_image = int(anchors_per_image)
        self.crowd_iou = float(crowd_iou)
        self.positive_iou = float(positive_iou)
        self.negative_iou = float(negative_iou)
        self.bbox_std_dev = [float(v) for v in bbox_std_dev]

    def call(self, anchors, gt_class_ids, gt_boxes, image):
        gt_boxes = norm_boxes(gt_boxes, tf.shape(image)[1:3])
        valid_gt = gt_class_ids > 0  # [B, G]
        iou, crowd_iou = object_and_crowd_iou(anchors[None], gt_boxes, gt_class_ids)  # [B, A, G]
        best_iou = tf.reduce_max(iou, axis=2)  # [B, A]
        best_gt = tf.argmax(iou, axis=2, output_type=tf.int32)
        # Each ground truth's best anchors are positive whatever their IoU.
        gt_best = tf.reduce_max(iou, axis=1, keepdims=True)  # [B, 1, G]
        is_best = tf.reduce_any((iou >= gt_best) & (gt_best > 0) & valid_gt[:, None, :], axis=2)
        positive = (best_iou >= self.positive_iou) | is_best
        negative = (best_iou < self.negative_iou) & ~positive & (crowd_iou < self.crowd_iou)

        positive = random_subset(positive, self.anchors_per_image // 2)
        num_pos = tf.reduce_sum(tf.cast(positive, tf.int32), axis=1)
        negative = random_subset(negative, self.anchors_per_image - num_pos)
        rpn_match = tf.cast(positive, tf.int32) - tf.cast(negative, tf.int32)

        matched = tf.gather(gt_boxes, best_gt, batch_dims=1)  # [B, A, 4]
        deltas = encode_boxes(tf.broadcast_to(anchors[None], tf.shape(matched)), matched)
        deltas = deltas / self.bbox_std_dev
        rpn_bbox = tf.where(positive[..., None], deltas, 0.0)
        return tf.stop_gradient(rpn_match), tf.stop_gradient(rpn_bbox)

    def get_config(self):
        return {**super().get_config(), "anchors_per_image": self.anchors_per_image,
                "positive_iou": self.positive_iou, "negative_iou": self.negative_iou,
                "bbox_std_dev": self.bbox_std_dev, "crowd_iou": self.crowd_iou}
