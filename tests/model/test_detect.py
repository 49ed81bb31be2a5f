"""detect(): documented types and shapes for images of any size; unmolding round trip."""

from __future__ import annotations

import numpy as np
import pytest

from mrcnn.model import MaskRCNN
from mrcnn.ops.boxes import norm_boxes
from mrcnn.ops.image_meta import parse_image_meta
from tests.helpers import tiny_config


@pytest.fixture(scope="module")
def detector(tmp_path_factory):
    config = tiny_config(DETECTION_MIN_CONFIDENCE=0.0)
    return MaskRCNN("inference", config, str(tmp_path_factory.mktemp("logs")))


def test_detect_types_and_shapes_for_any_image_size(detector):
    rng = np.random.default_rng(0)
    sizes = [(64, 64), (37, 90), (120, 50), (200, 300), (5, 7)]
    images = [rng.integers(0, 256, size=s + (3,), dtype=np.uint8) for s in sizes]
    results = detector.detect(images)  # 5 images with BATCH_SIZE 2: three batches
    assert len(results) == len(images)
    for (h, w), r in zip(sizes, results):
        n = len(r["class_ids"])
        assert n <= detector.config.DETECTION_MAX_INSTANCES
        assert r["rois"].shape == (n, 4) and r["rois"].dtype == np.int32
        assert r["class_ids"].dtype == np.int32 and r["scores"].shape == (n,)
        assert r["scores"].dtype == np.float32
        assert r["masks"].shape == (h, w, n) and r["masks"].dtype == bool
        if n:
            assert set(r["class_ids"]) <= {1, 2, 3}
            assert (r["rois"][:, 2] > r["rois"][:, 0]).all()
            assert (r["rois"][:, [0, 1]] >= -1).all()
            assert (r["rois"][:, 2] <= h + 1).all() and (r["rois"][:, 3] <= w + 1).all()
            assert (np.diff(r["scores"]) <= 1e-6).all(), "sorted by score"
    # Random weights with threshold 0 still produce detections somewhere.
    assert sum(len(r["class_ids"]) for r in results) > 0


def test_detect_traces_once_for_repeated_calls(detector):
    image = np.zeros((64, 64, 3), np.uint8)
    detector.detect([image])
    detector.detect([image, image])
    before = detector._predict_fn().experimental_get_tracing_count()
    detector.detect([image] * 3)
    detector.detect([np.zeros((30, 100, 3), np.uint8)])
    assert detector._predict_fn().experimental_get_tracing_count() == before == 1


def test_detect_rejects_wrong_rank(detector):
    # [H, W] grayscale is accepted (converted to RGB); a 4-D array is not an image.
    with pytest.raises(ValueError, match="image 1"):
        detector.detect([np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8, 3, 1), np.uint8)])


@pytest.mark.parametrize("shape, box", [((50, 90), (10, 20, 30, 70)),
                                        ((128, 40), (0, 0, 128, 40)),
                                        ((37, 61), (5, 3, 6, 9))])
def test_unmold_maps_a_box_back_onto_the_same_pixels(detector, shape, box):
    """A box molded into the network's frame and unmolded lands on the same pixels,
    and a full mask for it covers exactly the box."""
    image = np.zeros(shape + (3,), np.uint8)
    _, metas, windows = detector.mold_inputs([image])
    meta = parse_image_meta(metas[0])
    molded_shape = tuple(int(v) for v in meta["image_shape"])
    scale = float(meta["scale"])
    y1, x1, wy2, wx2 = windows[0]
    molded_box = np.array(box, np.float32) * scale + np.array([y1, x1, y1, x1])
    normalized = norm_boxes(molded_box[None], molded_shape[:2]).numpy()[0]
    detections = np.zeros((4, 6), np.float32)
    detections[0] = (*normalized, 2, 0.9)
    masks = np.zeros((4, 28, 28), np.float32)
    masks[0] = 1.0
    r = detector.unmold_detections(detections, masks, image.shape, molded_shape, windows[0])
    assert r["rois"].tolist() == [list(box)]
    assert r["class_ids"].tolist() == [2]
    expected = np.zeros(shape, bool)
    expected[box[0]:box[2], box[1]:box[3]] = True
    np.testing.assert_array_equal(r["masks"][..., 0], expected)


def test_detect_in_pad64_mode_batches_mixed_sizes(tmp_path):
    detector = MaskRCNN("inference", tiny_config(IMAGE_RESIZE_MODE="pad64", IMAGE_MIN_DIM=0,
                                                 DETECTION_MIN_CONFIDENCE=0.0), str(tmp_path))
    sizes = [(64, 64), (100, 70), (64, 64), (30, 130)]
    images = [np.full(s + (3,), 128, np.uint8) for s in sizes]
    results = detector.detect(images)
    assert [r["masks"].shape[:2] for r in results] == sizes
    assert detector._predict_fn().experimental_get_tracing_count() == 1


def test_detect_with_no_detection_at_all(tmp_path):
    """Nothing passes the threshold: the mask head runs on an empty batch, results are empty."""
    detector = MaskRCNN("inference", tiny_config(DETECTION_MIN_CONFIDENCE=1.0), str(tmp_path))
    out = detector.detect([np.zeros((64, 64, 3), np.uint8), np.zeros((40, 64, 3), np.uint8)])
    assert [r["masks"].shape for r in out] == [(64, 64, 0), (40, 64, 0)]
    assert all(len(r["class_ids"]) == 0 for r in out)
