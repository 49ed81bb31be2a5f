"""Greedy non-maximum suppression, batched, two ways.

``"native"`` is ``tf.image.combined_non_max_suppression`` (fast, no XLA kernel);
``"padded"`` is ``tf.image.non_max_suppression_padded`` (tiled, static shapes, compiles
with XLA). Both keep a box unless a kept box of higher score overlaps it with IoU above
``iou_threshold``, and drop scores ``<= score_threshold``; outputs are padded with zeros.
"""

from __future__ import annotations

import tensorflow as tf

IMPLS = ("native", "padded")


def _check(impl: str) -> None:
    if impl not in IMPLS:
        raise ValueError(f"NMS impl must be one of {IMPLS}, got {impl!r}")


def nms_per_class(boxes: tf.Tensor, scores: tf.Tensor, max_per_class: int, max_total: int,
                  iou_threshold: float, score_threshold: float = 0.0, impl: str = "native"):
    """NMS within each class, then the ``max_total`` best survivors of all classes.

    Args:
      boxes: ``[B, N, C, 4]`` (a box per class) or ``[B, N, 1, 4]`` (shared), normalized.
      scores: ``[B, N, C]``.
      max_per_class, max_total: Python ints.
    Returns:
      ``(boxes [B, max_total, 4], scores [B, max_total], classes [B, max_total] float32,
      valid [B] int32)`` sorted by score; rows past ``valid`` are zeros.
    """
    _check(impl)
    if impl == "native":
        nms = tf.image.combined_non_max_suppression(
            boxes, scores, max_output_size_per_class=max_per_class, max_total_size=max_total,
            iou_threshold=iou_threshold, score_threshold=score_threshold,
            pad_per_class=False, clip_boxes=False)
        return nms.nmsed_boxes, nms.nmsed_scores, nms.nmsed_classes, nms.valid_detections

    shape = tf.shape(scores)
    batch = shape[0]
    num = scores.shape[1] if scores.shape[1] is not None else shape[1]
    classes = scores.shape[2] if scores.shape[2] is not None else shape[2]
    boxes = tf.broadcast_to(boxes, tf.stack([batch, num, classes, 4]))
    per_class_boxes = tf.reshape(tf.transpose(boxes, [0, 2, 1, 3]), [-1, num, 4])  # [B*C, N, 4]
    per_class_scores = tf.reshape(tf.transpose(scores, [0, 2, 1]), [-1, num])
    k = min(max_per_class, num) if isinstance(num, int) else max_per_class
    index, valid = tf.image.non_max_suppression_padded(
        per_class_boxes, per_class_scores, k, iou_threshold=iou_threshold,
        score_threshold=score_threshold, pad_to_max_output_size=True)  # [B*C, k]
    # Rank the B x (C * k) survivors by score; suppressed and padding slots rank last.
    key = tf.where(tf.sequence_mask(valid, k),
                   tf.gather(per_class_scores, index, batch_dims=1), float("-inf"))
    key = tf.reshape(key, tf.stack([batch, -1]))
    total = min(max_total, classes * k) if isinstance(classes * k, int) else max_total
    top_key, top = tf.math.top_k(key, k=total, sorted=True)
    kept = top_key > float("-inf")
    kept_boxes = tf.reshape(per_class_boxes, tf.stack([batch, -1, 4]))
    box_index = tf.gather(tf.reshape(index, tf.stack([batch, -1])), top, batch_dims=1)
    class_id = top // k
    out_boxes = tf.gather(kept_boxes, class_id * num + box_index, batch_dims=1)
    pad = [[0, 0], [0, max_total - total]]
    return (tf.pad(tf.where(kept[..., None], out_boxes, 0.0), pad + [[0, 0]]),
            tf.pad(tf.where(kept, top_key, 0.0), pad),
            tf.pad(tf.where(kept, tf.cast(class_id, tf.float32), 0.0), pad),
            tf.reduce_sum(tf.cast(kept, tf.int32), axis=1))


def nms(boxes: tf.Tensor, scores: tf.Tensor, max_output: int, iou_threshold: float,
        impl: str = "native") -> tf.Tensor:
    """Class-agnostic NMS of ``boxes`` ``[B, N, 4]`` by ``scores`` ``[B, N]`` (sorted or not).

    Returns the ``[B, max_output, 4]`` kept boxes sorted by score, zero rows past them.
    """
    kept, _, _, _ = nms_per_class(boxes[:, :, None, :], scores[..., None], max_output,
                                  max_output, iou_threshold, float("-inf"), impl)
    return kept
