"""Mixed precision: which layers compute in a reduced float type, and which stay float32.

``Config.DTYPE_POLICY`` names a Keras dtype policy. Under ``"mixed_float16"`` or
``"mixed_bfloat16"`` the convolutional and dense layers of the backbone, FPN and heads
compute in 16 bits with float32 variables; everything that handles box coordinates,
anchors, NMS, targets, RoIAlign sampling positions and losses computes in float32
(:class:`Float32Layer`), and so do the heads' output layers (:data:`OUTPUT_DTYPE`), so
scores, deltas and mask probabilities leave the network in float32. ``"mixed_float16"``
training scales the loss (``keras.optimizers.LossScaleOptimizer``) so small gradients
do not underflow; bfloat16 has float32's exponent range and needs no scaling.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import keras

POLICIES = ("float32", "mixed_float16", "mixed_bfloat16")

OUTPUT_DTYPE = "float32"
"""dtype of the heads' output layers (logits, probabilities, box deltas, masks)."""


class Float32Layer(keras.layers.Layer):
    """A layer that computes in float32 whatever the policy it is built under: box
    coding, anchors, proposals, targets, RoIAlign, detection and losses. Keras casts its
    float inputs to float32 on the way in."""

    def __init__(self, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)


@contextlib.contextmanager
def dtype_policy(name: str) -> Iterator[None]:
    """Layers created inside take the policy ``name``; the previous global policy comes
    back afterwards, so building one mixed-precision model leaves other models (and a
    notebook's later cells) in float32."""
    if name not in POLICIES:
        raise ValueError(f"dtype policy must be one of {POLICIES}, got {name!r}")
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def training_optimizer(optimizer: keras.optimizers.Optimizer,
                       policy: str) -> keras.optimizers.Optimizer:
    """``optimizer`` wrapped in a dynamic ``LossScaleOptimizer`` under ``mixed_float16``;
    unchanged otherwise."""
    if policy == "mixed_float16":
        return keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer
