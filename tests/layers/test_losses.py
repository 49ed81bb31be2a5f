"""The five Mask R-CNN losses against numpy twins."""

import numpy as np
import pytest
import tensorflow as tf

from mrcnn.config import LOSS_NAMES
from mrcnn.layers import LossLayer
from mrcnn.layers.losses import (
    LOSSES,
    mrcnn_bbox_loss,
    mrcnn_class_loss,
    mrcnn_mask_loss,
    rpn_bbox_loss,
    rpn_class_loss,
)


# ----------------------------------------------------------------------------- numpy twins
def np_softmax_ce(logits: np.ndarray, label: int) -> float:
    z = logits - logits.max()
    return float(np.log(np.exp(z).sum()) - z[label])


def np_smooth_l1(diff: np.ndarray) -> np.ndarray:
    d = np.abs(diff)
    return np.where(d < 1.0, 0.5 * d ** 2, d - 0.5)


def np_rpn_class_loss(match, logits) -> float:
    losses = [np_softmax_ce(logits[b, a], int(match[b, a] == 1))
              for b, a in zip(*np.nonzero(match != 0))]
    return float(np.mean(losses)) if losses else 0.0


def np_rpn_bbox_loss(targets, match, pred) -> float:
    losses = [np_smooth_l1(targets[b, a] - pred[b, a]).mean()
              for b, a in zip(*np.nonzero(match == 1))]
    return float(np.mean(losses)) if losses else 0.0


def np_mrcnn_class_loss(class_ids, logits) -> float:
    losses = [np_softmax_ce(logits[b, r], class_ids[b, r])
              for b, r in zip(*np.nonzero(class_ids >= 0))]
    return float(np.mean(losses)) if losses else 0.0


def np_mrcnn_bbox_loss(targets, class_ids, pred) -> float:
    losses = [np_smooth_l1(targets[b, r] - pred[b, r, class_ids[b, r]]).mean()
              for b, r in zip(*np.nonzero(class_ids > 0))]
    return float(np.mean(losses)) if losses else 0.0


def np_mrcnn_mask_loss(targets, class_ids, pred) -> float:
    """Mean per-pixel BCE over the gt-class channel (logits) of positive RoIs."""
    pixels = []
    for b, r in zip(*np.nonzero(class_ids > 0)):
        p = 1.0 / (1.0 + np.exp(-pred[b, r, :, :, class_ids[b, r]].astype(np.float64)))
        t = targets[b, r]
        pixels.append(-(t * np.log(p) + (1 - t) * np.log(1 - p)))
    return float(np.mean(pixels)) if pixels else 0.0


# ----------------------------------------------------------------------------- inputs
B, A, R, C, M = 2, 50, 12, 5, 6


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def rpn_inputs(rng):
    match = rng.choice([-1, 0, 1], size=(B, A), p=[0.4, 0.4, 0.2]).astype(np.int32)
    logits = rng.normal(scale=2.0, size=(B, A, 2)).astype(np.float32)
    targets = rng.normal(size=(B, A, 4)).astype(np.float32) * (match == 1)[..., None]
    pred = rng.normal(scale=1.5, size=(B, A, 4)).astype(np.float32)  # |diff| on both sides of 1
    return match, logits, targets, pred


def head_inputs(rng):
    class_ids = rng.choice([-1, 0, 1, 2, 3, 4], size=(B, R)).astype(np.int32)
    class_ids[0, :3] = [1, 0, -1]  # every kind present
    logits = rng.normal(scale=2.0, size=(B, R, C)).astype(np.float32)
    targets = rng.normal(size=(B, R, 4)).astype(np.float32)
    pred = rng.normal(scale=1.5, size=(B, R, C, 4)).astype(np.float32)
    masks = (rng.uniform(size=(B, R, M, M)) > 0.5).astype(np.float32)
    pred_masks = rng.uniform(size=(B, R, M, M, C)).astype(np.float32)
    pred_masks[0, 0, 0, 0, 1] = 0.0  # exercises the clip (log(0) would be inf)
    return class_ids, logits, targets, pred, masks, pred_masks


def value(t) -> float:
    out = float(np.asarray(t))
    assert np.isfinite(out)
    return out


# ----------------------------------------------------------------------------- tests
def test_rpn_class_loss(rng):
    match, logits, _, _ = rpn_inputs(rng)
    want = np_rpn_class_loss(match, logits)
    got = value(rpn_class_loss(tf.constant(match), tf.constant(logits)))
    assert got == pytest.approx(want, rel=1e-5)
    # Ignored anchors (0) don't count: changing their logits changes nothing.
    logits2 = logits.copy()
    logits2[match == 0] = 100.0
    got = value(rpn_class_loss(tf.constant(match), tf.constant(logits2)))
    assert got == pytest.approx(want, rel=1e-5)


def test_rpn_bbox_loss(rng):
    match, _, targets, pred = rpn_inputs(rng)
    got = value(rpn_bbox_loss(tf.constant(targets), tf.constant(match), tf.constant(pred)))
    assert got == pytest.approx(np_rpn_bbox_loss(targets, match, pred), rel=1e-5)
    # Hand value: one positive anchor, diffs (0.5, -2, 0, 0) -> (0.125 + 1.5) / 4 coordinates.
    t = np.zeros((1, 2, 4), np.float32)
    p = np.array([[[0.5, -2.0, 0.0, 0.0], [9.0, 9.0, 9.0, 9.0]]], np.float32)
    got = value(rpn_bbox_loss(tf.constant(t), tf.constant([[1, -1]]), tf.constant(p)))
    assert got == pytest.approx(1.625 / 4)


def test_mrcnn_class_loss(rng):
    class_ids, logits, *_ = head_inputs(rng)
    got = value(mrcnn_class_loss(tf.constant(class_ids), tf.constant(logits)))
    assert got == pytest.approx(np_mrcnn_class_loss(class_ids, logits), rel=1e-5)


def test_mrcnn_bbox_loss(rng):
    class_ids, _, targets, pred, _, _ = head_inputs(rng)
    got = value(mrcnn_bbox_loss(tf.constant(targets), tf.constant(class_ids), tf.constant(pred)))
    assert got == pytest.approx(np_mrcnn_bbox_loss(targets, class_ids, pred), rel=1e-5)
    # Only the gt class's deltas matter.
    pred2 = pred.copy()
    for b, r in np.ndindex(B, R):
        others = [c for c in range(C) if c != class_ids[b, r]]
        pred2[b, r, others] += 7.0
    got2 = value(mrcnn_bbox_loss(tf.constant(targets), tf.constant(class_ids), tf.constant(pred2)))
    assert got2 == pytest.approx(got, rel=1e-6)


def test_mrcnn_mask_loss(rng):
    class_ids, _, _, _, masks, pred_masks = head_inputs(rng)
    got = value(mrcnn_mask_loss(tf.constant(masks), tf.constant(class_ids),
                                tf.constant(pred_masks)))
    assert got == pytest.approx(np_mrcnn_mask_loss(masks, class_ids, pred_masks), rel=1e-5)


def test_mask_loss_uses_only_gt_channel_of_positive_rois(rng):
    class_ids, _, _, _, masks, pred_masks = head_inputs(rng)
    base = value(mrcnn_mask_loss(tf.constant(masks), tf.constant(class_ids),
                                 tf.constant(pred_masks)))
    changed = pred_masks.copy()
    for b, r in np.ndindex(B, R):
        others = [c for c in range(C) if not (class_ids[b, r] > 0 and c == class_ids[b, r])]
        changed[b, r, :, :, others] = rng.uniform(size=(len(others), M, M))
    changed_targets = masks.copy()
    changed_targets[class_ids <= 0] = 1.0 - changed_targets[class_ids <= 0]
    got = value(mrcnn_mask_loss(tf.constant(changed_targets), tf.constant(class_ids),
                                tf.constant(changed)))
    assert got == pytest.approx(base, rel=1e-6)
    # ...while the gt channel of a positive RoI does matter.
    b, r = np.argwhere(class_ids > 0)[0]
    changed[b, r, :, :, class_ids[b, r]] = 1.0 - changed[b, r, :, :, class_ids[b, r]]
    got = value(mrcnn_mask_loss(tf.constant(masks), tf.constant(class_ids), tf.constant(changed)))
    assert got != pytest.approx(base, rel=1e-3)


def test_no_positives_gives_zero_not_nan(rng):
    match, logits, targets, pred = rpn_inputs(rng)
    class_ids, class_logits, d_targets, d_pred, masks, pred_masks = head_inputs(rng)
    none_pos = np.where(match == 1, -1, match).astype(np.int32)
    no_fg = np.minimum(class_ids, 0).astype(np.int32)
    t = tf.constant
    assert value(rpn_bbox_loss(t(targets), t(none_pos), t(pred))) == 0.0
    assert value(mrcnn_bbox_loss(t(d_targets), t(no_fg), t(d_pred))) == 0.0
    assert value(mrcnn_mask_loss(t(masks), t(no_fg), t(pred_masks))) == 0.0
    # Nothing sampled at all (all ignored / padding): the class losses are 0 too.
    assert value(rpn_class_loss(tf.zeros([B, A], tf.int32), tf.constant(logits))) == 0.0
    assert value(mrcnn_class_loss(-tf.ones([B, R], tf.int32), tf.constant(class_logits))) == 0.0
    # But negatives alone still give a class loss.
    assert value(rpn_class_loss(tf.constant(none_pos), tf.constant(logits))) > 0.0


def test_no_positives_gradient_is_finite(rng):
    _, _, _, _, masks, pred_masks = head_inputs(rng)
    pred = tf.Variable(pred_masks)
    with tf.GradientTape() as tape:
        loss = mrcnn_mask_loss(tf.constant(masks), tf.zeros([B, R], tf.int32), pred)
    grad = tape.gradient(loss, pred).numpy()
    assert np.isfinite(grad).all() and not grad.any()


def test_loss_layer_dispatches(rng):
    match, logits, _, _ = rpn_inputs(rng)
    layer = LossLayer("rpn_class_loss")
    assert layer.name == "rpn_class_loss"
    assert value(layer(tf.constant(match), tf.constant(logits))) == pytest.approx(
        np_rpn_class_loss(match, logits), rel=1e-5)
    with pytest.raises(ValueError):
        LossLayer("nope")


def test_each_loss_name_has_its_function():
    """LOSS_NAMES (mrcnn.config: LOSS_WEIGHTS' keys, the training graph's output order)
    and the loss functions name the same losses."""
    assert tuple(LOSSES) == LOSS_NAMES
