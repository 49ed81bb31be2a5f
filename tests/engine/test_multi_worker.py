"""Pieces of multi-worker training that run in one process: each worker's share of the
input, and the digest that tells whether workers hold the same weights. The two-process
cluster itself is in tests/reliability/test_distribute.py."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from mrcnn.data import ShapesDataset
from mrcnn.engine.input_pipeline import build_dataset
from mrcnn.engine.multi_worker import weights_fingerprint
from tests.helpers import tiny_config


def _drawing_augmentation(draws: list):
    """Record each sample's first augmentation draw, keyed by image id in the caller."""

    def augment(image, masks, rng):
        draws.append(float(rng.random()))
        return image, masks

    return augment


def _image_ids(dataset) -> list[int]:
    return [int(batch["input_image_meta"][0, 0]) for batch in dataset]


def test_shards_split_images_and_augmentation_draws_between_workers():
    """Worker i of n reads the images at positions i, i + n, ... only, and the shards
    together draw exactly the augmentations of the one-worker stream."""
    dataset = ShapesDataset()
    dataset.load_shapes(5, 64, 64, seed=2)
    dataset.prepare()
    config = tiny_config()
    seen, draws = {}, {}
    for shard in ((1, 0), (2, 0), (2, 1)):
        draws[shard] = []
        data = build_dataset(dataset, config, shuffle=True, seed=7, repeat=False, shard=shard,
                             batch_size=1, augmentation=_drawing_augmentation(draws[shard]))
        seen[shard] = _image_ids(data)
    assert sorted(seen[(1, 0)]) == [0, 1, 2, 3, 4]
    assert sorted(seen[(2, 0)]) == [0, 2, 4] and sorted(seen[(2, 1)]) == [1, 3]
    expected = sorted(np.random.default_rng([7, k]).random() for k in range(5))
    assert sorted(draws[(1, 0)]) == expected
    assert sorted(draws[(2, 0)] + draws[(2, 1)]) == expected


def test_more_workers_than_images_is_a_clear_error():
    dataset = ShapesDataset()
    dataset.load_shapes(2, 64, 64, seed=2)
    dataset.prepare()
    for worker in range(3):  # every worker says so: none is left waiting for the others
        with pytest.raises(ValueError, match="fewer than the 3 workers"):
            build_dataset(dataset, tiny_config(), shard=(3, worker))


def np_fingerprint(arrays) -> int:
    """Twin of the digest: sum over tensors of (position + 1) x the sum of their float32
    bit patterns read as int32, in wrapping int64 arithmetic."""
    total = np.int64(0)
    with np.errstate(over="ignore"):
        for index, array in enumerate(arrays):
            bits = np.ascontiguousarray(array, np.float32).view(np.int32).astype(np.int64)
            total += bits.sum() * np.int64(index + 1)
    return int(total)


def test_weights_fingerprint_matches_twin_and_sees_one_ulp():
    rng = np.random.default_rng(0)
    arrays = [rng.normal(size=shape).astype(np.float32) for shape in ((3, 3, 8, 16), (16,), (7,))]
    variables = [tf.Variable(a) for a in arrays]
    assert int(weights_fingerprint(variables)) == np_fingerprint(arrays)
    # Swapping two tensors of the same size, or moving one value by one ulp, changes it.
    nudged = arrays[2].copy()
    nudged[3] = np.nextafter(nudged[3], np.float32(np.inf))
    variables[2].assign(nudged)
    assert int(weights_fingerprint(variables)) != np_fingerprint(arrays)
    swapped = [tf.Variable(arrays[0]), tf.Variable(arrays[2]), tf.Variable(arrays[1][:7])]
    plain = [tf.Variable(arrays[0]), tf.Variable(arrays[1][:7]), tf.Variable(arrays[2])]
    assert int(weights_fingerprint(swapped)) != int(weights_fingerprint(plain))
