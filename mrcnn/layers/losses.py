"""The five Mask R-CNN losses, each a plain function of targets and predictions.

As in the paper and the classic implementation: the box losses are smooth-L1 averaged over
the 4 coordinates and over the positive anchors / RoIs; the mask loss is the per-pixel
binary cross-entropy of the ground-truth class's mask logits (the sigmoid is applied for
inference only), averaged over the pixels of positive RoIs.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from mrcnn.precision import Float32Layer


def _smooth_l1(diff: tf.Tensor) -> tf.Tensor:
    diff = tf.abs(diff)
    return tf.where(diff < 1.0, 0.5 * diff * diff, diff - 0.5)


def _masked_mean(values: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
    """Mean of ``values`` where ``mask``; 0 when nothing is selected (never NaN)."""
    mask = tf.cast(mask, values.dtype)
    return tf.math.divide_no_nan(tf.reduce_sum(values * mask), tf.reduce_sum(mask))


def rpn_class_loss(rpn_match: tf.Tensor, rpn_logits: tf.Tensor) -> tf.Tensor:
    """Anchor objectness cross-entropy over sampled anchors.

    rpn_match ``[B, A]`` (1, -1, 0 = ignore); rpn_logits ``[B, A, 2]``.
    """
    labels = tf.cast(rpn_match == 1, tf.int32)
    ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels, tf.cast(rpn_logits, tf.float32))
    return _masked_mean(ce, rpn_match != 0)


def rpn_bbox_loss(rpn_bbox_targets: tf.Tensor, rpn_match: tf.Tensor,
                  rpn_bbox: tf.Tensor) -> tf.Tensor:
    """Smooth-L1 on the deltas of positive anchors, mean over coordinates and anchors.

    ``[B, A, 4]``, ``[B, A]``, ``[B, A, 4]``.
    """
    per_anchor = tf.reduce_mean(_smooth_l1(rpn_bbox_targets - tf.cast(rpn_bbox, tf.float32)), -1)
    return _masked_mean(per_anchor, rpn_match == 1)


def mrcnn_class_loss(target_class_ids: tf.Tensor, class_logits: tf.Tensor) -> tf.Tensor:
    """Softmax cross-entropy over sampled RoIs (target -1 = padding, ignored).

    target_class_ids ``[B, R]``; class_logits ``[B, R, C]``.
    """
    labels = tf.maximum(target_class_ids, 0)
    ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels, tf.cast(class_logits, tf.float32))
    return _masked_mean(ce, target_class_ids >= 0)


def mrcnn_bbox_loss(target_deltas: tf.Tensor, target_class_ids: tf.Tensor,
                    pred_deltas: tf.Tensor) -> tf.Tensor:
    """Smooth-L1 on the ground-truth class's deltas of positive RoIs, mean over coordinates
    and RoIs.

    target_deltas ``[B, R, 4]``; target_class_ids ``[B, R]``; pred_deltas ``[B, R, C, 4]``.
    """
    pred = tf.gather(pred_deltas, tf.maximum(target_class_ids, 0), batch_dims=2)  # [B, R, 4]
    per_roi = tf.reduce_mean(_smooth_l1(target_deltas - tf.cast(pred, tf.float32)), -1)
    return _masked_mean(per_roi, target_class_ids > 0)


def mrcnn_mask_loss(target_masks: tf.Tensor, target_class_ids: tf.Tensor,
                    pred_masks: tf.Tensor) -> tf.Tensor:
    """Per-pixel binary cross-entropy on the ground-truth class channel of positive RoIs.

    target_masks ``[B, R, h, w]``; target_class_ids ``[B, R]``; pred_masks ``[B, R, h, w, C]``
    logits.
    """
    pred = tf.gather(tf.transpose(pred_masks, [0, 1, 4, 2, 3]),
                     tf.maximum(target_class_ids, 0), batch_dims=2)  # [B, R, h, w]
    bce = tf.nn.sigmoid_cross_entropy_with_logits(labels=target_masks,
                                                  logits=tf.cast(pred, tf.float32))
    positive = tf.broadcast_to((target_class_ids > 0)[..., None, None], tf.shape(bce))
    return _masked_mean(bce, positive)


# Each function is named after its loss (mrcnn.config.LOSS_NAMES, the graph's output order).
LOSSES = {fn.__name__: fn for fn in (rpn_class_loss, rpn_bbox_loss, mrcnn_class_loss,
                                     mrcnn_bbox_loss, mrcnn_mask_loss)}


@keras.saving.register_keras_serializable(package="mrcnn")
class LossLayer(Float32Layer):
    """Wraps one function of :data:`LOSSES` so the training graph outputs it as a scalar."""

    def __init__(self, loss: str, **kwargs):
        kwargs.setdefault("name", loss)
        super().__init__(**kwargs)
        if loss not in LOSSES:
            raise ValueError(f"unknown loss {loss!r}; expected one of {sorted(LOSSES)}")
        self.loss = loss

    def call(self, *tensors):
        return LOSSES[self.loss](*tensors)

    def get_config(self):
        return {**super().get_config(), "loss": self.loss}
