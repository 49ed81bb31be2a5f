"""SavedModel export: raw uint8 images in, detect()'s detections out, after a reload (for
every registered mask head)."""

from __future__ import annotations

import json
import os

import cv2
import keras
import numpy as np
import pytest
import tensorflow as tf

from mrcnn import precision, preprocessing
from mrcnn.export import export_saved_model, in_policy
from mrcnn.heads.mask import MASK_HEADS
from mrcnn.model import MaskRCNN
from mrcnn.ops.boxes import norm_boxes
from mrcnn.ops.image_meta import parse_image_meta
from mrcnn.preprocessing import mold_inputs_tf, resize_like_cv2, unmold_detections_tf
from tests.helpers import tiny_config


@pytest.mark.parametrize("src, dst", [((48, 40), (64, 53)), ((100, 150), (43, 64)),
                                      ((30, 30), (64, 64)), ((581, 400), (256, 176)),
                                      ((1, 5), (3, 15)), ((64, 64), (64, 64))])
def test_resize_matches_opencv_bit_for_bit(src, dst):
    image = np.random.default_rng(sum(src)).integers(0, 256, src + (3,), dtype=np.uint8)
    expected = cv2.resize(image, dst[::-1], interpolation=cv2.INTER_LINEAR)
    got = resize_like_cv2(tf.constant(image[None]), *dst).numpy()[0]
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("mode", ["square", "pad64", "none"])
def test_molding_in_tensorflow_equals_the_numpy_path(mode):
    config = tiny_config(IMAGE_RESIZE_MODE=mode, IMAGE_MIN_DIM=64, IMAGES_PER_GPU=1)
    rng = np.random.default_rng(1)
    for shape in [(48, 40), (100, 150), (64, 64), (200, 90), (37, 130)]:
        image = rng.integers(0, 256, shape + (3,), dtype=np.uint8)
        molded, metas, windows = preprocessing.mold_inputs([image], config)
        tf_molded, tf_metas, tf_window, tf_hw = mold_inputs_tf(tf.constant(image[None]), config)
        np.testing.assert_array_equal(tf_molded.numpy(), molded)
        np.testing.assert_allclose(tf_metas.numpy(), metas, rtol=1e-6)
        np.testing.assert_array_equal(tf_window.numpy(), windows[0])
        np.testing.assert_array_equal(tf_hw.numpy(), molded.shape[1:3])


@pytest.mark.parametrize("mode", ["square", "pad64", "none"])
def test_unmolding_in_tensorflow_equals_the_numpy_path(mode):
    """Random detections (some degenerate after unmolding, zero rows as padding) give the
    same boxes, classes, scores and pasted masks through both paths."""
    config = tiny_config(IMAGE_RESIZE_MODE=mode, IMAGE_MIN_DIM=64, IMAGES_PER_GPU=1)
    rng = np.random.default_rng(2)
    for shape in [(48, 40), (100, 150), (37, 130)]:
        _, metas, windows = preprocessing.mold_inputs([np.zeros(shape + (3,), np.uint8)],
                                                      config)
        molded_hw = parse_image_meta(metas[0])["image_shape"][:2].astype(int)
        window = windows[0]
        batch, rows, count = 2, 8, [6, 3]
        detections = np.zeros((batch, rows, 6), np.float32)
        masks = np.zeros((batch, rows, 28, 28), np.float32)
        for b in range(batch):
            y1, x1, y2, x2 = window
            corners = rng.uniform([y1, x1], [y2, x2], (count[b], 2, 2))
            boxes = np.concatenate([corners.min(axis=1), corners.max(axis=1)], axis=1)
            boxes[0, 2:] = boxes[0, :2] + 0.2  # rounds to an empty box: dropped
            detections[b, :count[b], :4] = norm_boxes(boxes, molded_hw).numpy()
            detections[b, :count[b], 4] = rng.integers(1, config.NUM_CLASSES, count[b])
            detections[b, :count[b], 5] = np.sort(rng.uniform(0.5, 1.0, count[b]))[::-1]
            masks[b, :count[b]] = rng.uniform(0, 1, (count[b], 28, 28))
        out = unmold_detections_tf(tf.constant(detections), tf.constant(masks), window,
                                   molded_hw, *shape)
        out = {k: v.numpy() for k, v in out.items()}
        for b in range(batch):
            r = preprocessing.unmold_detections(detections[b], masks[b], shape + (3,),
                                                tuple(molded_hw) + (3,), window)
            n = int(out["num_detections"][b])
            assert n == len(r["class_ids"]) < count[b]
            np.testing.assert_array_equal(out["boxes"][b, :n], r["rois"])
            np.testing.assert_array_equal(out["class_ids"][b, :n], r["class_ids"])
            np.testing.assert_array_equal(out["scores"][b, :n], r["scores"])
            np.testing.assert_array_equal(out["masks"][b, :n].astype(bool),
                                          r["masks"].transpose(2, 0, 1))
            assert not out["masks"][b, n:].any() and not out["boxes"][b, n:].any()


@pytest.fixture(scope="module", params=sorted(MASK_HEADS))
def exported(request, tmp_path_factory):
    """A tiny detector with each registered mask head, exported and reloaded."""
    keras.utils.set_random_seed(4)
    detector = MaskRCNN("inference", tiny_config(DETECTION_MIN_CONFIDENCE=0.0,
                                                 MASK_HEAD=request.param),
                        str(tmp_path_factory.mktemp("logs")),
                        class_names=["BG", "square", "circle", "triangle"])
    # Tame the random network (raw pixels through random convs saturate every score at
    # 1.0, making the ranking of detections a tie): scale the first conv down.
    conv1 = detector.keras_model.get_layer("conv1")
    conv1.kernel.assign(conv1.kernel * 0.01)
    path = export_saved_model(detector, tmp_path_factory.mktemp("export") / "mask_rcnn")
    return detector, tf.saved_model.load(path), path


def _mask_iou(a, b):
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else np.logical_and(a, b).sum() / union


SHAPES = [(64, 64), (48, 40), (100, 150), (30, 90)]


def test_reloaded_saved_model_gives_the_detections_of_detect(exported):
    """The serving function equals ``detect``. Image sizes exercise the export's resizing
    and unmolding, which no mask head changes: every size with the paper's head, the
    model's own size with the others."""
    detector, served, _ = exported
    shapes = SHAPES if detector.config.MASK_HEAD == "fcn" else SHAPES[:1]
    for shape in shapes:
        check_served_equals_detect(detector, served, shape)


def check_served_equals_detect(detector, served, shape):
    rng = np.random.default_rng(shape[0] * shape[1])
    images = rng.integers(0, 256, (2,) + shape + (3,), dtype=np.uint8)
    out = served.signatures["serving_default"](images=tf.constant(images))
    out = {k: v.numpy() for k, v in out.items()}
    assert out["masks"].dtype == np.uint8 and out["boxes"].dtype == np.int32
    results = detector.detect(list(images))
    for b, r in enumerate(results):
        n = int(out["num_detections"][b])
        assert n == len(r["class_ids"]) > 0
        assert out["masks"].shape[2:] == shape
        np.testing.assert_allclose(out["boxes"][b, :n], r["rois"], atol=1)
        np.testing.assert_array_equal(out["class_ids"][b, :n], r["class_ids"])
        np.testing.assert_allclose(out["scores"][b, :n], r["scores"], atol=1e-4)
        for i in range(n):
            assert _mask_iou(out["masks"][b, i].astype(bool), r["masks"][..., i]) > 0.95
        # Rows past num_detections are zero.
        assert not out["class_ids"][b, n:].any() and not out["masks"][b, n:].any()


def test_class_names_travel_with_the_saved_model(exported):
    detector, served, path = exported
    names = [n.decode() for n in served.class_names().numpy()]
    assert names == detector.class_names == ["BG", "square", "circle", "triangle"]
    with open(os.path.join(path, "assets", "class_names.json")) as f:
        assert json.load(f) == detector.class_names


def test_serve_function_is_callable_and_rejects_other_dtypes(exported):
    _, served, _ = exported
    image = np.zeros((1, 32, 32, 3), np.uint8)
    out = served.serve(tf.constant(image))
    assert set(out) == {"num_detections", "boxes", "class_ids", "scores", "masks"}
    with pytest.raises((TypeError, ValueError)):
        served.serve(tf.constant(image.astype(np.float32)))


def test_mixed_bfloat16_model_exports_and_reproduces_detect(tmp_path):
    keras.utils.set_random_seed(4)
    detector = MaskRCNN("inference", tiny_config(DETECTION_MIN_CONFIDENCE=0.0,
                                                 DTYPE_POLICY="mixed_bfloat16"), str(tmp_path))
    conv1 = detector.keras_model.get_layer("conv1")
    conv1.kernel.assign(conv1.kernel * 0.01)
    served = tf.saved_model.load(export_saved_model(detector, tmp_path / "bf16"))
    images = np.random.default_rng(5).integers(0, 256, (2, 48, 40, 3), dtype=np.uint8)
    out = served.signatures["serving_default"](images=tf.constant(images))
    assert out["scores"].dtype == tf.float32
    for b, r in enumerate(detector.detect(list(images))):
        n = int(out["num_detections"][b])
        assert n == len(r["class_ids"]) > 0
        np.testing.assert_array_equal(out["class_ids"].numpy()[b, :n], r["class_ids"])
        np.testing.assert_allclose(out["scores"].numpy()[b, :n], r["scores"], atol=1e-3)


def test_a_model_in_bfloat16_for_this_cpu_exports_in_float32(monkeypatch, tmp_path):
    """A float32 config built in bfloat16 because the CPU has bf16 units
    (AUTO_BFLOAT16_INFERENCE) is exported as a float32 twin with the same weights and
    class names; a policy asked for, or a model already in its config's policy, is kept."""
    monkeypatch.setattr(precision, "bf16_matrix_units", lambda: True)
    names = ["BG", "square", "circle", "triangle"]
    detector = MaskRCNN("inference", tiny_config(AUTO_BFLOAT16_INFERENCE=True), str(tmp_path),
                        class_names=names)
    assert detector.keras_model.get_layer("conv1").compute_dtype == "bfloat16"
    exported = in_policy(detector)
    assert exported.keras_model.get_layer("conv1").compute_dtype == "float32"
    assert exported.class_names == names
    for ours, theirs in zip(detector.keras_model.weights, exported.keras_model.weights):
        assert ours.path == theirs.path
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    assert in_policy(detector, "mixed_bfloat16") is detector
    plain = MaskRCNN("inference", tiny_config(), str(tmp_path))
    assert in_policy(plain) is plain
