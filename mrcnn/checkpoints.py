"""Checkpoints: atomic per-epoch saving and loading weights by layer name."""

from __future__ import annotations

import logging
import os
from typing import Sequence

import h5py
import keras
import numpy as np

logger = logging.getLogger(__name__)


def save_weights_atomically(model: keras.Model, path: str) -> None:
    """Write ``model``'s weights to a temporary file next to ``path``, then rename it, so
    an interruption never leaves a truncated checkpoint under ``path``."""
    directory, name = os.path.split(os.path.abspath(path))
    tmp = os.path.join(directory, f".tmp-{os.getpid()}-{name}")
    try:
        model.save_weights(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


class AtomicCheckpoint(keras.callbacks.Callback):
    """Save the weights after every epoch to ``pattern.format(epoch=...)`` (1-based)."""

    def __init__(self, pattern: str):
        super().__init__()
        self.pattern = pattern

    def on_epoch_end(self, epoch, logs=None):
        save_weights_atomically(self.model, self.pattern.format(epoch=epoch + 1))


def load_weights_by_name(model: keras.Model, path: str,
                         exclude: Sequence[str] = ()) -> dict[str, list]:
    """Load a Keras 3 ``.weights.h5`` file into the layers of ``model`` with the same names.

    Layers in ``exclude``, layers absent from ``model`` and layers whose variable shapes
    differ are skipped and reported; returns ``{"loaded", "skipped", "mismatched",
    "missing"}`` (``missing``: layers of ``model`` with weights the file does not have).
    """
    layers = {layer.name: layer for layer in model.layers if layer.weights}
    report: dict[str, list] = {"loaded": [], "skipped": [], "mismatched": [], "missing": []}
    exclude = set(exclude)
    with h5py.File(path, "r") as f:
        if "layers" not in f:
            raise ValueError(f"{path}: not a Keras 3 .weights.h5 file (no 'layers' group)")
        for group in f["layers"].values():
            if "vars" not in group:
                continue
            name = group["vars"].attrs.get("name", "")
            name = name.decode() if isinstance(name, bytes) else str(name)
            stored = {key: np.asarray(value) for key, value in group["vars"].items()}
            if not stored:
                continue
            if name in exclude or name not in layers:
                report["skipped"].append(name)
                continue
            layer = layers[name]
            current: dict[str, np.ndarray] = {}
            layer.save_own_variables(current)
            shapes = {k: tuple(np.shape(v)) for k, v in current.items()}
            if shapes != {k: v.shape for k, v in stored.items()}:
                report["mismatched"].append(
                    (name, {k: v.shape for k, v in stored.items()}, shapes))
                continue
            layer.load_own_variables(stored)
            report["loaded"].append(name)
    loaded = set(report["loaded"]) | set(report["skipped"]) | {m[0] for m in report["mismatched"]}
    report["missing"] = sorted(set(layers) - loaded - exclude)
    for kind in ("skipped", "mismatched", "missing"):
        if report[kind]:
            logger.info("load_weights(%s): %d layer(s) %s: %s", path, len(report[kind]), kind,
                        report[kind])
    return report
