"""Fixtures: a fixed random seed for every test, no network, a small shapes data set; and the
``needs_data`` marker: a test of a real data set skips where ``../shared/data`` is absent
and fails where it is present but lacks that set (CI has it: a missing copy is an error,
not a silent skip)."""

from __future__ import annotations

import keras
import pytest

import mrcnn.download
from mrcnn.data import ShapesDataset
from tests.helpers import SHARED_DATA, TEST_SEED, NetworkUsed


def pytest_runtest_setup(item):
    for marker in item.iter_markers(name="needs_data"):
        for name in marker.args:
            if not SHARED_DATA.is_dir():
                pytest.skip(f"needs the {name} data set: {SHARED_DATA} does not exist")
            if not (SHARED_DATA / name).exists():
                pytest.fail(f"needs the {name} data set at {SHARED_DATA / name}, which "
                            f"{SHARED_DATA} lacks")


@pytest.fixture(autouse=True)
def seeded():
    """Python, numpy, TensorFlow and Keras draw the same numbers in every run of a test:
    weights, random sampling of anchors and RoIs, and shuffling repeat whatever ran
    before it and however busy the machine is."""
    keras.utils.set_random_seed(TEST_SEED)


@pytest.fixture
def no_network(monkeypatch):
    """Any connection check or transfer fails the test."""
    def refuse(*args, **kwargs):
        raise NetworkUsed(f"network used: {args}")

    monkeypatch.setattr(mrcnn.download, "check_reachable", refuse)
    monkeypatch.setattr(mrcnn.download, "_get_file", refuse)


@pytest.fixture(scope="session")
def shapes64() -> ShapesDataset:
    dataset = ShapesDataset()
    dataset.load_shapes(16, 64, 64, seed=3)
    dataset.prepare()
    return dataset
