"""RPN and detection training targets, and random_subset, against numpy twins."""

import numpy as np
import pytest
import tensorflow as tf

from mrcnn.layers import AnchorsLayer, DetectionTargetLayer, RpnTargetLayer
from mrcnn.layers.sampling import random_subset
from tests.twins import np_crop_and_resize, np_decode, np_iou_matrix

STD = np.array([0.1, 0.1, 0.2, 0.2], np.float32)
SIZE = 64  # images are SIZE x SIZE


# ----------------------------------------------------------------------------- numpy twins
def np_norm(boxes) -> np.ndarray:
    """Pixel boxes (exclusive end) -> normalized boxes of a SIZE x SIZE image."""
    return (np.asarray(boxes, np.float64) - [0, 0, 1, 1]) / (SIZE - 1.0)


EDGE = 1e-4  # float32 slack: a sample computed at exactly the last row is inside


def np_rpn_candidates(anchors, gt_boxes_px, gt_class_ids, pos_iou, neg_iou):
    """Anchors eligible as positives / negatives (before sampling), and each one's best gt."""
    valid = np.asarray(gt_class_ids) > 0
    iou = np_iou_matrix(anchors, np_norm(gt_boxes_px))
    iou[:, ~valid] = -1.0
    best = iou.max(1)
    gt_best = iou.max(0)
    is_best = ((iou >= gt_best[None]) & (gt_best[None] > 0) & valid[None]).any(1)
    positive = (best >= pos_iou) | is_best
    negative = (best < neg_iou) & ~positive
    return positive, negative, iou.argmax(1), iou


# ----------------------------------------------------------------------------- random_subset
@pytest.mark.parametrize("max_count", [0, 3, 7, 100, [2, 0, 50]])
def test_random_subset_keeps_min_count_max(max_count):
    rng = np.random.default_rng(0)
    flags = rng.uniform(size=(3, 40)) < np.array([[0.5], [0.2], [0.9]])
    got = random_subset(tf.constant(flags), tf.constant(max_count)).numpy()
    assert got.dtype == bool and got.shape == flags.shape
    assert not (got & ~flags).any()  # only flagged entries
    limit = np.broadcast_to(max_count, (3,))
    np.testing.assert_array_equal(got.sum(1), np.minimum(flags.sum(1), limit))


def test_random_subset_is_random():
    flags = np.zeros((1, 30), bool)
    flags[0, ::3] = True  # 10 flagged
    picked = np.zeros(30, int)
    for _ in range(40):
        picked += random_subset(tf.constant(flags), 5).numpy()[0]
    assert (picked[flags[0]] > 0).all()  # every flagged entry gets chosen sometimes
    assert (picked[flags[0]] < 40).all()
    assert picked[~flags[0]].sum() == 0


# ----------------------------------------------------------------------------- RpnTargetLayer
@pytest.fixture(scope="module")
def anchors() -> np.ndarray:
    layer = AnchorsLayer([8, 16, 32], [0.5, 1, 2], [4, 8, 16])
    return layer(tf.zeros([1, SIZE, SIZE, 1])).numpy()  # 1008 anchors


GT_BOXES = np.array([
    [[8, 8, 24, 24], [30, 36, 62, 60], [40, 2, 46, 42], [0, 40, 16, 56]],  # last one is padding
    [[10, 10, 30, 30], [0, 0, 64, 64], [5, 5, 9, 9], [20, 20, 40, 40]],    # all padding
], np.float32)
GT_CLASS_IDS = np.array([[1, 3, 2, 0], [0, 0, 0, 0]], np.int32)


def run_rpn(anchors, anchors_per_image):
    layer = RpnTargetLayer(anchors_per_image, 0.7, 0.3, STD.tolist())
    match, bbox = layer(tf.constant(anchors), tf.constant(GT_CLASS_IDS), tf.constant(GT_BOXES),
                        tf.zeros([2, SIZE, SIZE, 3]))
    return match.numpy(), bbox.numpy()


def test_rpn_targets_positives_and_deltas(anchors):
    match, bbox = run_rpn(anchors, anchors_per_image=512)
    assert match.shape == (2, len(anchors)) and bbox.shape == (2, len(anchors), 4)
    positive, negative, best_gt, iou = np_rpn_candidates(anchors, GT_BOXES[0], GT_CLASS_IDS[0],
                                                         0.7, 0.3)
    assert 0 < positive.sum() <= 256  # so nothing is dropped by sampling
    # Exactly the eligible anchors are positive: IoU >= 0.7, or the best anchor of a gt.
    np.testing.assert_array_equal(match[0] == 1, positive)
    for g in range(3):
        assert match[0, np.argmax(iou[:, g])] == 1
    # The thin gt box (6 x 40 px) has no anchor at IoU 0.7: its best one is positive anyway.
    assert iou[:, 2].max() < 0.7
    # Padding gt (class 0) is ignored: anchors on it are not positive.
    pad_iou = np_iou_matrix(anchors, np_norm(GT_BOXES[0, 3:]))[:, 0]
    assert (pad_iou >= 0.7).any() and not (match[0][pad_iou >= 0.7] == 1).any()
    # Negatives: sampled among best IoU < 0.3, filling anchors_per_image.
    assert not (match[0] == -1)[~negative].any()
    assert (match[0] == -1).sum() == min(negative.sum(), 512 - positive.sum())
    assert ((match[0] == 0) & (iou.max(1) >= 0.3) & (iou.max(1) < 0.7)).any()  # ignored band
    # Deltas * std decode each positive anchor onto its best gt; others are zero.
    pos = match[0] == 1
    decoded = np_decode(anchors[pos].astype(np.float64), bbox[0, pos] * STD)
    np.testing.assert_allclose(decoded, np_norm(GT_BOXES[0])[best_gt[pos]], atol=1e-4)
    np.testing.assert_array_equal(bbox[0, ~pos], 0.0)


def test_rpn_targets_no_gt_image(anchors):
    match, bbox = run_rpn(anchors, anchors_per_image=64)
    assert not (match[1] == 1).any()
    assert (match[1] == -1).sum() == 64
    np.testing.assert_array_equal(bbox[1], 0.0)


def test_rpn_targets_sampling_caps(anchors):
    positive, negative, _, _ = np_rpn_candidates(anchors, GT_BOXES[0], GT_CLASS_IDS[0], 0.7, 0.3)
    per_image = 6
    assert positive.sum() > per_image // 2  # the cap binds
    for _ in range(3):
        match, bbox = run_rpn(anchors, anchors_per_image=per_image)
        pos, neg = match[0] == 1, match[0] == -1
        assert pos.sum() == per_image // 2
        assert pos.sum() + neg.sum() == per_image
        assert not (pos & ~positive).any() and not (neg & ~negative).any()
        assert not bbox[0, ~pos].any() and bbox[0, pos].any()


# ----------------------------------------------------------------------------- DetectionTargetLayer
def make_detection_inputs(rng, num_proposals=40, num_padding=6, gt_in_both=False):
    """Two images: three real gts (+1 padding) in image 0; none in image 1 unless
    ``gt_in_both`` (then two of its own).

    Proposals: jittered gt boxes and random boxes, then ``num_padding`` zero rows.
    """
    gt_boxes = np.array([[[6, 4, 30, 26], [34, 30, 60, 62], [10, 40, 28, 55], [0, 0, 10, 10]],
                         [[2, 30, 26, 58], [36, 6, 62, 34], [0, 0, 0, 0], [0, 0, 0, 0]]],
                        np.float32)
    gt_class_ids = np.array([[2, 1, 3, 0], [3, 1, 0, 0] if gt_in_both else [0, 0, 0, 0]],
                            np.int32)
    masks = np.zeros((2, SIZE, SIZE, 4), np.float32)
    for b, g in np.ndindex(2, 4):
        y1, x1, y2, x2 = gt_boxes[b, g].astype(int)
        masks[b, y1:y2, x1:x2, g] = rng.uniform(size=(y2 - y1, x2 - x1)) > 0.3
    proposals = np.zeros((2, num_proposals, 4), np.float32)
    for b in range(2):
        n = num_proposals - num_padding
        # Jittered gt boxes (many positives) and random boxes (mostly negatives).
        src = np_norm(gt_boxes[b, rng.integers(0, 2 if b else 3, size=n)])
        jitter = rng.normal(scale=0.03, size=(n, 4))
        rand = np.sort(rng.uniform(size=(n, 2, 2)), axis=1).transpose(0, 2, 1).reshape(n, 4)
        rand = rand[:, [0, 2, 1, 3]]
        props = np.where(rng.uniform(size=(n, 1)) < 0.5, src + jitter, rand)
        props[:, 2:] = np.maximum(props[:, 2:], props[:, :2] + 0.02)
        proposals[b, :n] = np.clip(props, 0, 1)
    return proposals, gt_class_ids, gt_boxes, masks


def check_detection_targets(out, proposals, gt_class_ids, gt_boxes, masks, rois_per_image,
                            ratio, pos_iou, mask_shape, mini_mask=False):
    rois, class_ids, deltas, target_masks = (t.numpy() for t in out)
    b_size = len(proposals)
    assert rois.shape == (b_size, rois_per_image, 4)
    assert class_ids.shape == (b_size, rois_per_image) and class_ids.dtype == np.int32
    assert deltas.shape == (b_size, rois_per_image, 4)
    assert target_masks.shape == (b_size, rois_per_image, *mask_shape)
    for arr in (rois, deltas, target_masks):
        assert np.isfinite(arr).all()
    checked = 0
    for b in range(b_size):
        valid_gt = gt_class_ids[b] > 0
        gt_norm = np_norm(gt_boxes[b])
        cand = np.concatenate([proposals[b], gt_norm[valid_gt]])
        cand = cand[(cand[:, 2] - cand[:, 0]) * (cand[:, 3] - cand[:, 1]) > 0]
        cand_best = (np_iou_matrix(cand, gt_norm[valid_gt]).max(1) if valid_gt.any()
                     else np.full(len(cand), -1.0))
        n_pos_cand = (cand_best >= pos_iou).sum()
        pos, neg, pad = class_ids[b] > 0, class_ids[b] == 0, class_ids[b] == -1
        # Counts: positives capped by the ratio, negatives fill up, padding last.
        assert pos.sum() == min(n_pos_cand, int(rois_per_image * ratio))
        assert neg.sum() == min(len(cand) - n_pos_cand, rois_per_image - pos.sum())
        order = np.where(pos, 2, np.where(neg, 1, 0))
        assert (np.diff(order) <= 0).all()
        np.testing.assert_array_equal(rois[b, pad], 0.0)
        np.testing.assert_array_equal(deltas[b, ~pos], 0.0)
        np.testing.assert_array_equal(target_masks[b, ~pos], 0.0)
        if not valid_gt.any():
            continue
        iou = np_iou_matrix(rois[b], gt_norm)
        iou[:, ~valid_gt] = -1.0
        best, best_gt = iou.max(1), iou.argmax(1)
        assert (best[pos] >= pos_iou - 1e-5).all()
        assert (best[neg] < pos_iou + 1e-5).all()
        np.testing.assert_array_equal(class_ids[b, pos], gt_class_ids[b, best_gt[pos]])
        # Deltas * std decode the RoI back onto its gt box.
        np.testing.assert_allclose(np_decode(rois[b, pos].astype(np.float64), deltas[b, pos] * STD),
                                   gt_norm[best_gt[pos]], atol=1e-4)
        # Masks: numpy bilinear crop of the gt mask, thresholded at 0.5.
        for r in np.where(pos)[0]:
            g = best_gt[r]
            box = rois[b, r].astype(np.float64)
            if mini_mask:
                gy1, gx1, gy2, gx2 = gt_norm[g]
                box = [(box[0] - gy1) / (gy2 - gy1), (box[1] - gx1) / (gx2 - gx1),
                       (box[2] - gy1) / (gy2 - gy1), (box[3] - gx1) / (gx2 - gx1)]
            soft = np_crop_and_resize(masks[b, :, :, g], box, mask_shape, edge=EDGE)
            sure = np.abs(soft - 0.5) > 1e-4  # float32 vs float64 at the threshold
            np.testing.assert_array_equal(target_masks[b, r][sure], (soft >= 0.5)[sure])
            checked += 1
    return checked


def test_detection_targets_full_masks():
    rng = np.random.default_rng(0)
    inputs = make_detection_inputs(rng)
    layer = DetectionTargetLayer(rois_per_image=24, positive_ratio=0.33, positive_iou=0.5,
                                 bbox_std_dev=STD.tolist(), mask_shape=(12, 12), mini_mask=False)
    out = layer(*map(tf.constant, inputs), tf.zeros([2, SIZE, SIZE, 3]))
    checked = check_detection_targets(out, *inputs, 24, 0.33, 0.5, (12, 12))
    assert checked == int(24 * 0.33)  # the cap binds in image 0
    class_ids = out[1].numpy()
    assert (class_ids[0] == 0).any()
    # Image 1 has no gt: no positives, only negatives (its 34 proposals, capped) -> valid output.
    assert (class_ids[1] == 0).all()


def test_detection_targets_gt_in_every_image():
    """Each image's RoIs take classes, deltas and masks from its own ground truth."""
    rng = np.random.default_rng(4)
    inputs = make_detection_inputs(rng, gt_in_both=True)
    layer = DetectionTargetLayer(rois_per_image=24, positive_ratio=0.33, positive_iou=0.5,
                                 bbox_std_dev=STD.tolist(), mask_shape=(12, 12), mini_mask=False)
    out = layer(*map(tf.constant, inputs), tf.zeros([2, SIZE, SIZE, 3]))
    assert check_detection_targets(out, *inputs, 24, 0.33, 0.5, (12, 12)) == 2 * int(24 * 0.33)


def test_detection_targets_padding_when_few_proposals():
    rng = np.random.default_rng(1)
    # 4 real proposals per image + 4 gt rows; the config guarantees R <= N + G.
    inputs = make_detection_inputs(rng, num_proposals=12, num_padding=8)
    layer = DetectionTargetLayer(rois_per_image=16, positive_ratio=0.5, positive_iou=0.5,
                                 bbox_std_dev=STD.tolist(), mask_shape=(8, 8), mini_mask=False)
    out = layer(*map(tf.constant, inputs), tf.zeros([2, SIZE, SIZE, 3]))
    check_detection_targets(out, *inputs, 16, 0.5, 0.5, (8, 8))
    class_ids = out[1].numpy()
    assert (class_ids[1] == -1).sum() == 12 and (class_ids[1] == 0).sum() == 4
    assert (class_ids[0] == -1).sum() >= 16 - 4 - 3  # at most 4 proposals + 3 gt boxes


def test_detection_targets_without_gt_boxes_added():
    rng = np.random.default_rng(2)
    proposals, class_ids_in, gt_boxes, masks = make_detection_inputs(rng)
    layer = DetectionTargetLayer(rois_per_image=40, positive_ratio=0.5, positive_iou=0.5,
                                 bbox_std_dev=STD.tolist(), mask_shape=(6, 6), mini_mask=False,
                                 add_gt=False)
    out = layer(*map(tf.constant, (proposals, class_ids_in, gt_boxes, masks)),
                tf.zeros([2, SIZE, SIZE, 3]))
    rois, class_ids = out[0].numpy(), out[1].numpy()
    # Every sampled RoI is one of the proposals (40 slots > 34 proposals: all of them, once).
    for b in range(2):
        kept = rois[b][class_ids[b] >= 0]
        assert len(kept) == 34 and (class_ids[b, 34:] == -1).all()
        np.testing.assert_allclose(np.sort(kept, 0), np.sort(proposals[b, :34], 0), atol=1e-7)


def test_detection_targets_mini_masks():
    rng = np.random.default_rng(3)
    proposals, class_ids, gt_boxes, _ = make_detection_inputs(rng, gt_in_both=True)
    mini = (rng.uniform(size=(2, 16, 16, 4)) > 0.5).astype(np.float32)
    layer = DetectionTargetLayer(rois_per_image=20, positive_ratio=0.5, positive_iou=0.5,
                                 bbox_std_dev=STD.tolist(), mask_shape=(10, 10), mini_mask=True)
    out = layer(*map(tf.constant, (proposals, class_ids, gt_boxes, mini)),
                tf.zeros([2, SIZE, SIZE, 3]))
    assert check_detection_targets(out, proposals, class_ids, gt_boxes, mini, 20, 0.5, 0.5,
                                   (10, 10), mini_mask=True) > 0
