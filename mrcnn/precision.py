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
import functools
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


@functools.cache
def bf16_matrix_units() -> bool:
    """Whether this machine computes with a CPU that has bfloat16 dot-product units
    (AVX512_BF16 or AMX-BF16 in ``/proc/cpuinfo``) and TensorFlow sees no GPU."""
    import tensorflow as tf

    if tf.config.list_physical_devices("GPU"):
        return False
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            flags = next((line.split(":", 1)[1].split() for line in cpuinfo
                          if line.startswith("flags")), [])
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def inference_policy(config) -> str:
    """The dtype policy inference models of ``config`` are built under.

    ``Config.DTYPE_POLICY``, except that a float32 config with
    ``AUTO_BFLOAT16_INFERENCE`` computes in ``"mixed_bfloat16"`` on a CPU with bfloat16
    units (:func:`bf16_matrix_units`; about 1.7x faster there with the same AP, see
    ``bench/README.md``).
    """
    if (config.DTYPE_POLICY == "float32" and config.AUTO_BFLOAT16_INFERENCE
            and bf16_matrix_units()):
        return "mixed_bfloat16"
    return config.DTYPE_POLICY
