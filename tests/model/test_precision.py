"""Mixed precision (Config.DTYPE_POLICY): 16-bit convs, float32 boxes/losses/outputs."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from mrcnn import precision
from mrcnn.config import ConfigError
from mrcnn.engine.checkpoints import load_training_state, state_path
from mrcnn.engine.input_pipeline import build_dataset
from mrcnn.engine.trainer import make_optimizer
from mrcnn.heads.mask import MASK_HEADS
from mrcnn.model import MaskRCNN
from mrcnn.precision import dtype_policy, training_optimizer
from tests.helpers import step_losses, tiny_config

MIXED = {"mixed_float16": "float16", "mixed_bfloat16": "bfloat16"}
# Besides these, each mask head's output (class-specific) layers compute in float32.
FLOAT32_LAYERS = ("anchors", "ROI", "roi_align_classifier", "roi_align_mask", "mrcnn_detection",
                  "mrcnn_mask_probs", "mrcnn_mask_detections", "rpn_class", "rpn_bbox",
                  "mrcnn_class_logits", "mrcnn_class", "mrcnn_bbox")


def test_unknown_policy_names_the_field():
    with pytest.raises(ConfigError, match=r"DTYPE_POLICY = 'float16'.*mixed_bfloat16"):
        tiny_config(DTYPE_POLICY="float16")


def test_policy_scope_restores_the_global_policy():
    before = keras.config.dtype_policy().name
    with pytest.raises(RuntimeError):
        with dtype_policy("mixed_bfloat16"):
            assert keras.config.dtype_policy().name == "mixed_bfloat16"
            raise RuntimeError("a failed build")
    assert keras.config.dtype_policy().name == before


@pytest.mark.parametrize("policy, head", [("mixed_bfloat16", head) for head in sorted(MASK_HEADS)]
                         + [("mixed_float16", "fcn")])  # the policy's casts are head-independent
def test_mixed_inference_graph_dtypes_and_detect(policy, head, tmp_path):
    model = MaskRCNN("inference", tiny_config(DTYPE_POLICY=policy, MASK_HEAD=head,
                                              DETECTION_MIN_CONFIDENCE=0.0), str(tmp_path))
    assert keras.config.dtype_policy().name == "float32", "the global policy leaked"
    layers = {layer.name: layer for layer in model.keras_model.layers}
    outputs = set(MASK_HEADS[head].class_specific_layers)
    # The mask head's convs (weights of rank 4) compute in 16 bits, its outputs in float32.
    mask_convs = [name for name, layer in layers.items() if name.startswith("mrcnn_mask")
                  and any(len(w.shape) == 4 for w in layer.weights) and name not in outputs]
    assert mask_convs and outputs <= set(layers)
    for name in ("conv1", "res2a_branch2b", "fpn_p2", "rpn_conv_shared", "mrcnn_class_conv1",
                 *mask_convs):
        assert layers[name].compute_dtype == MIXED[policy], name
        assert all(w.dtype == "float32" for w in layers[name].weights), name
    for name in (*FLOAT32_LAYERS, *outputs):
        assert layers[name].compute_dtype == "float32", name
    for output in model.keras_model.outputs:
        assert output.dtype == "float32", output.name

    rng = np.random.default_rng(0)
    results = model.detect([rng.integers(0, 256, (64, 64, 3), dtype=np.uint8),
                            rng.integers(0, 256, (40, 90, 3), dtype=np.uint8)])
    assert sum(len(r["class_ids"]) for r in results) > 0
    for r in results:
        assert r["scores"].dtype == np.float32 and np.isfinite(r["scores"]).all()
        assert ((r["scores"] >= 0) & (r["scores"] <= 1)).all()


def test_float32_inference_computes_in_bfloat16_on_cpus_with_bf16_units(monkeypatch,
                                                                        tmp_path):
    """A float32 config's inference graph is mixed_bfloat16 where the CPU has bfloat16
    units, unless the config opts out; training graphs and explicit policies are kept."""
    auto = tiny_config(AUTO_BFLOAT16_INFERENCE=True)
    mixed16 = tiny_config(AUTO_BFLOAT16_INFERENCE=True, DTYPE_POLICY="mixed_float16")
    for units in (False, True):
        monkeypatch.setattr(precision, "bf16_matrix_units", lambda units=units: units)
        assert precision.inference_policy(auto) == ("mixed_bfloat16" if units else "float32")
        assert precision.inference_policy(tiny_config()) == "float32"  # opted out
        assert precision.inference_policy(mixed16) == "mixed_float16"
    layers = {layer.name: layer for layer in
              MaskRCNN("inference", auto, str(tmp_path)).keras_model.layers}
    assert layers["conv1"].compute_dtype == "bfloat16"
    assert layers["mrcnn_detection"].compute_dtype == "float32"
    training = {layer.name: layer for layer in
                MaskRCNN("training", auto, str(tmp_path)).keras_model.layers}
    assert training["conv1"].compute_dtype == "float32"


def test_bf16_units_read_from_cpu_flags():
    """Agrees with /proc/cpuinfo (this machine: no GPU)."""
    with open("/proc/cpuinfo") as f:
        flags = next(line for line in f if line.startswith("flags")).split()
    assert precision.bf16_matrix_units() == ("avx512_bf16" in flags or "amx_bf16" in flags)


def test_bfloat16_outputs_follow_float32_with_the_same_weights(tmp_path):
    """Same weights, one image: the RPN's outputs of the 16-bit graph stay within
    bfloat16's precision of the float32 graph's."""
    exact = MaskRCNN("inference", tiny_config(), str(tmp_path))
    mixed = MaskRCNN("inference", tiny_config(DTYPE_POLICY="mixed_bfloat16"), str(tmp_path))
    mixed.keras_model.set_weights(exact.keras_model.get_weights())
    image = np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    molded, metas, _ = exact.mold_inputs([image])
    a = exact.keras_model.predict_on_batch([molded, metas])
    b = mixed.keras_model.predict_on_batch([molded, metas])
    # bfloat16 keeps 8 bits of mantissa: box deltas within 3% of their range; the
    # (saturated, random-weight) objectness probabilities move by < 0.05 for 95% of anchors.
    deltas = np.abs(a["rpn_bbox"] - b["rpn_bbox"])
    assert deltas.max() < 0.03 * np.abs(a["rpn_bbox"]).max()
    assert np.percentile(np.abs(a["rpn_class"] - b["rpn_class"]), 95) < 0.05
    assert not np.array_equal(a["rpn_class"], b["rpn_class"]), "no 16-bit compute happened"


# mixed_float16, whose loss scaling is what can break learning; mixed_bfloat16 training
# runs end to end in tests/experiments/test_compare.py's smoke run (the whole comparison in bf16).
@pytest.mark.slow  # 40 s; CI keeps the mixed_float16 train-and-resume test below
@pytest.mark.parametrize("policy", ["mixed_float16"])
def test_mixed_training_steps_lower_the_loss(policy, shapes64, tmp_path):
    config = tiny_config(DTYPE_POLICY=policy, LEARNING_RATE=0.003)
    model = MaskRCNN("training", config, str(tmp_path))
    model.set_trainable("all")
    optimizer = training_optimizer(make_optimizer(config, config.LEARNING_RATE), policy)
    assert isinstance(optimizer, keras.optimizers.LossScaleOptimizer) == (
        policy == "mixed_float16")
    model.keras_model.compile(optimizer=optimizer)
    batch = next(iter(build_dataset(shapes64, config, shuffle=False)))
    before = step_losses(model.keras_model, batch)
    for _ in range(12):
        model.keras_model.train_on_batch(batch)
    after = step_losses(model.keras_model, batch)
    assert all(loss.dtype == "float32" for loss in model.keras_model.outputs)
    assert np.isfinite(after).all()
    assert sum(after) < 0.7 * sum(before), (before, after)


def test_mixed_float16_train_writes_a_resumable_checkpoint(shapes64, tmp_path):
    config = tiny_config(DTYPE_POLICY="mixed_float16")
    model = MaskRCNN("training", config, str(tmp_path))
    history = model.train(shapes64, None, config.LEARNING_RATE, epochs=1, layers="heads",
                          verbose=0)
    assert np.isfinite(history.history["total_loss"]).all()
    assert isinstance(model.keras_model.optimizer, keras.optimizers.LossScaleOptimizer)
    saved = load_training_state(state_path(model.last_checkpoint()))
    # The wrapped optimizer's slots (momentum, Adam's moments), not the wrapper's.
    assert saved["optimizer"] == type(make_optimizer(config, 0.1)).__name__
    momenta = {k: v for k, v in saved["variables"].items() if k != "iteration"}
    assert momenta and any(np.any(v) for v in momenta.values())
    resumed = MaskRCNN("training", config, str(tmp_path))
    resumed.trainer._resume()
    resumed.trainer.set_trainable("heads")
    resumed.trainer._compile(config.LEARNING_RATE)  # what train() runs before its steps
    inner = resumed.keras_model.optimizer.inner_optimizer
    restored = {v.name: v.numpy() for v in inner.variables if v.name in momenta}
    assert restored.keys() == momenta.keys()
    for name, value in momenta.items():
        np.testing.assert_array_equal(restored[name], value)
    resumed.train(shapes64, None, config.LEARNING_RATE, epochs=2, layers="heads", verbose=0,
                  resume=True)
    assert resumed.epoch == 2
