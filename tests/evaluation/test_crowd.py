"""Crowd regions as COCO means them: ignore regions in VOC-style AP and in COCO evaluation
(whatever the data set was loaded with), and no negatives on them in training targets."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from mrcnn.data import CocoDataset
from mrcnn.data.boxes_from_masks import extract_bboxes
from mrcnn.data.public import data_root
from mrcnn.evaluation.ap import compute_ap
from mrcnn.evaluation.coco import dataset_to_coco, evaluate_coco
from mrcnn.layers import DetectionTargetLayer, RpnTargetLayer

H = W = 40


def rect(y1, x1, y2, x2) -> np.ndarray:
    mask = np.zeros((H, W), bool)
    mask[y1:y2, x1:x2] = True
    return mask


OBJECT = rect(2, 2, 14, 14)
CROWD = rect(20, 10, 38, 38)
ON_CROWD = rect(24, 14, 34, 30)  # inside the crowd region: all of it covered


def ap(gt_masks, gt_ids, pred_masks, pred_ids, scores, use_masks=True):
    gt_masks, pred_masks = np.stack(gt_masks, -1), np.stack(pred_masks, -1)
    return compute_ap(extract_bboxes(gt_masks), np.array(gt_ids), gt_masks,
                      extract_bboxes(pred_masks), np.array(pred_ids), np.array(scores),
                      pred_masks, use_masks=use_masks)[0]


@pytest.mark.parametrize("use_masks", [True, False])
def test_voc_ap_ignores_crowd_regions_and_detections_on_them(use_masks):
    # One perfect detection and a crowd region: nothing was missed (was 0.5).
    assert ap([OBJECT, CROWD], [1, -1], [OBJECT], [1], [0.9], use_masks) == 1.0
    # A higher-scored detection on the crowd region of its class is ignored...
    assert ap([OBJECT, CROWD], [1, -1], [ON_CROWD, OBJECT], [1, 1], [0.95, 0.9],
              use_masks) == 1.0
    # ...but not one of another class (a false positive ahead of the true one).
    assert ap([OBJECT, CROWD], [1, -2], [ON_CROWD, OBJECT], [1, 1], [0.95, 0.9],
              use_masks) == 0.5
    # Without the crowd region the same detection is a false positive too.
    assert ap([OBJECT], [1], [ON_CROWD, OBJECT], [1, 1], [0.95, 0.9], use_masks) == 0.5
    # Only a crowd region and nothing detected: nothing to find.
    assert ap([CROWD], [-1], [ON_CROWD], [1], [0.5], use_masks) == 1.0


def test_detection_half_on_a_crowd_region_is_a_false_positive():
    """COCO's rule: ignored only if the crowd covers >= IoU threshold of the detection."""
    half = rect(8, 14, 30, 30)  # rows 8..19 outside the crowd, 20..29 inside: 10/22
    assert ap([OBJECT, CROWD], [1, -1], [half, OBJECT], [1, 1], [0.95, 0.9]) == 0.5
    covered = rect(16, 14, 36, 30)  # 16 of 20 rows inside: 0.8 >= 0.5
    assert ap([OBJECT, CROWD], [1, -1], [covered, OBJECT], [1, 1], [0.95, 0.9]) == 1.0


@pytest.fixture(scope="module")
def real_val2017():
    root = data_root() / "coco"
    annotations = root / "annotations" / "instances_val2017.json"
    if not annotations.is_file():
        pytest.skip(f"no real COCO excerpt at {annotations} (see ../shared/data/README.md)")
    dataset = CocoDataset()
    dataset.load_coco(annotations, root / "images" / "val2017")  # crowds not included
    dataset.prepare()
    return dataset


@pytest.mark.needs_data("coco")
def test_coco_evaluation_always_gets_the_crowd_regions(real_val2017):
    """instances_val2017 of the excerpt: 6 images, 136 annotations, 1 crowd region."""
    dataset = real_val2017
    loaded = sum(len(dataset.load_mask(i)[1]) for i in dataset.image_ids)
    gt = dataset_to_coco(dataset)
    crowds = [a for a in gt["annotations"] if a["iscrowd"]]
    assert len(crowds) == 1 and len(gt["annotations"]) == loaded + 1
    # Perfect detections of every object score AP 1; one more detection covering the
    # crowd region (its own category) is ignored, not a false positive.
    detections = [{"image_id": a["image_id"], "category_id": a["category_id"], "score": 1.0,
                   "segmentation": a["segmentation"]}
                  for a in gt["annotations"] if not a["iscrowd"]]
    assert evaluate_coco(gt, detections, "segm", verbose=False)["AP"] == pytest.approx(1.0)
    (crowd,) = crowds
    on_crowd = {"image_id": crowd["image_id"], "category_id": crowd["category_id"],
                "score": 1.0, "segmentation": crowd["segmentation"]}
    stats = evaluate_coco(gt, detections + [on_crowd], "segm", verbose=False)
    assert stats["AP"] == pytest.approx(1.0)


# ----------------------------------------------------------------------------- training
SIZE = 64


def norm(boxes):
    return (np.asarray(boxes, np.float32) - [0, 0, 1, 1]) / (SIZE - 1)


def test_rpn_anchors_on_a_crowd_region_are_not_negatives():
    anchors = norm([[0, 0, 8, 8],        # far from everything: negative
                    [30, 30, 62, 62],    # on the crowd only (IoU 0.19 < 0.3): ignored
                    [2, 2, 14, 14]])     # the object: positive
    gt_boxes = np.array([[[2, 2, 14, 14], [20, 20, 60, 60]]], np.float32)
    for ids, expected in (([1, -1], [-1, 0, 1]), ([1, 0], [-1, -1, 1])):
        match, _ = RpnTargetLayer(16, 0.7, 0.3, [0.1, 0.1, 0.2, 0.2])(
            tf.constant(anchors), tf.constant([ids], tf.int32), tf.constant(gt_boxes),
            tf.zeros([1, SIZE, SIZE, 3]))
        assert match.numpy()[0].tolist() == expected, ids


def test_detection_targets_keep_proposals_on_a_crowd_out_of_the_negatives():
    proposals = norm([[[0, 0, 8, 8], [30, 30, 62, 62], [2, 2, 14, 14]]])
    gt_boxes = np.array([[[2, 2, 14, 14], [20, 20, 60, 60]]], np.float32)
    masks = np.zeros((1, SIZE, SIZE, 2), bool)
    masks[0, 2:14, 2:14, 0] = masks[0, 20:60, 20:60, 1] = True
    layer = DetectionTargetLayer(rois_per_image=3, positive_ratio=0.5, positive_iou=0.5,
                                 bbox_std_dev=[0.1, 0.1, 0.2, 0.2], mask_shape=(8, 8),
                                 mini_mask=False, add_gt=False, aligned=True)
    for ids, negatives in (([1, -1], 1), ([1, 0], 2)):
        rois, class_ids, _, _ = layer(tf.constant(proposals), tf.constant([ids], tf.int32),
                                      tf.constant(gt_boxes), tf.constant(masks),
                                      tf.zeros([1, SIZE, SIZE, 3]))
        class_ids = class_ids.numpy()[0]
        assert (class_ids == 1).sum() == 1 and (class_ids == 0).sum() == negatives, ids
        kept = rois.numpy()[0][class_ids >= 0]
        assert any(np.allclose(r, proposals[0, 1]) for r in kept) == (negatives == 2)
