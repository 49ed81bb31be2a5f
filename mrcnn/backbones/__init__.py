"""Backbones (name -> builder) and the feature pyramid network."""

from mrcnn.backbones.fpn import build_fpn
from mrcnn.backbones.resnet import BACKBONES, build_backbone

__all__ = ["BACKBONES", "build_backbone", "build_fpn"]
