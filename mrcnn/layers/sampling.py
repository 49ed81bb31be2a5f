"""Batched random subsampling of flagged elements without Python loops."""

from __future__ import annotations

import tensorflow as tf


def random_subset(flags: tf.Tensor, max_count: tf.Tensor, seed: int | None = None) -> tf.Tensor:
    """Keep at most ``max_count`` randomly chosen True entries per row of ``flags`` ``[B, N]``.

    ``max_count`` is a scalar or ``[B]``. Returns a bool ``[B, N]`` subset of ``flags``.
    """
    keys = tf.where(flags, tf.random.uniform(tf.shape(flags), seed=seed), -1.0)
    # Rank of every element by its random key, among all elements of its row.
    order = tf.argsort(keys, axis=-1, direction="DESCENDING")
    ranks = tf.argsort(order, axis=-1)
    max_count = tf.reshape(tf.cast(max_count, ranks.dtype), [-1, 1])
    return flags & (ranks < max_count)
