"""What a checkpoint carries besides its weights: the config and the class names.

Written into every ``.weights.h5`` file this library saves, as a JSON string in the HDF5
root attribute ``mrcnn_info``, so one file is enough to rebuild the model and name what
it detects (``MaskRCNN.from_checkpoint(path)``, ``python -m mrcnn detect --weights
path``). The JSON is ``{"format": 1, "config_class": ..., "config": {field: value},
"class_names": [...]}``:

- ``config`` holds every upper-case class field of the config and the settings of its
  mask head (defaults included, so the head is rebuilt as it was trained); derived fields
  such as ``BATCH_SIZE`` are recomputed, and so is ``MASK_SHAPE`` unless a class sets it
  (then it is stored and validated again); numpy arrays are stored as lists and come back as
  arrays; a callable (a custom ``BACKBONE``, an ``AUGMENTATION``) is stored by its import
  path ``{"callable": "module:qualname"}`` and imported again when the config is rebuilt.
  An augmentation that is an object (``augment.Compose([...])``) is stored as None (it
  only matters in training); its ``repr`` is kept under ``"augmentation"`` for the record.
- ``class_names`` starts with the background, ``"BG"``, as ``Dataset.class_names`` does.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Sequence
from typing import Any

import h5py
import numpy as np

from mrcnn.config import DERIVED_FIELDS, Config, ConfigError

INFO_ATTRIBUTE = "mrcnn_info"
INFO_FORMAT = 1
# Computed by Config.__init__ from the other fields; never stored. (MASK_SHAPE is derived
# too when a config does not set it: it is then an instance field, not stored either.)


def _head_settings(config: Config) -> dict[str, Any]:
    """Settings (with defaults) of ``config``'s mask head, {} for an unknown head."""
    from mrcnn.heads.mask import MASK_HEADS

    spec = MASK_HEADS.get(config.MASK_HEAD) if isinstance(config.MASK_HEAD, str) else None
    return dict(spec.settings) if spec is not None else {}


def callable_path(value) -> dict[str, str]:
    """``{"callable": "module:qualname"}`` of a function or class that can be re-imported."""
    module, name = getattr(value, "__module__", None), getattr(value, "__qualname__", None)
    if not module or not name or "<" in name:  # lambdas and closures cannot be re-imported
        raise ValueError(f"cannot store {value!r} by name: define it at module level")
    return {"callable": f"{module}:{name}"}


def callable_name(value) -> str:
    """A callable config value as the settings record it: ``module:name`` for a function
    or class, else its ``repr`` (an ``augment.Compose([...])`` spells out its steps)."""
    try:
        return callable_path(value)["callable"]
    except ValueError:
        return repr(value)


def json_default(value):
    """``json.dumps(..., default=json_default)``: numpy scalars and arrays as numbers and
    lists, callables as :func:`callable_name`."""
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if callable(value):  # a config field such as AUGMENTATION or BACKBONE
        return callable_name(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def _import_callable(path: str):
    module, _, name = path.partition(":")
    value = importlib.import_module(module)
    for part in name.split("."):
        value = getattr(value, part)
    return value


def config_fields(config: Config) -> dict[str, Any]:
    """The JSON-ready fields of ``config`` (see the module docstring)."""
    fields = {}
    names = type(config).class_fields() | set(_head_settings(config))
    for name in sorted(names):
        if name in DERIVED_FIELDS:
            continue
        value = getattr(config, name)
        if isinstance(value, np.ndarray):
            value = value.tolist()
        elif isinstance(value, tuple):
            value = list(value)
        elif callable(value):
            try:
                value = callable_path(value)
            except ValueError:
                if name != "AUGMENTATION":
                    raise
                value = None  # an object (Compose([...])): training only; repr kept below
        fields[name] = value
    return fields


def config_from_fields(fields: dict[str, Any], class_name: str = "CheckpointConfig",
                       **overrides) -> Config:
    """Rebuild a validated :class:`Config` from :func:`config_fields` output; ``overrides``
    (e.g. ``DETECTION_MIN_CONFIDENCE=0.5``, ``IMAGES_PER_GPU=1``) replace stored fields."""
    from mrcnn.heads.mask import mask_head_settings

    defaults = mask_head_settings()
    attributes = {}
    for name, value in {**fields, **overrides}.items():
        if name in DERIVED_FIELDS:
            continue
        if isinstance(value, dict) and set(value) == {"callable"}:
            try:
                value = _import_callable(value["callable"])
            except (ImportError, AttributeError) as error:
                if name == "AUGMENTATION":
                    value = None  # inference does not need it
                else:
                    raise ConfigError(f"{class_name}.{name}: the checkpoint needs "
                                      f"{value['callable']}, which cannot be imported "
                                      f"({error}); import or define it first") from None
        elif isinstance(getattr(Config, name, defaults.get(name)), np.ndarray) \
                and value is not None:
            value = np.asarray(value)
        attributes[name] = value
    return type(class_name, (Config,), attributes)()


def checkpoint_info(config: Config, class_names: Sequence[str] | None) -> dict[str, Any]:
    """The ``mrcnn_info`` record for ``config`` and ``class_names``."""
    return {"format": INFO_FORMAT, "config_class": type(config).__name__,
            "config": config_fields(config), "augmentation": repr(config.AUGMENTATION),
            "class_names": list(class_names) if class_names is not None else None}


def write_info(path: str, info: dict[str, Any]) -> None:
    """Store ``info`` in the ``.weights.h5`` file ``path`` (call before it is renamed into
    place, see :func:`mrcnn.weights.files.save_weights_atomically`)."""
    with h5py.File(path, "a") as f:
        f.attrs[INFO_ATTRIBUTE] = json.dumps(info)


def read_info(path: str) -> dict[str, Any] | None:
    """The ``mrcnn_info`` record of ``path``, or None for weights without one (files from
    older versions, the classic Keras Mask R-CNN, Keras applications)."""
    try:
        with h5py.File(path, "r") as f:
            raw = f.attrs.get(INFO_ATTRIBUTE)
    except OSError as error:
        raise ValueError(f"{path}: not an HDF5 weights file ({error})") from None
    if raw is None:
        return None
    info = json.loads(raw.decode() if isinstance(raw, bytes) else raw)
    if info.get("format") != INFO_FORMAT:
        raise ValueError(f"{path}: checkpoint info format {info.get('format')!r}; this "
                         f"version reads format {INFO_FORMAT}")
    return info


def stored_info(path: str) -> dict[str, Any]:
    """The ``mrcnn_info`` record of the checkpoint ``path``; a ValueError says what to do
    when it has none."""
    info = read_info(path)
    if info is None:
        raise ValueError(f"{path} carries no config (it was not saved by this version of "
                         "mrcnn): build MaskRCNN with your Config and call load_weights()")
    return info


def config_from_info(info: dict[str, Any], **overrides) -> tuple[Config, list[str] | None]:
    """``(config, class names)`` of a :func:`stored_info` record; ``overrides`` replace
    stored fields as in :func:`config_from_fields`."""
    config = config_from_fields(info["config"], info.get("config_class") or "CheckpointConfig",
                                **overrides)
    return config, info.get("class_names")


def config_from_checkpoint(path: str, **overrides) -> tuple[Config, list[str] | None]:
    """``(config, class names)`` stored in the checkpoint ``path``; a ValueError says what
    to do when it has none."""
    return config_from_info(stored_info(path), **overrides)
