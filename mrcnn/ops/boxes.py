"""Box arithmetic: IoU, delta coding, clipping and (de)normalisation.

Boxes are ``(y1, x1, y2, x2)``. Pixel boxes have exclusive ``y2, x2``; normalized
boxes map pixel ``p`` to ``p / (size - 1)`` (and ``y2, x2`` to ``(y2 - 1) / (size - 1)``),
which is the coordinate convention of ``tf.image.crop_and_resize``; how boxes are sampled
(pixel centres) is stated once, in :mod:`mrcnn.ops.geometry`.
"""

from __future__ import annotations

import tensorflow as tf


def box_iou(boxes1: tf.Tensor, boxes2: tf.Tensor) -> tf.Tensor:
    """IoU of every pair: ``[..., N, 4]`` x ``[..., M, 4]`` -> ``[..., N, M]``.

    Degenerate boxes (zero area) have IoU 0 with everything.
    """
    b1 = tf.expand_dims(boxes1, -2)  # [..., N, 1, 4]
    b2 = tf.expand_dims(boxes2, -3)  # [..., 1, M, 4]
    y1 = tf.maximum(b1[..., 0], b2[..., 0])
    x1 = tf.maximum(b1[..., 1], b2[..., 1])
    y2 = tf.minimum(b1[..., 2], b2[..., 2])
    x2 = tf.minimum(b1[..., 3], b2[..., 3])
    inter = tf.maximum(y2 - y1, 0.0) * tf.maximum(x2 - x1, 0.0)
    area1 = (b1[..., 2] - b1[..., 0]) * (b1[..., 3] - b1[..., 1])
    area2 = (b2[..., 2] - b2[..., 0]) * (b2[..., 3] - b2[..., 1])
    union = area1 + area2 - inter
    return tf.math.divide_no_nan(inter, union)


def object_and_crowd_iou(boxes: tf.Tensor, gt_boxes: tf.Tensor,
                         gt_class_ids: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """IoU of ``boxes`` ``[B, N, 4]`` with the objects and with the crowd regions among
    ``gt_boxes`` ``[B, G, 4]`` (class id > 0: object, < 0: crowd, 0: padding).

    Returns ``iou`` ``[B, N, G]`` with -1 in the columns that are not objects, and
    ``crowd_iou`` ``[B, N]``, each box's largest IoU with a crowd region (0 if none).
    """
    iou = box_iou(boxes, gt_boxes)
    crowd_iou = tf.reduce_max(tf.where((gt_class_ids < 0)[:, None, :], iou, 0.0), axis=2)
    return tf.where((gt_class_ids > 0)[:, None, :], iou, -1.0), crowd_iou


def encode_boxes(boxes: tf.Tensor, gt_boxes: tf.Tensor) -> tf.Tensor:
    """Deltas ``(dy, dx, log dh, log dw)`` that turn ``boxes`` into ``gt_boxes`` (same shape)."""
    height = boxes[..., 2] - boxes[..., 0]
    width = boxes[..., 3] - boxes[..., 1]
    center_y = boxes[..., 0] + 0.5 * height
    center_x = boxes[..., 1] + 0.5 * width
    gt_height = gt_boxes[..., 2] - gt_boxes[..., 0]
    gt_width = gt_boxes[..., 3] - gt_boxes[..., 1]
    gt_center_y = gt_boxes[..., 0] + 0.5 * gt_height
    gt_center_x = gt_boxes[..., 1] + 0.5 * gt_width
    eps = 1e-8
    dy = (gt_center_y - center_y) / (height + eps)
    dx = (gt_center_x - center_x) / (width + eps)
    dh = tf.math.log(tf.maximum(gt_height, eps) / (height + eps))
    dw = tf.math.log(tf.maximum(gt_width, eps) / (width + eps))
    return tf.stack([dy, dx, dh, dw], axis=-1)


# log(1000/16): the largest size ratio a delta may encode (keeps exp() finite).
_MAX_LOG_SCALE = 4.135166556742356


def decode_boxes(boxes: tf.Tensor, deltas: tf.Tensor) -> tf.Tensor:
    """Apply ``deltas`` ``[..., 4]`` to ``boxes`` ``[..., 4]``; inverse of :func:`encode_boxes`."""
    height = boxes[..., 2] - boxes[..., 0]
    width = boxes[..., 3] - boxes[..., 1]
    center_y = boxes[..., 0] + 0.5 * height + deltas[..., 0] * height
    center_x = boxes[..., 1] + 0.5 * width + deltas[..., 1] * width
    height = height * tf.exp(tf.minimum(deltas[..., 2], _MAX_LOG_SCALE))
    width = width * tf.exp(tf.minimum(deltas[..., 3], _MAX_LOG_SCALE))
    y1 = center_y - 0.5 * height
    x1 = center_x - 0.5 * width
    return tf.stack([y1, x1, y1 + height, x1 + width], axis=-1)


def clip_boxes(boxes: tf.Tensor, window: tf.Tensor) -> tf.Tensor:
    """Clip ``[..., 4]`` boxes to ``window`` ``(y1, x1, y2, x2)``, broadcastable to them."""
    window = tf.cast(window, boxes.dtype)
    wy1, wx1, wy2, wx2 = (window[..., i:i + 1] for i in range(4))
    y1 = tf.clip_by_value(boxes[..., 0:1], wy1, wy2)
    x1 = tf.clip_by_value(boxes[..., 1:2], wx1, wx2)
    y2 = tf.clip_by_value(boxes[..., 2:3], wy1, wy2)
    x2 = tf.clip_by_value(boxes[..., 3:4], wx1, wx2)
    return tf.concat([y1, x1, y2, x2], axis=-1)


def norm_boxes(boxes: tf.Tensor, shape: tf.Tensor) -> tf.Tensor:
    """Pixel boxes -> normalized boxes for an image of ``shape`` (height, width)."""
    h, w = tf.split(tf.cast(shape, tf.float32), 2)
    scale = tf.concat([h, w, h, w], axis=-1) - 1.0
    shift = tf.constant([0.0, 0.0, 1.0, 1.0])
    return (tf.cast(boxes, tf.float32) - shift) / scale


def denorm_boxes(boxes: tf.Tensor, shape: tf.Tensor) -> tf.Tensor:
    """Normalized boxes -> pixel boxes (float, not rounded); inverse of :func:`norm_boxes`."""
    h, w = tf.split(tf.cast(shape, tf.float32), 2)
    scale = tf.concat([h, w, h, w], axis=-1) - 1.0
    shift = tf.constant([0.0, 0.0, 1.0, 1.0])
    return boxes * scale + shift
