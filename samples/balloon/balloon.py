"""Balloons (matterport's "Splash of Color" sample): data set, configuration, experiment.

Data: ``<data root>/balloon/balloon/{train,val}/`` (61 + 13 Flickr photos, 255 + 50
balloons as VIA 1.x polygons in ``via_region_data.json``; see
matterport's "Splash of Color" release). The data root is ``--data DIR`` on the command
line, else ``$MRCNN_DATA``, else ``<repo>/../shared/data`` then ``~/.cache/mrcnn/data``;
``--download`` fetches ``balloon_dataset.zip`` from matterport's v2.1 release and checks
the extracted files (see samples_common.py).

Split: the data set's own ``train`` (61 images) and ``val`` (13 images, held out). The
photos are up to 2048 px; they are cached in memory with the longer side at most 1024 px
(``CachedDataset``), so decoding and polygon filling happen once, and evaluation is at
that resolution.
"""

from __future__ import annotations

import sys
from pathlib import Path

_SAMPLES = str(Path(__file__).resolve().parents[1])
if _SAMPLES not in sys.path:
    sys.path.insert(0, _SAMPLES)  # for samples/samples_common.py

from samples_common import dataset_dir  # noqa: E402

from mrcnn.data import CachedDataset, ViaDataset  # noqa: E402
from mrcnn.presets import RealDataConfig  # noqa: E402

CACHE_MAX_DIM = 1024


def balloon_dir() -> Path:
    """The folder holding ``train/`` and ``val/``, or DataNotFound."""
    return dataset_dir("balloon")


def load_balloon(subset: str, root: Path | None = None, limit: int | None = None,
                 cache_max_dim: int | None = CACHE_MAX_DIM):
    """The prepared ``subset`` ("train" or "val"), one class "balloon", wrapped in an
    in-memory CachedDataset (longer side <= ``cache_max_dim``; None: no cache);
    ``limit``: the first N images of the json."""
    if subset not in ("train", "val"):
        raise ValueError(f"subset must be 'train' or 'val', got {subset!r}")
    folder = (balloon_dir() if root is None else Path(root)) / subset
    dataset = ViaDataset()
    dataset.load_via(folder / "via_region_data.json", folder, class_names=["balloon"],
                     source="balloon")
    if limit is not None:
        dataset.image_info = dataset.image_info[:limit]
    dataset.prepare()
    return CachedDataset(dataset, max_dim=cache_max_dim) if cache_max_dim else dataset


class BalloonConfig(RealDataConfig):
    """From scratch on 2 CPU cores: the real-photo preset (256 px squares, anchors
    16-256 px: balloons are ~square, 12-100 px at 256 px, flips and mild jitter) with up
    to 40 balloons an image."""

    NAME = "balloon"
    NUM_CLASSES = 1 + 1
    MAX_GT_INSTANCES = 40
    DETECTION_MAX_INSTANCES = 50
    VALIDATION_STEPS = 3


def balloon_experiment(settings, seed: int):
    """``(config class, train set, held-out set)`` for ``mrcnn.experiments.compare``
    (``settings.image_size``, ``steps_per_epoch``, ``train_images``, ``val_images`` apply)."""
    size = settings.image_size

    class Config(BalloonConfig):
        IMAGE_MIN_DIM = size
        IMAGE_MAX_DIM = size
        STEPS_PER_EPOCH = settings.steps_per_epoch

    return (Config, load_balloon("train", limit=settings.train_images),
            load_balloon("val", limit=settings.val_images))
