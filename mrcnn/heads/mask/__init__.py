"""Mask-head registry: a head is one file that brings its builder and its settings.

A mask head is a builder ``fn(roi_features, config) -> masks`` taking RoIAlign features
``[N, MASK_POOL_SIZE, MASK_POOL_SIZE, D]`` and returning per-class mask logits
``[N, s * MASK_POOL_SIZE, s * MASK_POOL_SIZE, NUM_CLASSES]`` (no sigmoid: the loss takes
logits, inference applies the sigmoid), where ``s`` is the ``upsampling`` it registers.
Name its layers ``mrcnn_mask_*`` so the ``heads`` training preset covers them.

As in detectron2's registry, the head owns its configuration, so adding one is one file
and :class:`~mrcnn.config.Config` knows nothing about it::

    import keras

    from mrcnn.heads.mask import check_positive_int, register_mask_head

    def validate_mine(config, fail):
        check_positive_int(config, "MINE_WIDTH", fail)

    @register_mask_head("mine", upsampling=2, settings={"MINE_WIDTH": 64},
                        validate=validate_mine, class_specific_layers=("mrcnn_mask_mine_out",))
    def build_mine(roi_features, config):
        x = keras.layers.Conv2DTranspose(config.MINE_WIDTH, 2, strides=2,
                                         name="mrcnn_mask_mine_up")(roi_features)
        return keras.layers.Conv2D(config.NUM_CLASSES, 1, name="mrcnn_mask_mine_out")(x)

then ``MASK_HEAD = "mine"`` in the config (import the file first). What registration
gives the head:

- ``settings``: config fields with their defaults. A config that does not set one reads
  the default (``config.MINE_WIDTH == 64``); a subclass overrides it the classic way
  (``MINE_WIDTH = 16``). Use immutable defaults (numbers, tuples); names are upper-case
  and must not be :class:`Config` fields or another head's settings with other defaults.
- ``validate(config, fail)``: called by ``Config.validate`` when the head is selected;
  ``fail(field, why)`` raises the ConfigError naming the field.
- ``upsampling``: ``MASK_SHAPE`` is derived as ``upsampling * MASK_POOL_SIZE`` (a config
  that sets it by hand is checked against it).
- ``class_specific_layers``: the head's layers whose shapes depend on NUM_CLASSES, left
  out when weights are loaded for other classes (:func:`mrcnn.migration.class_specific_layers`).
- ``presets``: ``{preset: {setting: value}}``, the head's values under a config preset
  (``Config.MASK_HEAD_PRESET``; :class:`~mrcnn.config.LightConfig` is ``"light"``, the
  narrow widths that train on a laptop CPU). A setting the config class does not set takes
  the preset's value, else the default.

A bare ``@register_mask_head("name")`` still works for a head without settings.

Built-in heads: ``fcn`` (``fcn.py``, the paper's), ``unet`` (``unet.py``) and ``fcn_deep``
(``fcn_matched.py``: an FCN at the U-Net's FLOPs per RoI, the comparison's control).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

# config.py imports this module only inside functions (to look heads up when validating).
from mrcnn.config import Config


@dataclass(frozen=True)
class MaskHeadSpec:
    """What a registered head brings: builder, upsampling, settings with their defaults,
    validation and the names of its class-specific (NUM_CLASSES-shaped) layers."""

    build: Callable
    upsampling: int = 2
    settings: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    validate: Callable | None = None
    class_specific_layers: tuple[str, ...] = ()
    presets: Mapping[str, Mapping[str, Any]] = field(default_factory=lambda: MappingProxyType({}))

    def output_size(self, pool_size: int) -> int:
        """Side of the masks predicted from ``pool_size`` x ``pool_size`` features."""
        return self.upsampling * int(pool_size)


MASK_HEADS: dict[str, MaskHeadSpec] = {}
# Fields Config.__init__ computes, which no head may register as its setting.
_DERIVED = ("MASK_SHAPE", "BATCH_SIZE", "IMAGE_SHAPE", "IMAGE_META_SIZE")


def register_mask_head(name: str, upsampling: int = 2,
                       settings: Mapping[str, Any] | None = None,
                       validate: Callable | None = None,
                       class_specific_layers: tuple[str, ...] | list[str] = (),
                       presets: Mapping[str, Mapping[str, Any]] | None = None) -> Callable:
    """Decorator registering a mask-head builder under ``name`` (see the module docstring)."""
    if not isinstance(upsampling, int) or isinstance(upsampling, bool) or upsampling < 1:
        raise ValueError(f"mask head {name!r}: upsampling must be a positive integer")
    settings = dict(settings or {})
    for key, default in settings.items():
        if not (isinstance(key, str) and key.isidentifier() and key.isupper()):
            raise ValueError(f"mask head {name!r}: setting {key!r} must be an upper-case "
                             "field name")
        if hasattr(Config, key) or key in _DERIVED:
            raise ValueError(f"mask head {name!r}: setting {key} is a Config field; "
                             "give the head's setting its own name")
        for other, spec in MASK_HEADS.items():
            if other != name and key in spec.settings and not _same(spec.settings[key], default):
                raise ValueError(f"mask head {name!r}: setting {key} is already the {other!r} "
                                 f"head's, with default {spec.settings[key]!r}")
    presets = {preset: MappingProxyType(dict(values))
               for preset, values in (presets or {}).items()}
    for preset, values in presets.items():
        unknown = sorted(set(values) - set(settings))
        if unknown:
            raise ValueError(f"mask head {name!r}: preset {preset!r} sets {unknown}, which "
                             "are not its settings")
    if isinstance(class_specific_layers, str):
        class_specific_layers = (class_specific_layers,)
    layers = tuple(class_specific_layers)

    def register(build: Callable) -> Callable:
        if name in MASK_HEADS and MASK_HEADS[name].build is not build:
            raise ValueError(f"a mask head named {name!r} is already registered")
        MASK_HEADS[name] = MaskHeadSpec(build, upsampling, MappingProxyType(settings),
                                        validate, layers, MappingProxyType(presets))
        return build

    return register


def _same(a, b) -> bool:
    try:
        return bool(np.array_equal(a, b)) if isinstance(a, np.ndarray) else bool(a == b)
    except (TypeError, ValueError):
        return a is b


def mask_head_settings(preset: str | None = None) -> dict[str, Any]:
    """``{field: default}`` of every registered head's settings (what Config fills in),
    with the values of the heads' ``preset`` where they have one."""
    defaults: dict[str, Any] = {}
    for spec in MASK_HEADS.values():
        defaults.update(spec.settings)
        defaults.update(spec.presets.get(preset, {}))
    return defaults


def mask_head_class_specific_layers() -> tuple[str, ...]:
    """Class-specific layer names of every registered head, in registration order."""
    return tuple(dict.fromkeys(n for spec in MASK_HEADS.values()
                               for n in spec.class_specific_layers))


def mask_head_output_size(name: str, pool_size: int) -> int:
    """Side of the masks the head ``name`` predicts from ``pool_size`` features."""
    return MASK_HEADS[name].output_size(pool_size)


def build_mask_head(roi_features, config):
    """Build the head ``config.MASK_HEAD`` on ``roi_features``."""
    return MASK_HEADS[config.MASK_HEAD].build(roi_features, config)


# Checks for heads' validate functions; ``fail(field, why)`` comes from Config.validate.
def check_positive_int(config, field: str, fail: Callable) -> None:
    """``config.<field>`` must be a positive integer."""
    value = getattr(config, field)
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
        fail(field, "must be a positive integer")


def check_widths(config, field: str, fail: Callable) -> None:
    """``config.<field>`` must be a non-empty sequence of positive widths."""
    widths = getattr(config, field)
    try:
        ok = len(widths) >= 1 and all(int(w) >= 1 for w in widths)
    except (TypeError, ValueError):
        ok = False
    if not ok:
        fail(field, "must be a non-empty sequence of positive widths")


# The built-in heads register themselves on import.
from mrcnn.heads.mask import (  # noqa: E402,F401
    fcn,
    fcn_matched,  # noqa: E402,F401  (the "fcn_deep" head)
    unet,
)
