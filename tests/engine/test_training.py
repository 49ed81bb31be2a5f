"""Training: a few steps lower the loss for each head; layer presets; weights by name."""

from __future__ import annotations

import numpy as np
import pytest

from mrcnn.engine.input_pipeline import build_dataset, layers_regex
from mrcnn.engine.trainer import make_optimizer
from mrcnn.model import MaskRCNN
from tests.helpers import step_losses, tiny_config


# The two first-class heads (the fcn_deep control is the FCN's layers, only more of them),
# and GroupNorm in place of BatchNorm.
@pytest.mark.parametrize("head, norm", [("fcn", "batch"), ("unet", "batch"), ("fcn", "group")])
def test_a_few_steps_lower_the_loss(head, norm, shapes64, tmp_path):
    config = tiny_config(MASK_HEAD=head, NORM=norm, LEARNING_RATE=0.003)
    model = MaskRCNN("training", config, str(tmp_path))
    model.set_trainable("all")
    keras_model = model.keras_model
    keras_model.compile(optimizer=make_optimizer(config, config.LEARNING_RATE))
    batch = next(iter(build_dataset(shapes64, config, shuffle=False)))
    # The same model on the same batch before and after the steps (train_on_batch reports
    # a running mean; these are the losses of the weights themselves).
    before = step_losses(keras_model, batch)
    assert before[2] == pytest.approx(np.log(config.NUM_CLASSES), rel=0.05)  # near-uniform start
    totals = [float(keras_model.train_on_batch(batch, return_dict=True)["total_loss"])
              for _ in range(12)]
    after = step_losses(keras_model, batch)
    assert np.isfinite(totals).all()
    assert sum(after) < 0.7 * sum(before), (before, after)


def test_heads_preset_trains_heads_only(tmp_path):
    model = MaskRCNN("training", tiny_config(MASK_HEAD="unet"), str(tmp_path))
    trained = set(model.set_trainable("heads"))
    assert "mrcnn_mask_unet_skip_conv1" in trained and "rpn_conv_shared" in trained
    assert "fpn_c5p5" in trained and "conv1" not in trained and "res3a_branch2a" not in trained
    trained = set(model.set_trainable("4+"))
    assert "res4a_branch2a" in trained and "res3a_branch2a" not in trained


def test_bad_layers_value_is_a_clear_error():
    with pytest.raises(ValueError, match="neither a preset"):
        layers_regex("(unclosed")


def test_training_checkpoint_loads_into_inference_by_name(shapes64, tmp_path):
    config = tiny_config(MASK_HEAD="fcn")
    trainer = MaskRCNN("training", config, str(tmp_path))
    trainer.train(shapes64, None, config.LEARNING_RATE, epochs=1, layers="all", verbose=0)
    checkpoint = trainer.find_last()
    assert checkpoint.endswith("_0001.weights.h5")
    detector = MaskRCNN("inference", config, str(tmp_path))
    report = detector.load_weights(checkpoint)
    assert not report["mismatched"] and not report["missing"] and not report["skipped"]
    assert detector.epoch == 1
    trained = trainer.keras_model.get_layer("mrcnn_mask_conv1").get_weights()
    loaded = detector.keras_model.get_layer("mrcnn_mask_conv1").get_weights()
    for a, b in zip(trained, loaded):
        np.testing.assert_array_equal(a, b)

    # Another head's file: the shared layers load, the mask head is reported.
    other = MaskRCNN("inference", tiny_config(MASK_HEAD="unet"), str(tmp_path))
    report = other.load_weights(checkpoint, exclude=["mrcnn_class_logits"])
    assert "mrcnn_mask_conv1" in report["skipped"] and "mrcnn_class_logits" in report["skipped"]
    assert "mrcnn_mask_unet_skip_conv1" in report["missing"]
    assert "rpn_conv_shared" in report["loaded"]

    # The checkpoint alone rebuilds the model: its config and the data set's class names.
    rebuilt = MaskRCNN.from_checkpoint(checkpoint, DETECTION_MIN_CONFIDENCE=0.0)
    assert rebuilt.class_names == shapes64.class_names == ["BG", "square", "circle", "triangle"]
    stored = {k: v for k, v in rebuilt.config.to_dict().items()
              if k != "DETECTION_MIN_CONFIDENCE"}
    original = {k: v for k, v in config.to_dict().items() if k != "DETECTION_MIN_CONFIDENCE"}
    assert stored.keys() == original.keys()
    for key, value in original.items():
        np.testing.assert_equal(np.asarray(stored[key], dtype=object) if key == "LOSS_WEIGHTS"
                                else stored[key], np.asarray(value, dtype=object)
                                if key == "LOSS_WEIGHTS" else value, err_msg=key)
    for a, b in zip(trained, rebuilt.keras_model.get_layer("mrcnn_mask_conv1").get_weights()):
        np.testing.assert_array_equal(a, b)
    result = rebuilt.detect([shapes64.load_image(0)])[0]
    assert len(result["class_names"]) == len(result["class_ids"]) > 0
    assert result["class_names"] == [shapes64.class_names[i] for i in result["class_ids"]]


def test_train_uses_the_config_augmentation_unless_told_otherwise(shapes64, tmp_path):
    """A config's AUGMENTATION applies to MaskRCNN.train as it does in the runners;
    ``augmentation=False`` turns it off."""
    calls = []

    def flip(image, masks, rng):
        calls.append(image.shape)
        return image[:, ::-1], masks[:, ::-1]

    config = tiny_config(AUGMENTATION=flip, STEPS_PER_EPOCH=1, MASK_HEAD="fcn")
    model = MaskRCNN("training", config, str(tmp_path))
    model.train(shapes64, None, config.LEARNING_RATE, epochs=1, layers="heads", verbose=0)
    assert len(calls) >= config.BATCH_SIZE and calls[0] == (64, 64, 3)
    calls.clear()
    model.train(shapes64, None, config.LEARNING_RATE, epochs=2, layers="heads", verbose=0,
                augmentation=False)
    assert calls == []
