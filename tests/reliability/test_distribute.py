"""tf.distribute: one training step under MirroredStrategy on two logical CPUs, and under
MultiWorkerMirroredStrategy with two worker processes, equals a single-device step on the
same global batch (losses and gradients, clipped as the global batch's); a cluster that
loses a worker stops with a clear error and resumes from the chief's checkpoint.

Runs in a subprocess: logical devices must be configured before TensorFlow initialises.
The script makes the step deterministic (op determinism, the anchors themselves as the
proposals, no random subsampling of anchors or RoIs, frozen BatchNorm, the same image in both
halves of the batch); see tests/reliability/_train_script.py.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import time

import numpy as np
import pytest

from tests.helpers import HANG_GUARD_S
from tests.reliability._train_script import CLIP_NORM
from tests.reliability.conftest import progress_events, start_script, start_training


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
    # Clipped as one gradient: each replica's share (norm ~23) clipped on its own would sum
    # to 2 x CLIP_NORM.
    np.testing.assert_allclose(np.linalg.norm(norms), CLIP_NORM, rtol=1e-4)


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def cluster_env(index: int, workers: list[str]) -> dict:
    """``TF_CONFIG`` of worker ``index`` of a cluster on this machine."""
    config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
    return {"TF_CONFIG": json.dumps(config)}


def finish(procs) -> list[str]:
    """Wait for every process (killing all of them past the hang guard); their outputs."""
    try:
        return [proc.communicate(timeout=HANG_GUARD_S)[0] for proc in procs]
    finally:
        for proc in procs:
            proc.kill()


def test_mirrored_and_two_worker_steps_equal_single_device_step(tmp_path):
    """One step on the same global batch three ways: on one device, under MirroredStrategy
    on two logical CPUs (one process), and under MultiWorkerMirroredStrategy with two worker
    processes (TF_CONFIG with 127.0.0.1 ports). Both distributed steps equal the
    single-device one; each worker read only its own image and only the chief wrote files."""
    workers = [f"127.0.0.1:{port}" for port in free_ports(2)]
    procs = [start_script("multiworker", tmp_path / f"worker{i}.json",
                          env_extra=cluster_env(i, workers)) for i in range(2)]
    procs.append(start_script("distribute", tmp_path / "one_process.json"))
    for proc, output in zip(procs, finish(procs)):
        assert proc.returncode == 0, output[-4000:]
    one_process = json.loads((tmp_path / "one_process.json").read_text())
    single, grads_single = one_process["single"], np.load(tmp_path / "one_process.json.single.npz")
    assert "val_total_loss" in single["losses"]  # validation is compared too
    assert_same_step(single, one_process["mirrored"], grads_single,
                     np.load(tmp_path / "one_process.json.mirrored.npz"))
    results = [json.loads((tmp_path / f"worker{i}.json").read_text()) for i in range(2)]
    grads = [np.load(tmp_path / f"worker{i}.json.npz") for i in range(2)]
    assert_same_step(single, results[0], grads_single, grads[0])
    # Both workers applied the same all-reduced update.
    assert results[0]["losses"] == results[1]["losses"]
    for name in grads[0].files:
        np.testing.assert_array_equal(grads[1][name], grads[0][name], err_msg=name)
    # Every worker names the chief's run folder (in its own model_dir here).
    assert os.path.basename(results[0]["log_dir"]) == os.path.basename(results[1]["log_dir"])
    # Input sharded per worker: image 0 on the chief, image 1 on the other worker.
    loaded = [{int(v) for v in (tmp_path / f"worker{i}.json.ids").read_text().split()}
              for i in range(2)]
    assert loaded == [{0}, {1}]
    # Checkpoints and TensorBoard logs on the chief only.
    chief_files = [p.name for p in (tmp_path / "worker0.json.logs").rglob("*") if p.is_file()]
    assert "mask_rcnn_tiny_0001.weights.h5" in chief_files
    assert any(name.startswith("events.out.tfevents") for name in chief_files), chief_files
    other = tmp_path / "worker1.json.logs"
    assert not other.exists() or not [p for p in other.rglob("*") if p.is_file()]


@pytest.mark.slow  # 65 s of two-worker training: outside CI's 9 minutes (run with -m slow)
def test_killed_worker_then_cluster_resumes_from_the_chiefs_checkpoint(tmp_path):
    """A worker is SIGKILLed in epoch 2 of a two-worker run (BatchNorm trained): the chief
    stops with WorkerLostError naming its last checkpoint (no hang); restarted with resume,
    both workers go on from that checkpoint's epoch and optimizer state and finish with
    the same weights. Each worker also refuses mixed_float16 (per-worker loss scaling)."""
    workers = [f"127.0.0.1:{port}" for port in free_ports(2)]
    first = [start_training(tmp_path, 3,
                            env_extra={**cluster_env(i, workers), "HANG_AT_EPOCH": "1"})
             for i in range(2)]
    checkpoint = tmp_path.glob("tiny*/mask_rcnn_tiny_0001.weights.h5")
    deadline = time.monotonic() + HANG_GUARD_S
    try:
        while not (os.path.exists(tmp_path / "progress.jsonl")
                   and any("hanging" in e for e in progress_events(tmp_path))
                   and list(tmp_path.glob("tiny*/mask_rcnn_tiny_0001.weights.h5"))):
            if any(proc.poll() is not None for proc in first):
                pytest.fail("a worker ended early:\n" + "\n".join(finish(first)))
            if time.monotonic() > deadline:
                pytest.fail(f"no checkpoint and no waiting worker within {HANG_GUARD_S} s")
            time.sleep(0.05)
        first[1].send_signal(signal.SIGKILL)
        chief_output = first[0].communicate(timeout=HANG_GUARD_S)[0]
    finally:
        for proc in first:
            proc.kill()
            proc.wait()
    assert first[0].returncode not in (0, None)
    assert "WorkerLostError" in chief_output and "resume=True" in chief_output, \
        chief_output[-3000:]
    (checkpoint,) = checkpoint
    assert checkpoint.name in chief_output

    second = [start_training(tmp_path, 2, "--resume", env_extra=cluster_env(i, workers))
              for i in range(2)]
    for proc, output in zip(second, finish(second)):
        assert proc.returncode == 0, output[-4000:]
    resumed = [e for e in progress_events(tmp_path) if "train_begin_epoch" in e][-2:]
    assert sorted(e["worker"] for e in resumed) == [0, 1]
    for event in resumed:
        assert event["train_begin_epoch"] == 1
        assert event["iterations"] == 2  # one epoch of STEPS_PER_EPOCH = 2
        assert event["slots_restored"] and event["slots_nonzero"]
    # Both finished, with the same weights: BatchNorm statistics were averaged over workers.
    assert sorted(e["worker"] for e in progress_events(tmp_path) if e.get("done") == 2) == [0, 1]
    refused = [e["mixed_float16_refused"] for e in progress_events(tmp_path)
               if "mixed_float16_refused" in e]
    assert len(refused) == 4 and "loss scaling" in refused[0]
    (run_dir,) = tmp_path.glob("tiny*")
    assert sorted(p.name for p in run_dir.glob("*.weights.h5")) == [
        "mask_rcnn_tiny_0001.weights.h5", "mask_rcnn_tiny_0002.weights.h5"]
