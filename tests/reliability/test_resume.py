"""Nothing lost on interruption: a real training process is SIGKILLed after its first
checkpoint; a new process resumes with the same epoch numbering and optimizer state."""

from __future__ import annotations

import glob
import os
import signal
import time

import pytest

from tests.helpers import HANG_GUARD_S
from tests.reliability.conftest import progress_events, start_training

STEPS = 2  # STEPS_PER_EPOCH of the script


def test_sigkill_then_resume_continues_epochs_and_optimizer_state(tmp_path):
    first = start_training(tmp_path, 50)
    deadline = time.monotonic() + HANG_GUARD_S
    try:
        while not glob.glob(str(tmp_path / "*" / "mask_rcnn_tiny_0001.weights.h5")):
            if first.poll() is not None:
                pytest.fail("training process ended early:\n" + first.stdout.read())
            if time.monotonic() > deadline:
                pytest.fail(f"no checkpoint within {HANG_GUARD_S} s")
            time.sleep(0.05)
        first.send_signal(signal.SIGKILL)
    finally:
        if first.poll() is None:
            first.kill()
        first.wait()
    assert first.returncode == -signal.SIGKILL
    (run_dir,) = glob.glob(str(tmp_path / "tiny*"))
    saved = sorted(glob.glob(os.path.join(run_dir, "mask_rcnn_tiny_*.weights.h5")))
    last = int(saved[-1][-15:-11])
    assert last >= 1
    states = glob.glob(os.path.join(run_dir, "*.state.npz"))
    # The newest state belongs to the newest weights (or to the epoch being written).
    assert any(s.endswith(f"_{last:04d}.state.npz") for s in states), states

    second = start_training(tmp_path, last + 2, "--resume")
    output, _ = second.communicate(timeout=HANG_GUARD_S)
    assert second.returncode == 0, output
    events = [e for e in progress_events(tmp_path) if e["pid"] == second.pid]
    begin = events[0]
    assert begin["train_begin_epoch"] == last
    assert begin["iterations"] == last * STEPS, begin  # not 0: the optimizer state is back
    assert begin["slots_restored"] and begin["slots_nonzero"], begin
    assert [e["epoch_begin"] for e in events if "epoch_begin" in e] == [last, last + 1]
    assert [e["iterations"] for e in events if "epoch_begin" in e] == [last * STEPS,
                                                                      (last + 1) * STEPS]
    assert events[-1]["done"] == last + 2 and events[-1]["log_dir"] == run_dir
    saved = sorted(os.path.basename(p) for p in
                   glob.glob(os.path.join(run_dir, "mask_rcnn_tiny_*.weights.h5")))
    assert saved[-2:] == [f"mask_rcnn_tiny_{last + 1:04d}.weights.h5",
                          f"mask_rcnn_tiny_{last + 2:04d}.weights.h5"]
    assert [os.path.basename(p) for p in glob.glob(os.path.join(run_dir, "*.state.npz"))] == [
        f"mask_rcnn_tiny_{last + 2:04d}.state.npz"]
    assert not glob.glob(os.path.join(run_dir, ".tmp-*"))
