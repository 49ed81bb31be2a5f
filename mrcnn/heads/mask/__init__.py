"""Mask-head registry.

A mask head is a builder ``fn(roi_features, config) -> masks`` taking RoIAlign features
``[N, MASK_POOL_SIZE, MASK_POOL_SIZE, D]`` and returning per-class mask logits
``[N, s * MASK_POOL_SIZE, s * MASK_POOL_SIZE, NUM_CLASSES]`` (no sigmoid: the loss takes
logits, inference applies the sigmoid), where ``s`` is the ``upsampling`` it registers.
Name its layers ``mrcnn_mask_*`` so the ``heads`` training preset covers them. Adding a
head is one file::

    @register_mask_head("mine", upsampling=2)
    def build_mine(roi_features, config): ...

then ``MASK_HEAD = "mine"`` in the config (import the file first).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class MaskHeadSpec:
    build: Callable
    upsampling: int


MASK_HEADS: dict[str, MaskHeadSpec] = {}


def register_mask_head(name: str, upsampling: int = 2) -> Callable:
    """Decorator registering a mask-head builder under ``name``."""

    def register(build: Callable) -> Callable:
        if name in MASK_HEADS and MASK_HEADS[name].build is not build:
            raise ValueError(f"a mask head named {name!r} is already registered")
        MASK_HEADS[name] = MaskHeadSpec(build, upsampling)
        return build

    return register


def mask_head_output_size(name: str, pool_size: int) -> int:
    """Side of the masks the head ``name`` predicts from ``pool_size`` features."""
    return MASK_HEADS[name].upsampling * pool_size


def build_mask_head(roi_features, config):
    """Build the head ``config.MASK_HEAD`` on ``roi_features``."""
    return MASK_HEADS[config.MASK_HEAD].build(roi_features, config)


# The built-in heads register themselves on import.
from mrcnn.heads.mask import fcn, unet  # noqa: E402,F401
