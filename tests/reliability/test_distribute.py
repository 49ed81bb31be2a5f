"""tf.distribute: one training step under MirroredStrategy on two logical CPUs equals a
single-device step on the same global batch (losses and gradients).

Runs in a subprocess: logical devices must be configured before TensorFlow initialises.
The script makes the step deterministic (op determinism, the anchors themselves as the
proposals, no random subsampling of anchors or RoIs, frozen BatchNorm, the same image in both
halves of the batch); see tests/reliability/_train_script.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np

from tests.conftest import HANG_GUARD_S

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_mirrored_step_matches_single_device_step(tmp_path):
    out = tmp_path / "result.json"
    env = {**os.environ, "PYTHONPATH": ROOT, "TF_CPP_MIN_LOG_LEVEL": "2"}
    run = subprocess.run([sys.executable, "-m", "tests.reliability._train_script",
                          "distribute", str(out)], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=HANG_GUARD_S)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    results = json.loads(out.read_text())
    single, mirrored = results["single"], results["mirrored"]
    assert (single["replicas"], mirrored["replicas"]) == (1, 2)
    assert single["iterations"] == mirrored["iterations"] == 1
    # Both runs use the same ops on the same RoIs (see the script); they differ only in the
    # order of float32 sums. Reordering a sum of n terms moves it by a few ulp (~sqrt(n)
    # eps); through the ~40 layers of the network that compounds to tens of ulp, so the
    # losses must agree within 100 eps (1.2e-5). A missing 1/replicas scaling or a lost
    # replica is off by 50-100%, another RoI set by ~1e-3.
    rtol = 100 * np.finfo(np.float32).eps
    for name, value in single["losses"].items():
        np.testing.assert_allclose(mirrored["losses"][name], value, rtol=rtol, err_msg=name)
    assert single["losses"]["mrcnn_mask_loss"] > 0  # positives were there to compare
    # Initial output layers are small: the class loss starts near ln(NUM_CLASSES), not at
    # the scale of the features (which would amplify every rounding difference).
    assert single["losses"]["mrcnn_class_loss"] < 2 * np.log(4)
    grads_single = np.load(str(out) + ".single.npz")
    grads_mirrored = np.load(str(out) + ".mirrored.npz")
    assert sorted(grads_single.files) == sorted(grads_mirrored.files)
    # A weight gradient sums one term per position and image (up to 2 x 64 x 64 x 9 for
    # the first convs): each element within 1e-3 of its tensor's largest, and all of them
    # together within 1e-5 of the gradient's norm (measured: 1.2e-4 and 2e-7).
    norms, diffs = [], []
    for name in grads_single.files:
        a, b = grads_single[name], grads_mirrored[name]
        scale = max(np.abs(a).max(), 1e-6)
        np.testing.assert_allclose(b, a, atol=1e-3 * scale, rtol=0, err_msg=name)
        norms.append(np.linalg.norm(a))
        diffs.append(np.linalg.norm(b - a))
    assert max(norms) > 0  # the step did move the weights
    assert np.linalg.norm(diffs) < 1e-5 * np.linalg.norm(norms)
