"""The Mask R-CNN graph for one mode, wired as in the paper's figure.

    image -> backbone (C2..C5) -> FPN (P2..P6) -> RPN -> proposals
          -> PyramidROIAlign 7x7  -> box head  -> class, box deltas
          -> PyramidROIAlign 14x14 -> mask head (registry: fcn | unet) -> 28x28 mask logits
             (56x56 at MASK_UPSAMPLING 4; the U-Net then also pools 28x28 from P2)

Training adds the target layers and the five losses, and runs the mask head on the rows
that can be positive (``Config.MASK_HEAD_POSITIVES_ONLY``); inference adds the detection
layer and runs the mask head on the final detections.
"""

from __future__ import annotations

import keras

from mrcnn.backbones import build_backbone, build_fpn
from mrcnn.config import LOSS_NAMES
from mrcnn.heads.box import build_box_head
from mrcnn.heads.mask import build_mask_head, takes_fine_features
from mrcnn.heads.rpn import build_rpn
from mrcnn.layers import (
    AnchorsLayer,
    DetectionBoxes,
    DetectionLayer,
    DetectionTargetLayer,
    LeadingRows,
    LossLayer,
    Norm,
    ProposalLayer,
    PyramidROIAlign,
    RoiBatchReshape,
    RpnTargetLayer,
    SelectClassMasks,
    ValidDetectionRows,
    max_positive_rois,
)
from mrcnn.precision import OUTPUT_DTYPE, dtype_policy, inference_policy


def _image_input(config):
    fixed = config.IMAGE_RESIZE_MODE in ("square", "crop")
    hw = tuple(int(v) for v in config.IMAGE_SHAPE[:2]) if fixed else (None, None)
    return keras.Input(shape=hw + (config.IMAGE_CHANNEL_COUNT,), name="input_image")


# The RoIAlign layers' names: each starts a per-RoI region of :func:`mrcnn.flops.flops_by_region`.
BOX_ROI_ALIGN = "roi_align_classifier"
MASK_ROI_ALIGN = "roi_align_mask"
MASK_FINE_ROI_ALIGN = "roi_align_mask_fine"  # P2 features of a head that takes them
MASK_HEAD_REGIONS = (MASK_ROI_ALIGN, MASK_FINE_ROI_ALIGN)


def _roi_heads(rois, image, mrcnn_maps, config):
    """Box head on 7x7 and mask head on 14x14 RoIAlign features of ``rois`` ``[B, R, 4]``."""
    pooled = _roi_align(config.POOL_SIZE, config, BOX_ROI_ALIGN)(
        rois, image, *mrcnn_maps)
    logits, probs, deltas = build_box_head(pooled, config.NUM_CLASSES,
                                           config.FPN_CLASSIF_FC_LAYERS_SIZE, Norm.of(config))
    reshape = RoiBatchReshape
    return (reshape(name="mrcnn_class_logits_rois")(logits, rois),
            reshape(name="mrcnn_class_rois")(probs, rois),
            reshape(name="mrcnn_bbox_rois")(deltas, rois))


def _mask_features(rois, image, mrcnn_maps, config):
    """RoIAlign ``[B * R, 14, 14, D]`` of ``rois`` ``[B, R, 4]`` for the mask head, and
    for a head that takes fine features ``[B * R, 28, 28, D]`` pooled from P2 (else None)."""
    features = _roi_align(config.MASK_POOL_SIZE, config, MASK_ROI_ALIGN)(
        rois, image, *mrcnn_maps)
    if not takes_fine_features(config):
        return features, None
    fine = _roi_align(2 * config.MASK_POOL_SIZE, config, MASK_FINE_ROI_ALIGN, levels=1)(
        rois, image, mrcnn_maps[0])
    return features, fine


def _roi_align(pool_size: int, config, name: str, levels: int = 4) -> PyramidROIAlign:
    """RoIAlign over the first ``levels`` pyramid maps (P2..P5; 1: P2 alone)."""
    return PyramidROIAlign(pool_size, config.ROI_CANONICAL_SIZE, config.ROI_CANONICAL_LEVEL,
                           aligned=config.ROI_ALIGN_ALIGNED,
                           sampling_ratio=config.ROI_ALIGN_SAMPLING_RATIO,
                           strides=config.BACKBONE_STRIDES[:levels], impl=_ops(config)[0],
                           name=name)


def _ops(config) -> tuple[str, str]:
    """``(RoIAlign impl, NMS impl)`` of ``config.GRAPH_OPS``."""
    return ("gather", "padded") if config.GRAPH_OPS == "xla" else ("native", "native")


def mask_training_rows(config) -> int:
    """How many sampled RoIs an image the training graph's mask head runs on: those that
    can be positive (they come first), or all ``TRAIN_ROIS_PER_IMAGE``."""
    if config.MASK_HEAD_POSITIVES_ONLY:
        return max_positive_rois(config.TRAIN_ROIS_PER_IMAGE, config.ROI_POSITIVE_RATIO)
    return config.TRAIN_ROIS_PER_IMAGE


def build_graph(mode: str, config) -> keras.Model:
    """The functional model for ``mode`` ("training" or "inference").

    Training inputs: ``input_image`` ``[B, H, W, 3]`` molded, ``input_image_meta``,
    ``input_gt_class_ids`` ``[B, G]``, ``input_gt_boxes`` ``[B, G, 4]`` pixels,
    ``input_gt_masks`` ``[B, h, w, G]``; outputs the five scalar losses (``LOSS_NAMES``).

    Inference inputs: ``input_image``, ``input_image_meta``; outputs ``detections``
    ``[B, D, 6]`` (normalized box, class id, score), ``mrcnn_mask`` ``[B, D, *MASK_SHAPE]``
    (the detected class's channel), and for inspection ``rpn_rois``, ``rpn_class``,
    ``rpn_bbox``, ``mrcnn_class``, ``mrcnn_bbox``.

    Layers are built under ``config.DTYPE_POLICY`` for training and under
    :func:`mrcnn.precision.inference_policy` for inference; inputs, outputs and losses are
    float32 under every policy.
    """
    if mode not in ("training", "inference"):
        raise ValueError(f"mode must be 'training' or 'inference', got {mode!r}")
    policy = config.DTYPE_POLICY if mode == "training" else inference_policy(config)
    with dtype_policy(policy):
        return _build_graph(mode, config)


def _build_graph(mode: str, config) -> keras.Model:
    image = _image_input(config)
    image_meta = keras.Input(shape=(config.IMAGE_META_SIZE,), name="input_image_meta")

    c2, c3, c4, c5 = build_backbone(image, config)
    rpn_maps = build_fpn(c2, c3, c4, c5, config.TOP_DOWN_PYRAMID_SIZE, Norm.of(config))
    mrcnn_maps = rpn_maps[:4]

    anchors = AnchorsLayer(config.RPN_ANCHOR_SCALES, config.RPN_ANCHOR_RATIOS,
                           config.BACKBONE_STRIDES, config.RPN_ANCHOR_STRIDE,
                           name="anchors")(image)
    rpn_logits, rpn_probs, rpn_bbox = build_rpn(rpn_maps, len(config.RPN_ANCHOR_RATIOS),
                                                config.RPN_CONV_DIM)
    proposal_count = (config.POST_NMS_ROIS_TRAINING if mode == "training"
                      else config.POST_NMS_ROIS_INFERENCE)
    rpn_rois = ProposalLayer(proposal_count, config.RPN_NMS_THRESHOLD, config.PRE_NMS_LIMIT,
                             config.RPN_BBOX_STD_DEV, nms_impl=_ops(config)[1],
                             name="ROI")(rpn_probs, rpn_bbox, anchors)

    if mode == "training":
        gt_class_ids = keras.Input(shape=(config.MAX_GT_INSTANCES,), dtype="int32",
                                   name="input_gt_class_ids")
        gt_boxes = keras.Input(shape=(config.MAX_GT_INSTANCES, 4), name="input_gt_boxes")
        mask_hw = (tuple(config.MINI_MASK_SHAPE) if config.USE_MINI_MASK
                   else tuple(image.shape[1:3]))
        gt_masks = keras.Input(shape=mask_hw + (config.MAX_GT_INSTANCES,), dtype="bool",
                               name="input_gt_masks")

        rpn_match, rpn_bbox_targets = RpnTargetLayer(
            config.RPN_TRAIN_ANCHORS_PER_IMAGE, config.RPN_POSITIVE_IOU,
            config.RPN_NEGATIVE_IOU, config.RPN_BBOX_STD_DEV, name="rpn_targets")(
            anchors, gt_class_ids, gt_boxes, image)
        mask_rows = mask_training_rows(config)
        rois, target_class_ids, target_deltas, target_masks = DetectionTargetLayer(
            config.TRAIN_ROIS_PER_IMAGE, config.ROI_POSITIVE_RATIO, config.ROI_POSITIVE_IOU,
            config.BBOX_STD_DEV, config.MASK_SHAPE, config.USE_MINI_MASK,
            config.ADD_GT_TO_PROPOSALS, aligned=config.ROI_ALIGN_ALIGNED,
            impl=_ops(config)[0], mask_rows=mask_rows, name="proposal_targets")(
            rpn_rois, gt_class_ids, gt_boxes, gt_masks, image)

        class_logits, _, bbox = _roi_heads(rois, image, mrcnn_maps, config)
        mask_rois, mask_class_ids = rois, target_class_ids
        if mask_rows < config.TRAIN_ROIS_PER_IMAGE:
            mask_rois, mask_class_ids = LeadingRows(mask_rows, name="mask_rois")(
                rois, target_class_ids)
        features, fine = _mask_features(mask_rois, image, mrcnn_maps, config)
        masks = build_mask_head(features, config, fine)
        masks = RoiBatchReshape(name="mrcnn_mask_rois")(masks, mask_rois)

        arguments = {
            "rpn_class_loss": (rpn_match, rpn_logits),
            "rpn_bbox_loss": (rpn_bbox_targets, rpn_match, rpn_bbox),
            "mrcnn_class_loss": (target_class_ids, class_logits),
            "mrcnn_bbox_loss": (target_deltas, target_class_ids, bbox),
            "mrcnn_mask_loss": (target_masks, mask_class_ids, masks),
        }
        losses = [LossLayer(name)(*arguments[name]) for name in LOSS_NAMES]
        inputs = [image, image_meta, gt_class_ids, gt_boxes, gt_masks]
        return keras.Model(inputs, losses, name="mask_rcnn_training")

    _, class_probs, bbox = _roi_heads(rpn_rois, image, mrcnn_maps, config)
    detections = DetectionLayer(config.DETECTION_MAX_INSTANCES, config.DETECTION_MIN_CONFIDENCE,
                                config.DETECTION_NMS_THRESHOLD, config.BBOX_STD_DEV,
                                nms_impl=_ops(config)[1], name="mrcnn_detection")(
        rpn_rois, class_probs, bbox, image_meta)
    features, fine = _mask_features(DetectionBoxes(name="detection_boxes")(detections), image,
                                    mrcnn_maps, config)
    compact = config.GRAPH_OPS == "native"  # XLA needs static shapes: every row
    if compact:
        features = ValidDetectionRows(name="valid_detections")(features, detections)
        if fine is not None:
            fine = ValidDetectionRows(name="valid_detections_fine")(fine, detections)
    masks = build_mask_head(features, config, fine)  # native: real detections; xla: every row
    masks = keras.layers.Activation("sigmoid", dtype=OUTPUT_DTYPE, name="mrcnn_mask_probs")(masks)
    masks = SelectClassMasks(compact, name="mrcnn_mask_detections")(masks, detections)
    outputs = {"detections": detections, "mrcnn_mask": masks, "rpn_rois": rpn_rois,
               "rpn_class": rpn_probs, "rpn_bbox": rpn_bbox, "mrcnn_class": class_probs,
               "mrcnn_bbox": bbox}
    return keras.Model([image, image_meta], outputs, name="mask_rcnn_inference")
