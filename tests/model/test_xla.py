"""The XLA graph (``GRAPH_OPS = "xla"``): detect and training steps compile with
``jit_compile=True`` on the CPU, and detect equals the native graph with the same weights."""

import numpy as np
import pytest
import tensorflow as tf

from mrcnn.engine.input_pipeline import build_dataset
from mrcnn.engine.trainer import make_optimizer
from mrcnn.layers import AnchorsLayer, DetectionTargetLayer, PyramidROIAlign, RpnTargetLayer
from mrcnn.model import MaskRCNN
from tests.helpers import step_losses, tiny_config


def test_xla_detect_equals_native(shapes64, tmp_path):
    """With the U-Net at 56x56, so the P2 RoIAlign of its fine skip is compared too."""
    images = [shapes64.load_image(i) for i in range(2)]
    fields = dict(DETECTION_MIN_CONFIDENCE=0.0, MASK_HEAD="unet", MASK_UPSAMPLING=4)
    native = MaskRCNN("inference", tiny_config(**fields), str(tmp_path))
    path = str(tmp_path / "w.weights.h5")
    native.keras_model.save_weights(path)
    xla = MaskRCNN("inference", tiny_config(**fields, GRAPH_OPS="xla", JIT_COMPILE=True),
                   str(tmp_path))
    xla.keras_model.load_weights(path)
    assert xla._predict_fn().function_spec.jit_compile
    want, got = native.detect(images), xla.detect(images)
    for a, b in zip(want, got):
        assert len(a["class_ids"]) == len(b["class_ids"]) > 0
        np.testing.assert_array_equal(b["class_ids"], a["class_ids"])
        np.testing.assert_allclose(b["scores"], a["scores"], atol=1e-4)
        np.testing.assert_allclose(b["rois"], a["rois"], atol=1)
        assert (a["masks"] != b["masks"]).mean() < 1e-3


def test_xla_training_ops_compile_with_gradients(shapes64):
    """The training-only parts (RPN and RoI targets, gather RoIAlign and its gradient to
    the features) in one XLA-compiled function; a full training step is the slow test
    below (compiling the whole graph takes 0.5-2.5 minutes on this CPU)."""
    config = tiny_config(GRAPH_OPS="xla")
    batch = next(iter(build_dataset(shapes64, config, shuffle=False)))
    image, gt_class_ids, gt_boxes, gt_masks = (
        batch[f"input_{k}"] for k in ("image", "gt_class_ids", "gt_boxes", "gt_masks"))
    rng = np.random.default_rng(0)
    corner = rng.uniform(0, 0.7, size=(2, 40, 2))
    proposals = tf.constant(np.concatenate([corner, corner + 0.3], -1), tf.float32)
    maps = [tf.Variable(rng.normal(size=(2, 64 // s, 64 // s, 8)).astype(np.float32))
            for s in (4, 8, 16, 32)]
    anchors = AnchorsLayer(config.RPN_ANCHOR_SCALES, config.RPN_ANCHOR_RATIOS,
                           config.BACKBONE_STRIDES)(image)
    rpn_targets = RpnTargetLayer(32, 0.7, 0.3, config.RPN_BBOX_STD_DEV)
    targets = DetectionTargetLayer(16, 0.33, 0.5, config.BBOX_STD_DEV, [28, 28],
                                   config.USE_MINI_MASK, aligned=True, impl="gather")
    roi_align = PyramidROIAlign(14, impl="gather")

    @tf.function(jit_compile=True)
    def step():
        rpn_match, _ = rpn_targets(anchors, gt_class_ids, gt_boxes, image)
        with tf.GradientTape() as tape:
            rois, class_ids, _, masks = targets(proposals, gt_class_ids, gt_boxes, gt_masks,
                                                image)
            pooled = roi_align(rois, image, *maps)
            loss = tf.reduce_mean(pooled) + tf.reduce_mean(masks)
        return rpn_match, class_ids, masks, tape.gradient(loss, maps)

    rpn_match, class_ids, masks, grads = step()
    assert (rpn_match.numpy() == 1).any() and (class_ids.numpy() > 0).any()
    assert masks.shape == (2, 16, 28, 28) and set(np.unique(masks)) <= {0.0, 1.0}
    assert all(np.isfinite(g.numpy()).all() for g in grads) and np.any(grads[0].numpy())


@pytest.mark.slow
def test_xla_training_steps_compile_and_lower_the_loss(shapes64, tmp_path):
    config = tiny_config(GRAPH_OPS="xla", JIT_COMPILE=True, LEARNING_RATE=0.003)
    model = MaskRCNN("training", config, str(tmp_path))
    model.set_trainable("all")
    model.keras_model.compile(optimizer=make_optimizer(config, config.LEARNING_RATE),
                              jit_compile=True)
    batch = next(iter(build_dataset(shapes64, config, shuffle=False)))
    before = step_losses(model.keras_model, batch)
    totals = [float(model.keras_model.train_on_batch(batch, return_dict=True)["total_loss"])
              for _ in range(4)]
    after = step_losses(model.keras_model, batch)
    assert np.isfinite(totals).all()
    assert sum(after) < 0.9 * sum(before), (before, after)


def test_jit_compile_needs_the_xla_graph():
    from mrcnn.config import ConfigError

    with pytest.raises(ConfigError, match="JIT_COMPILE.*GRAPH_OPS = 'xla'"):
        tiny_config(JIT_COMPILE=True)
    with pytest.raises(ConfigError, match="GRAPH_OPS"):
        tiny_config(GRAPH_OPS="tpu")
