"""Every registered mask head builds in both modes with the documented inputs and outputs."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from mrcnn.engine.input_pipeline import build_dataset
from mrcnn.graph import LOSS_NAMES, build_graph
from mrcnn.heads.mask import MASK_HEADS
from mrcnn.ops.image_meta import compose_image_meta
from tests.helpers import tiny_config

# Every registered head at every mask size it predicts (built-in: 28x28 and 56x56).
HEADS_AND_SIZES = [(head, up) for head in sorted(MASK_HEADS) for up in MASK_HEADS[head].upsampling]


@pytest.mark.parametrize("head,upsampling", HEADS_AND_SIZES)
def test_training_graph_outputs_five_finite_scalar_losses(head, upsampling, shapes64):
    config = tiny_config(MASK_HEAD=head, MASK_UPSAMPLING=upsampling)
    assert config.MASK_SHAPE == [14 * upsampling] * 2
    model = build_graph("training", config)
    assert [i.name for i in model.inputs] == [
        "input_image", "input_image_meta", "input_gt_class_ids", "input_gt_boxes",
        "input_gt_masks"]
    assert model.output_names == list(LOSS_NAMES)
    batch = next(iter(build_dataset(shapes64, config, shuffle=False)))
    assert batch["input_image"].shape == (2, 64, 64, 3)
    assert batch["input_gt_masks"].shape == (2, 64, 64, config.MAX_GT_INSTANCES)
    losses = model(batch, training=True)
    assert len(losses) == len(LOSS_NAMES)
    for name, loss in zip(LOSS_NAMES, losses):
        assert loss.shape == () and loss.dtype == tf.float32, name
        assert np.isfinite(float(loss)) and float(loss) >= 0, name
    # A random network misclassifies: the class and mask losses are clearly positive.
    assert float(losses[2]) > 0.1 and float(losses[4]) > 0.1


@pytest.mark.parametrize("head,upsampling", HEADS_AND_SIZES)
def test_inference_graph_output_shapes(head, upsampling):
    config = tiny_config(MASK_HEAD=head, MASK_UPSAMPLING=upsampling,
                         DETECTION_MIN_CONFIDENCE=0.0)
    model = build_graph("inference", config)
    images = np.random.default_rng(0).normal(size=(3, 64, 64, 3)).astype("float32")
    meta = np.stack([compose_image_meta(0, (64, 64, 3), (64, 64, 3), (0, 0, 64, 64), 1.0,
                                        np.ones(config.NUM_CLASSES))] * 3)
    out = model([images, meta], training=False)
    d = config.DETECTION_MAX_INSTANCES
    assert out["detections"].shape == (3, d, 6)
    assert out["mrcnn_mask"].shape == (3, d, *config.MASK_SHAPE)
    assert out["rpn_rois"].shape == (3, config.POST_NMS_ROIS_INFERENCE, 4)
    assert out["mrcnn_class"].shape == (3, config.POST_NMS_ROIS_INFERENCE, config.NUM_CLASSES)
    assert out["mrcnn_bbox"].shape == (3, config.POST_NMS_ROIS_INFERENCE, config.NUM_CLASSES, 4)
    detections = out["detections"].numpy()
    # Score threshold 0: random weights still give detections, with foreground classes.
    valid = detections[..., 4] > 0
    assert valid.any()
    assert set(np.unique(detections[..., 4][valid])) <= {1.0, 2.0, 3.0}
    boxes = detections[valid][:, :4]
    assert (boxes >= 0).all() and (boxes <= 1).all()
    assert (boxes[:, 2] >= boxes[:, 0]).all() and (boxes[:, 3] >= boxes[:, 1]).all()


def test_graph_rejects_unknown_mode():
    with pytest.raises(ValueError, match="mode"):
        build_graph("serving", tiny_config())


def test_classic_layer_names_are_kept():
    names = {layer.name for layer in build_graph("training", tiny_config()).layers}
    for name in ("conv1", "bn_conv1", "res2a_branch2a", "bn2a_branch2a", "res3b_branch2c",
                 "res5a_branch1", "fpn_c5p5", "fpn_c2p2", "fpn_p2", "fpn_p6", "rpn_conv_shared",
                 "rpn_class_raw", "rpn_bbox_pred", "mrcnn_class_conv1", "mrcnn_class_bn2",
                 "mrcnn_class_logits", "mrcnn_bbox_fc", "mrcnn_mask_conv1", "mrcnn_mask_conv4",
                 "mrcnn_mask_deconv", "mrcnn_mask"):
        assert name in names, name


def _mask_loss_and_gradients(model, batch):
    """The mask loss on ``batch`` and its gradient for every trainable weight, with the
    same random draws of anchors and RoIs at every call."""
    tf.random.set_seed(11)
    with tf.GradientTape() as tape:
        loss = model(batch, training=True)[LOSS_NAMES.index("mrcnn_mask_loss")]
    grads = tape.gradient(loss, model.trainable_weights)
    return float(loss), grads


@pytest.mark.parametrize("head,norm", [("unet", "batch"), ("fcn", "group")])
def test_mask_head_on_positive_rows_gives_the_same_loss_and_gradient(head, norm, shapes64):
    """The paper's mask loss reads positive RoIs only, so running the head on the rows that
    can be positive (a third of them) changes neither the loss nor any gradient. Frozen
    BatchNorm or GroupNorm: both normalise each RoI on its own."""
    fields = dict(MASK_HEAD=head, NORM=norm, TRAIN_BN=False, TRAIN_ROIS_PER_IMAGE=24,
                  ROI_POSITIVE_RATIO=0.33)
    every_row = build_graph("training", tiny_config(MASK_HEAD_POSITIVES_ONLY=False, **fields))
    positives = build_graph("training", tiny_config(MASK_HEAD_POSITIVES_ONLY=True, **fields))
    positives.set_weights(every_row.get_weights())
    assert positives.get_layer("mask_rois").rows == 7 < 24
    batch = next(iter(build_dataset(shapes64, tiny_config(**fields), shuffle=False)))

    loss_all, grads_all = _mask_loss_and_gradients(every_row, batch)
    loss_pos, grads_pos = _mask_loss_and_gradients(positives, batch)
    assert loss_all > 0.1
    np.testing.assert_allclose(loss_pos, loss_all, rtol=1e-5)
    assert len(grads_pos) == len(grads_all)
    largest = max(float(np.abs(g).max()) for g in grads_all if g is not None)
    mask_head_grads = 0
    for weight, g_all, g_pos in zip(every_row.trainable_weights, grads_all, grads_pos):
        if g_all is None:
            assert g_pos is None, weight.path
            continue
        g_all, g_pos = np.asarray(g_all), np.asarray(g_pos)
        scale = float(np.abs(g_all).max())
        # Relative to the tensor's own gradient; a bias that a norm layer cancels has a
        # zero gradient up to float noise, judged against the largest gradient.
        np.testing.assert_allclose(g_pos, g_all, atol=1e-4 * scale + 1e-6 * largest,
                                   err_msg=weight.path)
        mask_head_grads += "mask" in weight.path and scale > 1e-6 * largest
    assert mask_head_grads >= 4  # the head's convs did get a gradient
