"""The mask-head registry (see :mod:`mrcnn.heads.mask`): what a head registers, the
lookups the config and graph make, and checks for heads' ``validate`` functions. It
imports no head and no config."""


from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np


@dataclass(frozen=True)
class MaskHeadSpec:
    """What a registered head brings: builder, the upsampling factors it can predict at
    (the first is its default), settings with their defaults, validation, the names of its
    class-specific (NUM_CLASSES-shaped) layers, and the factors at which it also takes
    fine features (a ``2 * MASK_POOL_SIZE`` RoIAlign of P2)."""

    build: Callable
    upsampling: tuple[int, ...] = (2,)
    settings: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    validate: Callable | None = None
    class_specific_layers: tuple[str, ...] = ()
    presets: Mapping[str, Mapping[str, Any]] = field(default_factory=lambda: MappingProxyType({}))
    fine_features: tuple[int, ...] = ()

    def output_size(self, pool_size: int, upsampling: int | None = None) -> int:
        """Side of the masks predicted from ``pool_size`` x ``pool_size`` features at
        ``upsampling`` (None: the head's default)."""
        return int(upsampling or self.upsampling[0]) * int(pool_size)


MASK_HEADS: dict[str, MaskHeadSpec] = {}


def register_mask_head(name: str, upsampling: int | tuple[int, ...] = 2,
                       settings: Mapping[str, Any] | None = None,
                       validate: Callable | None = None,
                       class_specific_layers: tuple[str, ...] | list[str] = (),
                       presets: Mapping[str, Mapping[str, Any]] | None = None,
                       fine_features: tuple[int, ...] = ()) -> Callable:
    """Decorator registering a mask-head builder under ``name`` (see the module docstring)."""
    factors = (upsampling,) if isinstance(upsampling, int) else tuple(upsampling)
    if not factors or not all(isinstance(f, int) and not isinstance(f, bool) and f >= 1
                              for f in factors):
        raise ValueError(f"mask head {name!r}: upsampling must be a positive integer or a "
                         "tuple of them")
    if not set(fine_features) <= set(factors):
        raise ValueError(f"mask head {name!r}: fine_features {tuple(fine_features)} must be "
                         f"among its upsampling factors {factors}")
    settings = dict(settings or {})
    for key, default in settings.items():
        if not (isinstance(key, str) and key.isidentifier() and key.isupper()):
            raise ValueError(f"mask head {name!r}: setting {key!r} must be an upper-case "
                             "field name")
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
        MASK_HEADS[name] = MaskHeadSpec(build, factors, MappingProxyType(settings),
                                        validate, layers, MappingProxyType(presets),
                                        tuple(fine_features))
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


def check_heads(heads) -> None:
    """Raise before anything trains when a head is not registered (or listed twice)."""
    unknown = [h for h in heads if h not in MASK_HEADS]
    if unknown:
        raise ValueError(f"unknown mask head(s) {unknown}; registered: {sorted(MASK_HEADS)} "
                         "(import the module that registers a custom head first)")
    if len(set(heads)) != len(heads):
        raise ValueError(f"a head is listed twice in {list(heads)}")


def takes_fine_features(config) -> bool:
    """Whether ``config.MASK_HEAD`` at ``config.MASK_UPSAMPLING`` takes fine features."""
    spec = MASK_HEADS[config.MASK_HEAD]
    return mask_upsampling(config) in spec.fine_features


def mask_upsampling(config) -> int:
    """The upsampling ``config``'s mask head predicts at: ``MASK_UPSAMPLING`` or the
    head's default."""
    return int(config.MASK_UPSAMPLING or MASK_HEADS[config.MASK_HEAD].upsampling[0])


def build_mask_head(roi_features, config, fine_features=None):
    """Build the head ``config.MASK_HEAD`` on ``roi_features``; ``fine_features``
    ``[N, 2 * MASK_POOL_SIZE, 2 * MASK_POOL_SIZE, D]`` goes to a head that takes them
    (:func:`takes_fine_features`) and must be given to it."""
    spec = MASK_HEADS[config.MASK_HEAD]
    if not takes_fine_features(config):
        return spec.build(roi_features, config)
    if fine_features is None:
        raise ValueError(f"the {config.MASK_HEAD!r} head at upsampling "
                         f"{mask_upsampling(config)} takes fine features (a RoIAlign of P2)")
    return spec.build(roi_features, config, fine_features=fine_features)


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
