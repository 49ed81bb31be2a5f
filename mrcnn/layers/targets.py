"""Detection targets: sample RoIs from the proposals and give each its class, box and mask."""

from __future__ import annotations

from collections.abc import Sequence

import keras
import tensorflow as tf

from mrcnn.layers.sampling import random_subset
from mrcnn.ops.boxes import encode_boxes, norm_boxes, object_and_crowd_iou
from mrcnn.ops.masks import crop_mask_targets
from mrcnn.precision import Float32Layer


def max_positive_rois(rois_per_image: int, positive_ratio: float) -> int:
    """How many of an image's ``rois_per_image`` sampled RoIs can be positive: the
    target layer's cap, and the rows the mask head trains on (positives come first)."""
    return int(rois_per_image * positive_ratio)


@keras.saving.register_keras_serializable(package="mrcnn")
class DetectionTargetLayer(Float32Layer):
    """Sample ``rois_per_image`` RoIs per image and build their training targets.

    A RoI is positive when its best IoU with a ground-truth box is at least
    ``positive_iou``, otherwise negative unless it overlaps a crowd region (negative
    class id) with IoU >= ``crowd_iou`` (the classic rule: then it is neither). At most
    ``positive_ratio * rois_per_image`` positives are kept, negatives fill the rest; when
    there are not enough proposals the tail is padding. With ``add_gt`` the ground-truth
    boxes join the proposals. Mask targets sample the cell centres of each RoI when
    ``aligned`` (see :func:`mrcnn.ops.masks.crop_mask_targets`), thresholded at 0.5;
    ``impl`` (``"native"`` or ``"gather"``) is how they are resampled. With
    ``mask_rows`` the mask targets cover only the first ``mask_rows`` RoIs of each image,
    which hold every positive when ``mask_rows >= max_positive_rois(...)`` (the mask head
    then trains on those rows alone, as Detectron2's ``select_foreground_proposals``).

    Inputs: ``proposals`` ``[B, N, 4]`` normalized (zero rows = padding),
    ``gt_class_ids`` ``[B, G]`` (0 = padding, < 0 crowd), ``gt_boxes`` ``[B, G, 4]`` pixels,
    ``gt_masks`` ``[B, h, w, G]`` (full-image or mini masks), ``image`` ``[B, H, W, C]``.
    Returns:
      rois ``[B, R, 4]`` normalized;
      target_class_ids ``[B, R]`` int32: class id for positives, 0 for negatives, -1 padding;
      target_deltas ``[B, R, 4]`` divided by ``bbox_std_dev`` (zeros unless positive);
      target_masks ``[B, M, mask_h, mask_w]`` float in {0, 1} (zeros unless positive),
        ``M`` = ``mask_rows`` or ``R``.
    """

    def __init__(self, rois_per_image: int, positive_ratio: float, positive_iou: float,
                 bbox_std_dev: Sequence[float], mask_shape: Sequence[int], mini_mask: bool,
                 add_gt: bool = True, aligned: bool = False, crowd_iou: float = 0.001,
                 impl: str = "native", mask_rows: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.rois_per_image = int(rois_per_image)
        self.positive_ratio = float(positive_ratio)
        self.positive_iou = float(positive_iou)
        self.bbox_std_dev = [float(v) for v in bbox_std_dev]
        self.mask_shape = [int(v) for v in mask_shape]
        self.mini_mask = bool(mini_mask)
        self.add_gt = bool(add_gt)
        self.aligned = bool(aligned)
        self.crowd_iou = float(crowd_iou)
        self.impl = impl
        self.mask_rows = None if mask_rows is None else int(mask_rows)
        if self.mask_rows is not None and not (
                max_positive_rois(self.rois_per_image, self.positive_ratio)
                <= self.mask_rows <= self.rois_per_image):
            raise ValueError(f"mask_rows ({mask_rows}) must hold every positive RoI "
                             f"({max_positive_rois(self.rois_per_image, self.positive_ratio)})"
                             f" and at most rois_per_image ({self.rois_per_image})")

    def call(self, proposals, gt_class_ids, gt_boxes, gt_masks, image):
        normalized = norm_boxes(gt_boxes, tf.shape(image)[1:3])
        gt_boxes = tf.where((gt_class_ids > 0)[..., None], normalized, 0.0)  # objects only
        candidates = proposals
        if self.add_gt:
            candidates = tf.concat([proposals, gt_boxes], axis=1)
        area = (candidates[..., 2] - candidates[..., 0]) * (candidates[..., 3] - candidates[..., 1])
        valid = area > 0  # [B, N']

        iou, crowd_iou = object_and_crowd_iou(candidates, normalized, gt_class_ids)  # [B, N', G]
        best_iou = tf.reduce_max(iou, axis=2)
        best_gt = tf.argmax(iou, axis=2, output_type=tf.int32)
        positive = valid & (best_iou >= self.positive_iou)
        negative = valid & ~positive & (crowd_iou < self.crowd_iou)

        num_rois = self.rois_per_image
        positive = random_subset(positive, max_positive_rois(num_rois, self.positive_ratio))
        num_pos = tf.reduce_sum(tf.cast(positive, tf.int32), axis=1)
        negative = random_subset(negative, num_rois - num_pos)

        # Gather the sampled RoIs, positives first; padding sorts last.
        rank_key = tf.cast(positive, tf.float32) * 2.0 + tf.cast(negative, tf.float32)
        _, ix = tf.math.top_k(rank_key, k=num_rois)  # [B, R]
        sel_pos = tf.gather(positive, ix, batch_dims=1)
        sel_neg = tf.gather(negative, ix, batch_dims=1)
        rois = tf.gather(candidates, ix, batch_dims=1)
        rois = tf.where((sel_pos | sel_neg)[..., None], rois, 0.0)
        gt_index = tf.gather(best_gt, ix, batch_dims=1)  # [B, R]

        gt_class = tf.gather(gt_class_ids, gt_index, batch_dims=1)
        target_class_ids = tf.where(sel_pos, tf.cast(gt_class, tf.int32),
                                    tf.where(sel_neg, 0, -1))
        matched_boxes = tf.gather(gt_boxes, gt_index, batch_dims=1)
        deltas = encode_boxes(rois, matched_boxes) / self.bbox_std_dev
        target_deltas = tf.where(sel_pos[..., None], deltas, 0.0)

        mask_rows = num_rois if self.mask_rows is None else self.mask_rows
        gt_index, matched_boxes = gt_index[:, :mask_rows], matched_boxes[:, :mask_rows]
        mask_rois, mask_pos = rois[:, :mask_rows], sel_pos[:, :mask_rows]
        # The matched ground truth's mask of each mask row, picked before any float copy.
        masks = tf.gather(gt_masks, gt_index, axis=3, batch_dims=1)  # [B, h, w, M] bool
        masks = tf.cast(tf.transpose(masks, [0, 3, 1, 2]), tf.float32)  # [B, M, h, w]
        flat_masks = tf.reshape(masks, tf.concat([[-1], tf.shape(masks)[2:]], axis=0))
        mask_index = tf.range(tf.shape(flat_masks)[0])
        crops = crop_mask_targets(flat_masks, tf.reshape(matched_boxes, [-1, 4]),
                                  tf.reshape(mask_rois, [-1, 4]), mask_index,
                                  tuple(self.mask_shape), self.mini_mask, self.aligned,
                                  tf.shape(image)[1:3], self.impl)
        crops = tf.reshape(crops, tf.concat([tf.shape(mask_rois)[:2], self.mask_shape], axis=0))
        target_masks = tf.where(mask_pos[..., None, None] & (crops >= 0.5), 1.0, 0.0)
        return tuple(tf.stop_gradient(t) for t in
                     (rois, target_class_ids, target_deltas, target_masks))

    def get_config(self):
        return {**super().get_config(), "rois_per_image": self.rois_per_image,
                "positive_ratio": self.positive_ratio, "positive_iou": self.positive_iou,
                "bbox_std_dev": self.bbox_std_dev, "mask_shape": self.mask_shape,
                "mini_mask": self.mini_mask, "add_gt": self.add_gt, "aligned": self.aligned,
                "crowd_iou": self.crowd_iou, "impl": self.impl, "mask_rows": self.mask_rows}


@keras.saving.register_keras_serializable(package="mrcnn")
class LeadingRows(Float32Layer):
    """The first ``rows`` RoIs of each image: ``[B, R, ...]`` tensors -> ``[B, rows, ...]``."""

    def __init__(self, rows: int, **kwargs):
        super().__init__(**kwargs)
        self.rows = int(rows)

    def call(self, *tensors):
        return tuple(t[:, :self.rows] for t in tensors)

    def get_config(self):
        return {**super().get_config(), "rows": self.rows}
