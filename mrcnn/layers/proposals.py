"""Region proposals: RPN deltas applied to the top-scoring anchors, then NMS, batched."""

from __future__ import annotations

from collections.abc import Sequence

import keras
import tensorflow as tf

from mrcnn.ops.boxes import clip_boxes, decode_boxes
from mrcnn.ops.nms import nms
from mrcnn.precision import Float32Layer


@keras.saving.register_keras_serializable(package="mrcnn")
class ProposalLayer(Float32Layer):
    """Select ``proposal_count`` RoIs per image.

    Inputs:
      rpn_probs: ``[B, A, 2]`` (background, foreground) probabilities.
      rpn_bbox: ``[B, A, 4]`` deltas, normalized by ``bbox_std_dev``.
      anchors: ``[A, 4]`` normalized anchors.
    Returns:
      ``[B, proposal_count, 4]`` normalized ``(y1, x1, y2, x2)`` sorted by score;
      rows past the survivors of NMS are zeros. ``nms_impl``: see :mod:`mrcnn.ops.nms`.
    """

    def __init__(self, proposal_count: int, nms_threshold: float, pre_nms_limit: int,
                 bbox_std_dev: Sequence[float], nms_impl: str = "native", **kwargs):
        super().__init__(**kwargs)
        self.proposal_count = int(proposal_count)
        self.nms_impl = nms_impl
        self.nms_threshold = float(nms_threshold)
        self.pre_nms_limit = int(pre_nms_limit)
        self.bbox_std_dev = [float(v) for v in bbox_std_dev]

    def call(self, rpn_probs, rpn_bbox, anchors):
        scores = rpn_probs[..., 1]
        k = tf.minimum(self.pre_nms_limit, tf.shape(anchors)[0])
        scores, ix = tf.math.top_k(scores, k=k, sorted=True)  # [B, k]
        deltas = tf.gather(rpn_bbox, ix, batch_dims=1) * self.bbox_std_dev
        boxes = decode_boxes(tf.gather(anchors, ix), deltas)
        boxes = clip_boxes(boxes, tf.constant([0.0, 0.0, 1.0, 1.0]))
        return tf.stop_gradient(nms(boxes, scores, self.proposal_count, self.nms_threshold,
                                    self.nms_impl))

    def get_config(self):
        return {**super().get_config(), "proposal_count": self.proposal_count,
                "nms_threshold": self.nms_threshold, "pre_nms_limit": self.pre_nms_limit,
                "bbox_std_dev": self.bbox_std_dev, "nms_impl": self.nms_impl}
