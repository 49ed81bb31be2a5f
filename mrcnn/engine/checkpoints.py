"""Checkpoints: atomic per-epoch saving of weights and training state, and resuming from them.

After every epoch the training run writes, next to each other::

    mask_rcnn_<name>_NNNN.weights.h5   the model's weights (kept for every epoch)
    mask_rcnn_<name>_NNNN.state.npz    optimizer variables (iteration count, momentum or
                                       Adam moments) and the epoch (only the newest kept)

Both are written to a temporary file and renamed into place, the state first, so a
process killed at any moment leaves either no checkpoint for that epoch or a complete
one; an epoch whose losses (or weights) are NaN/Inf writes nothing, so the last good
checkpoint is never overwritten by a diverged model.
"""

from __future__ import annotations

import glob
import logging
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

import keras
import numpy as np

from mrcnn.weights.files import WEIGHTS_SUFFIX, save_weights_atomically, write_atomically

logger = logging.getLogger(__name__)

STATE_SUFFIX = ".state.npz"


def state_path(weights_path: str) -> str:
    """The training-state file that belongs to a ``.weights.h5`` checkpoint."""
    if not weights_path.endswith(WEIGHTS_SUFFIX):
        raise ValueError(f"not a .weights.h5 path: {weights_path}")
    return weights_path[:-len(WEIGHTS_SUFFIX)] + STATE_SUFFIX


# ---------------------------------------------------------------------- optimizer state
def optimizer_state(optimizer: keras.optimizers.Optimizer, epoch: int) -> dict[str, Any]:
    """A picklable snapshot: ``{"epoch", "optimizer", "variables": {name: array}}``.

    Variables are keyed by their name without the optimizer's own prefix (e.g.
    ``iteration``, ``conv1_kernel_momentum``), so a new optimizer instance of the same
    class finds its slots; the learning rate is left out (``train()`` sets it).
    """
    optimizer = inner_optimizer(optimizer)
    variables = {v.name: np.array(keras.ops.convert_to_numpy(v)) for v in optimizer.variables
                 if v.name != "learning_rate"}
    return {"epoch": int(epoch), "optimizer": type(optimizer).__name__, "variables": variables}


def inner_optimizer(optimizer: keras.optimizers.Optimizer) -> keras.optimizers.Optimizer:
    """The optimizer that holds the slots: the one a ``LossScaleOptimizer`` (the
    ``mixed_float16`` wrapper, whose loss scale re-adapts within steps) wraps, else
    ``optimizer`` itself. Snapshots are of it, whoever saves or restores them."""
    return getattr(optimizer, "inner_optimizer", optimizer)


def restore_optimizer_state(optimizer: keras.optimizers.Optimizer,
                            state: Mapping[str, Any]) -> dict[str, list]:
    """Assign a snapshot of :func:`optimizer_state` to a built ``optimizer``.

    Slots are matched by name; slots the snapshot lacks (layers newly trainable) stay
    at zero, stored slots of variables no longer trained are ignored. Returns
    ``{"restored", "missing", "mismatched"}`` names. A snapshot of another optimizer
    class restores nothing (its slots mean something else).
    """
    optimizer = inner_optimizer(optimizer)
    report: dict[str, list] = {"restored": [], "missing": [], "mismatched": []}
    if state.get("optimizer") != type(optimizer).__name__:
        logger.warning("optimizer state of %s not restored into %s: another optimizer "
                       "starts from zero", state.get("optimizer"), type(optimizer).__name__)
        report["missing"] = [v.name for v in optimizer.variables]
        return report
    stored = state["variables"]
    for variable in optimizer.variables:
        if variable.name == "learning_rate":
            continue
        value = stored.get(variable.name)
        if value is None:
            report["missing"].append(variable.name)
        elif tuple(np.shape(value)) != tuple(variable.shape):
            report["mismatched"].append(variable.name)
        else:
            variable.assign(np.asarray(value, dtype=variable.dtype))
            report["restored"].append(variable.name)
    if report["missing"] or report["mismatched"]:
        logger.info("optimizer state: %d slot(s) restored, %d start from zero, %d mismatched",
                    len(report["restored"]), len(report["missing"]), len(report["mismatched"]))
    return report


def save_training_state(path: str, state: Mapping[str, Any]) -> None:
    """Write a snapshot of :func:`optimizer_state` to ``path`` (``.npz``) atomically."""
    arrays = {f"var:{name}": value for name, value in state["variables"].items()}
    arrays["__epoch__"] = np.int64(state["epoch"])
    arrays["__optimizer__"] = np.array(state["optimizer"])

    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)

    write_atomically(path, write)


def load_training_state(path: str) -> dict[str, Any]:
    """Read a file written by :func:`save_training_state`."""
    with np.load(path, allow_pickle=False) as data:
        return {"epoch": int(data["__epoch__"]), "optimizer": str(data["__optimizer__"]),
                "variables": {key[4:]: data[key] for key in data.files
                              if key.startswith("var:")}}


# ---------------------------------------------------------------------- callbacks
def non_finite(logs: Mapping[str, Any] | None, names: Sequence[str] | None = None
               ) -> dict[str, float]:
    """The entries of ``logs`` (restricted to ``names``) that are NaN or infinite."""
    bad = {}
    for key, value in (logs or {}).items():
        if names is not None and key not in names:
            continue
        try:
            number = float(np.asarray(value))
        except (TypeError, ValueError):
            continue
        if not math.isfinite(number):
            bad[key] = number
    return bad


def _weights_finite(model: keras.Model) -> bool:
    return all(np.isfinite(keras.ops.convert_to_numpy(v)).all() for v in model.weights
               if np.issubdtype(np.dtype(v.dtype), np.floating))


def is_chief(strategy=None) -> bool:
    """Whether this process should write files: always, except on the non-chief workers
    of a multi-worker ``tf.distribute`` strategy."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not getattr(resolver, "task_type", None):
        return True
    task_type, task_id = resolver.task_type, resolver.task_id
    if task_type == "chief":
        return True
    has_chief = "chief" in (resolver.cluster_spec().as_dict() or {})
    return task_type == "worker" and task_id == 0 and not has_chief


class AtomicCheckpoint(keras.callbacks.Callback):
    """After every epoch save the weights to ``pattern.format(epoch=...)`` (1-based) and,
    with ``save_state``, the optimizer state beside them (newest only), atomically.

    An epoch whose logged losses or whose weights are NaN/Inf writes nothing (the
    epoch number is added to ``skipped``), so the last good checkpoint stays.
    ``write=False`` (non-chief workers) only runs the checks. ``info`` is stored in every
    checkpoint (:mod:`mrcnn.weights.checkpoint_info`).
    """

    def __init__(self, pattern: str, save_state: bool = True, write: bool = True,
                 info: dict | None = None):
        super().__init__()
        self.pattern = pattern
        self.info = info
        self.save_state = save_state
        self.write = write
        self.skipped: list[int] = []
        self.last_saved: str | None = None

    def on_epoch_end(self, epoch, logs=None):
        path = self.pattern.format(epoch=epoch + 1)
        bad = non_finite(logs)
        if not bad and not _weights_finite(self.model):
            bad = {"weights": float("nan")}
        if bad:
            self.skipped.append(epoch + 1)
            logger.warning("epoch %d ended with non-finite values %s: checkpoint %s not "
                           "written; the last good one is %s", epoch + 1, bad,
                           os.path.basename(path), self.last_saved)
            return
        if not self.write:
            self.last_saved = path  # what the chief writes (non-chief workers: the same path)
            return
        if self.save_state and getattr(self.model, "optimizer", None) is not None:
            new_state = state_path(path)
            save_training_state(new_state, optimizer_state(self.model.optimizer, epoch + 1))
        save_weights_atomically(self.model, path, self.info)
        self.last_saved = path
        if self.save_state:
            self._prune_states(path)

    @staticmethod
    def _prune_states(path: str) -> None:
        """Keep only the newest state file: optimizer slots are as large as the model."""
        keep = os.path.abspath(state_path(path))
        for old in glob.glob(os.path.join(os.path.dirname(path), "*" + STATE_SUFFIX)):
            if os.path.abspath(old) != keep:
                try:
                    os.remove(old)
                except OSError:
                    pass


