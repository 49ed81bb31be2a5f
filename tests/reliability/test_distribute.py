"""tf.distribute: one training step under MirroredStrategy on two logical CPUs equals a
single-device step on the same global batch (losses and gradients); training under
MultiWorkerMirroredStrategy stops with a clear error (Keras 3's fit cannot take it).

Runs in a subprocess: logical devices must be configured before TensorFlow initialises.
The script makes the step deterministic (op determinism, the anchors themselves as the
proposals, no random subsampling of anchors or RoIs, frozen BatchNorm, the same image in both
halves of the batch); see tests/reliability/_train_script.py.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import numpy as np

from tests.conftest import HANG_GUARD_S

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_script(mode: str, out, env_extra=None, wait: bool = True):
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    env.update({"PYTHONPATH": ROOT, "TF_CPP_MIN_LOG_LEVEL": "2", **(env_extra or {})})
    command = [sys.executable, "-m", "tests.reliability._train_script", mode, str(out)]
    if not wait:
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
    run = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=HANG_GUARD_S)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    return run


def assert_same_step(single: dict, distributed: dict, grads_single, grads_distributed):
    """One distributed step equals the single-device step on the same global batch.

    Both runs use the same ops on the same RoIs (see the script); they differ only in the
    order of float32 sums. Reordering a sum of n terms moves it by a few ulp (~sqrt(n)
    eps); through the ~40 layers of the network that compounds to tens of ulp, so the
    losses must agree within 100 eps (1.2e-5). A missing 1/replicas scaling or a lost
    replica is off by 50-100%, another RoI set by ~1e-3.
    """
    assert (single["replicas"], distributed["replicas"]) == (1, 2)
    assert single["iterations"] == distributed["iterations"] == 1
    rtol = 100 * np.finfo(np.float32).eps
    for name, value in single["losses"].items():
        np.testing.assert_allclose(distributed["losses"][name], value, rtol=rtol, err_msg=name)
    assert single["losses"]["mrcnn_mask_loss"] > 0  # positives were there to compare
    # Initial output layers are small: the class loss starts near ln(NUM_CLASSES), not at
    # the scale of the features (which would amplify every rounding difference).
    assert single["losses"]["mrcnn_class_loss"] < 2 * np.log(4)
    assert sorted(grads_single.files) == sorted(grads_distributed.files)
    # A weight gradient sums one term per position and image (up to 2 x 64 x 64 x 9 for
    # the first convs): each element within 1e-3 of its tensor's largest, and all of them
    # together within 1e-5 of the gradient's norm (measured: 1.2e-4 and 2e-7).
    norms, diffs = [], []
    for name in grads_single.files:
        a, b = grads_single[name], grads_distributed[name]
        scale = max(np.abs(a).max(), 1e-6)
        np.testing.assert_allclose(b, a, atol=1e-3 * scale, rtol=0, err_msg=name)
        norms.append(np.linalg.norm(a))
        diffs.append(np.linalg.norm(b - a))
    assert max(norms) > 0  # the step did move the weights
    assert np.linalg.norm(diffs) < 1e-5 * np.linalg.norm(norms)


def test_mirrored_step_matches_single_device_step(tmp_path):
    out = tmp_path / "result.json"
    run_script("distribute", out)
    results = json.loads(out.read_text())
    assert_same_step(results["single"], results["mirrored"],
                     np.load(str(out) + ".single.npz"), np.load(str(out) + ".mirrored.npz"))


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def test_multi_worker_training_says_it_is_not_supported(tmp_path):
    """Keras 3's fit cannot take MultiWorkerMirroredStrategy batches (keras-team/keras#20585):
    two worker processes on this machine (TF_CONFIG with 127.0.0.1 ports) both stop with
    the clear error instead of a crash inside TensorFlow, before any step or checkpoint."""
    workers = [f"127.0.0.1:{port}" for port in free_ports(2)]
    procs = []
    for index in range(2):
        config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
        procs.append(run_script("multiworker", tmp_path / f"result{index}.json",
                                {"TF_CONFIG": json.dumps(config)}, wait=False))
    try:
        outputs = [proc.communicate(timeout=HANG_GUARD_S)[0] for proc in procs]
    finally:
        for proc in procs:
            proc.kill()
    for proc, output in zip(procs, outputs):
        assert proc.returncode != 0
        assert "NotImplementedError: MaskRCNN.train cannot run under " \
            "MultiWorkerMirroredStrategy" in output, output[-3000:]
    assert not list(tmp_path.rglob("*.weights.h5")) and not list(tmp_path.glob("*.json"))
