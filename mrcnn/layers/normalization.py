"""The normalisation after each conv of the backbone, the FPN and the heads (``Config.NORM``).

- ``"batch"``, the classic layout: BatchNorm in the backbone and the box and mask heads
  (``TRAIN_BN`` decides whether it uses batch statistics), none in the FPN, so classic
  weights load.
- ``"group"``: GroupNorm (Wu & He, 2018) after the convs of the backbone, the FPN and the
  mask heads; the box head's two fc layers go unnormalised (see :mod:`mrcnn.heads.box`).
  It normalises each image (each RoI in the heads) over groups of channels, so it needs
  no batch statistics and computes the same in training and inference. He et al.,
  *Rethinking ImageNet Pre-training* (2019), train detectors from random initialisation
  with it at a few images a batch.

A GroupNorm layer is named as its BatchNorm would be with the first ``bn`` read ``gn``
(``bn2a_branch2a`` -> ``gn2a_branch2a``, ``mrcnn_mask_bn1`` -> ``mrcnn_mask_gn1``), so
loading a checkpoint of one kind into the other reports every norm layer as missing
instead of filling it with weights of another meaning.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras

from mrcnn.layers.batch_norm import BatchNorm

NORMS = ("batch", "group")


def group_count(channels: int, groups: int) -> int:
    """The largest divisor of ``channels`` that is at most ``groups``: the classic 32
    groups where they divide the width, fewer on the light preset's narrow layers."""
    return max(g for g in range(1, min(groups, channels) + 1) if channels % g == 0)


@dataclass(frozen=True)
class Norm:
    """Applies the configured normalisation: ``norm(x, "mrcnn_mask_bn1")``."""

    kind: str = "batch"
    train_bn: bool | None = False  # BatchNorm only, see BatchNorm
    groups: int = 32  # GroupNorm only: at most this many groups a layer

    @classmethod
    def of(cls, config) -> Norm:
        return cls(config.NORM, config.TRAIN_BN, config.GROUP_NORM_GROUPS)

    def __call__(self, x, name: str):
        """``x`` ``[..., C]`` normalised; ``name`` is the layer's BatchNorm name."""
        if self.kind == "batch":
            return BatchNorm(self.train_bn, name=name)(x)
        name = name.replace("bn", "gn", 1)
        if x.shape[-1] is None:
            raise ValueError(f"GroupNorm {name!r}: the channel count of its input "
                             f"{tuple(x.shape)} must be known to choose its groups")
        return keras.layers.GroupNormalization(group_count(int(x.shape[-1]), self.groups),
                                               epsilon=1e-5, name=name)(x)
