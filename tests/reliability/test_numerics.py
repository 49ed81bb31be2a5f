"""Numerical safety: a NaN stops training with a message naming epoch, step and loss term
and never overwrites the last good checkpoint; gradient clipping; losses with nothing
positive; configuration and data set mismatches caught before training starts."""

from __future__ import annotations

import glob
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from mrcnn.config import ConfigError
from mrcnn.data import ShapesDataset
from mrcnn.engine.checkpoints import load_training_state, state_path
from mrcnn.engine.trainer import NonFiniteLossError, make_optimizer
from mrcnn.layers.losses import LOSSES
from mrcnn.model import MaskRCNN
from tests.helpers import tiny_config


class PoisonWeights(keras.callbacks.Callback):
    """Set one layer's kernel to NaN before step ``step`` of epoch ``epoch`` (0-based)."""

    def __init__(self, layer: str, epoch: int, step: int):
        super().__init__()
        self.layer, self.at_epoch, self.at_step, self.epoch = layer, epoch, step, -1

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        if (self.epoch, batch) == (self.at_epoch, self.at_step):
            kernel = self.model.get_layer(self.layer).kernel
            kernel.assign(np.full(kernel.shape, np.nan, np.float32))


def test_nan_stops_training_and_keeps_the_last_good_checkpoint(shapes64, tmp_path):
    config = tiny_config()
    model = MaskRCNN("training", config, str(tmp_path))
    poison = PoisonWeights("mrcnn_mask_conv1", epoch=1, step=1)
    with pytest.raises(NonFiniteLossError) as info:
        model.train(shapes64, None, config.LEARNING_RATE, epochs=3, layers="all",
                    custom_callbacks=[poison], verbose=0)
    error = info.value
    message = str(error)
    assert "non-finite loss at epoch 2, step 2: mrcnn_mask_loss = nan" in message, message
    assert "total_loss = nan" in message and "_0001.weights.h5" in message, message
    assert (error.epoch, error.step) == (2, 2) and "mrcnn_mask_loss" in error.losses
    checkpoints = sorted(os.path.basename(p) for p in glob.glob(f"{model.log_dir}/*.h5"))
    assert checkpoints == ["mask_rcnn_tiny_0001.weights.h5"], checkpoints
    assert error.checkpoint.endswith("mask_rcnn_tiny_0001.weights.h5")
    assert load_training_state(state_path(error.checkpoint))["epoch"] == 1
    assert model.epoch == 1  # the failed epoch does not count
    # The good checkpoint loads and is finite.
    model.load_weights(error.checkpoint)
    assert all(np.isfinite(w).all() for w in model.keras_model.get_weights())


def test_gradient_clipping_by_global_norm():
    config = tiny_config(OPTIMIZER="sgd", LEARNING_MOMENTUM=0.0, WEIGHT_DECAY=0.0,
                         GRADIENT_CLIP_NORM=1.0)
    optimizer = make_optimizer(config, learning_rate=0.1)
    assert optimizer.global_clipnorm == 1.0
    a, b = keras.Variable(np.zeros(3, np.float32)), keras.Variable(np.zeros(4, np.float32))
    optimizer.apply_gradients([(tf.fill([3], 1000.0), a), (tf.fill([4], -1000.0), b)])
    step = np.concatenate([a.numpy(), b.numpy()])
    np.testing.assert_allclose(np.linalg.norm(step), 0.1 * 1.0, rtol=1e-5)  # lr * clip norm
    np.testing.assert_allclose(step, np.r_[[-1.0] * 3, [1.0] * 4] * 0.1 / np.sqrt(7), rtol=1e-5)
    assert make_optimizer(tiny_config(GRADIENT_CLIP_NORM=None), 0.1).global_clipnorm is None


def test_losses_and_gradients_are_finite_with_nothing_positive():
    rng = np.random.default_rng(0)
    b, a, r, c = 2, 12, 6, 4
    predictions = {
        "rpn_logits": tf.constant(rng.normal(size=(b, a, 2)), tf.float32),
        "rpn_bbox": tf.constant(rng.normal(size=(b, a, 4)), tf.float32),
        "class_logits": tf.constant(rng.normal(size=(b, r, c)), tf.float32),
        "bbox": tf.constant(rng.normal(size=(b, r, c, 4)), tf.float32),
        "masks": tf.constant(rng.uniform(size=(b, r, 28, 28, c)), tf.float32),
    }
    for rpn_match, target_ids in [(np.zeros((b, a)), np.full((b, r), -1)),  # all ignored
                                  (-np.ones((b, a)), np.zeros((b, r)))]:  # all negative
        rpn_match = tf.constant(rpn_match, tf.int32)
        target_ids = tf.constant(target_ids, tf.int32)
        with tf.GradientTape() as tape:
            tape.watch(list(predictions.values()))
            p = predictions
            losses = {
                "rpn_class_loss": LOSSES["rpn_class_loss"](rpn_match, p["rpn_logits"]),
                "rpn_bbox_loss": LOSSES["rpn_bbox_loss"](tf.zeros((b, a, 4)), rpn_match,
                                                         p["rpn_bbox"]),
                "mrcnn_class_loss": LOSSES["mrcnn_class_loss"](target_ids, p["class_logits"]),
                "mrcnn_bbox_loss": LOSSES["mrcnn_bbox_loss"](tf.zeros((b, r, 4)), target_ids,
                                                             p["bbox"]),
                "mrcnn_mask_loss": LOSSES["mrcnn_mask_loss"](tf.zeros((b, r, 28, 28)),
                                                             target_ids, p["masks"]),
            }
            total = tf.add_n(list(losses.values()))
        grads = tape.gradient(total, list(predictions.values()))
        assert all(np.isfinite(float(v)) for v in losses.values()), losses
        assert float(losses["rpn_bbox_loss"]) == float(losses["mrcnn_bbox_loss"]) == 0.0
        assert float(losses["mrcnn_mask_loss"]) == 0.0
        assert all(g is None or np.isfinite(g.numpy()).all() for g in grads)


# ----------------------------------------------------------------------------- config
def test_num_classes_mismatch_is_caught_before_training(trainer):
    other = ShapesDataset()
    other.add_class("shapes", 1, "square")
    other.load_shapes(2, 64, 64)  # registers 3 classes
    other.add_class("extra", 1, "star")
    other.prepare()
    with pytest.raises(ValueError, match=r"train_dataset \(ShapesDataset\) has num_classes = 5 "
                       r".*TinyOverride.NUM_CLASSES = 4; set NUM_CLASSES = 5"):
        trainer.train(other, None, 0.001, epochs=1)
    unprepared = ShapesDataset()
    with pytest.raises(ValueError, match=r"val_dataset .* call its prepare\(\)"):
        trainer.train(_prepared(), unprepared, 0.001, epochs=1)


def _prepared():
    dataset = ShapesDataset()
    dataset.load_shapes(2, 64, 64)
    dataset.prepare()
    return dataset


@pytest.mark.parametrize("overrides, message", [
    (dict(IMAGE_MIN_DIM=100, IMAGE_MAX_DIM=100), r"IMAGE_MAX_DIM = 100: must be divisible by "
                                                   r"64 .* try 128"),
    (dict(MASK_SHAPE=[14, 14]), r"MASK_SHAPE = \[14, 14\]: the 'fcn' head turns MASK_POOL_SIZE "
                                r"14 into 28x28 masks"),
])
def test_config_errors_before_the_graph_is_built(overrides, message):
    with pytest.raises(ConfigError, match=message):
        tiny_config(**overrides)
