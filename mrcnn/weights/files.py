"""Weight files: written atomically (a temporary file renamed into place, so an
interruption never leaves a truncated file), read back by layer name, and named by epoch
(``mask_rcnn_<name>_NNNN.weights.h5``)."""

from __future__ import annotations

import glob
import logging
import os
import re
from collections.abc import Sequence

import h5py
import keras
import numpy as np

from mrcnn.weights.checkpoint_info import write_info

logger = logging.getLogger(__name__)


def save_weights_atomically(model: keras.Model, path: str, info: dict | None = None) -> None:
    """Write ``model``'s weights to a temporary file next to ``path``, then rename it, so
    an interruption never leaves a truncated checkpoint under ``path``. ``info`` (config
    and class names, :mod:`mrcnn.weights.checkpoint_info`) goes into the same file."""

    def write(tmp: str) -> None:
        model.save_weights(tmp)
        if info is not None:
            write_info(tmp, info)

    write_atomically(path, write)


def write_atomically(path: str, write) -> None:
    """``write(tmp)`` to a temporary name in ``path``'s folder, flush it to disk, rename."""
    directory, name = os.path.split(os.path.abspath(path))
    tmp = os.path.join(directory, f"{TMP_PREFIX}{os.getpid()}-{name}")
    try:
        write(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_text_atomically(path: str, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` via :func:`write_atomically`."""

    def write(tmp):
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)

    write_atomically(path, write)


TMP_PREFIX = ".tmp-"
WEIGHTS_SUFFIX = ".weights.h5"


def remove_stale_temporaries(directory: str) -> list[str]:
    """Delete temporary checkpoint files left by processes that no longer run."""
    removed = []
    for path in glob.glob(os.path.join(directory, TMP_PREFIX + "*")):
        match = re.match(re.escape(TMP_PREFIX) + r"(\d+)-", os.path.basename(path))
        if match and _pid_alive(int(match.group(1))) and int(match.group(1)) != os.getpid():
            continue
        try:
            os.remove(path)
            removed.append(path)
        except OSError:
            pass
    return removed


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def checkpoint_epoch(path: str) -> int | None:
    """The epoch number of a checkpoint named ``..._NNNN.weights.h5`` (None otherwise)."""
    match = re.search(r"_(\d{4})\.weights\.h5$", path)
    return int(match.group(1)) if match else None


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
