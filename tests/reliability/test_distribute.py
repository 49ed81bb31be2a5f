"""tf.distribute: one training step under MirroredStrategy on two logical CPUs equals a
single-device step on the same global batch (losses and gradients).

Runs in a subprocess: logical devices must be configured before TensorFlow initialises.
The script makes the step deterministic (no random subsampling of anchors or RoIs, frozen
BatchNorm, the same image in both halves of the batch); see tests/reliability/_train_script.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_mirrored_step_matches_single_device_step(tmp_path):
    out = tmp_path / "result.json"
    env = {**os.environ, "PYTHONPATH": ROOT, "TF_CPP_MIN_LOG_LEVEL": "2"}
    run = subprocess.run([sys.executable, "-m", "tests.reliability._train_script",
                          "distribute", str(out)], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=240)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    results = json.loads(out.read_text())
    single, mirrored = results["single"], results["mirrored"]
    assert (single["replicas"], mirrored["replicas"]) == (1, 2)
    assert single["iterations"] == mirrored["iterations"] == 1
    for name, value in single["losses"].items():
        np.testing.assert_allclose(mirrored["losses"][name], value, rtol=2e-4, atol=1e-6,
                                   err_msg=name)
    assert single["losses"]["mrcnn_mask_loss"] > 0  # positives were there to compare
    grads_single = np.load(str(out) + ".single.npz")
    grads_mirrored = np.load(str(out) + ".mirrored.npz")
    assert sorted(grads_single.files) == sorted(grads_mirrored.files)
    # float32 sums in another order: compare each gradient relative to its own size.
    # (A missing 1/replicas scaling, or a replica left out, would be off by 50-100%.)
    norms, diffs = [], []
    for name in grads_single.files:
        a, b = grads_single[name], grads_mirrored[name]
        scale = max(np.abs(a).max(), 1e-6)
        np.testing.assert_allclose(b, a, atol=1e-2 * scale, rtol=1e-2, err_msg=name)
        norms.append(np.linalg.norm(a))
        diffs.append(np.linalg.norm(b - a))
    assert max(norms) > 0  # the step did move the weights
    assert np.linalg.norm(diffs) < 3e-3 * np.linalg.norm(norms)
