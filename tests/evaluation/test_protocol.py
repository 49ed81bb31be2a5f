"""Figures are scored by COCO's protocol whatever threshold a model deploys with."""

from __future__ import annotations

import numpy as np

from mrcnn.data.subset import DatasetSubset
from mrcnn.evaluation.evaluate import evaluate_run
from mrcnn.evaluation.protocol import scoring_detector
from mrcnn.model import MaskRCNN
from tests.helpers import tiny_config


def test_evaluate_run_scores_down_to_the_coco_floor(shapes64, tmp_path):
    deployed = MaskRCNN("inference", tiny_config(DETECTION_MIN_CONFIDENCE=0.7), str(tmp_path))
    deployed.class_names = list(shapes64.class_names)
    scorer = scoring_detector(deployed)
    assert (scorer.config.DETECTION_MIN_CONFIDENCE, scorer.config.DETECTION_MAX_INSTANCES) == (
        0.05, 100)
    assert scorer.class_names == deployed.class_names
    for ours, theirs in zip(scorer.keras_model.get_weights(),
                            deployed.keras_model.get_weights()):
        np.testing.assert_array_equal(ours, theirs)
    assert scoring_detector(scorer) is scorer  # already at the floor: used as it is
    # An untrained head scores its detections well under 0.7: the deployed model keeps
    # none of them, the scorer those above 0.05, the same ones evaluate_run scores.
    images = [shapes64.load_image(i) for i in range(2)]
    assert all(len(r["scores"]) == 0 for r in deployed.detect(images))
    kept = scorer.detect(images)
    assert any(len(r["scores"]) for r in kept)
    assert min(float(s) for r in kept for s in r["scores"]) >= 0.05
    metrics = evaluate_run(deployed, DatasetSubset(shapes64, range(2)))
    assert metrics["protocol"]["score_floor"] == 0.05
    assert metrics["protocol"]["max_detections_per_image"] == 100
    assert {"AP", "AP75", "AP90"} <= set(metrics["boundary"])
    assert len(metrics["ap_vs_iou"]["boundary_AP"]) == 10

