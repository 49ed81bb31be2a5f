"""Balloons (matterport's "Splash of Color" sample): the sample's configuration, and its
data set, registered as ``balloon`` in ``mrcnn.data.catalog``.

Data: the public data set ``balloon`` (``mrcnn.data.public``):
``<data root>/balloon/balloon/{train,val}/`` (61 + 13 Flickr photos, 255 + 50 balloons as
VIA 1.x polygons in ``via_region_data.json``; see matterport's "Splash of Color" release).
The data root is ``--data DIR`` on the command line, else ``$MRCNN_DATA``, else
``<repo>/../shared/data`` then ``~/.cache/mrcnn/data``; ``--download`` fetches
``balloon_dataset.zip`` from matterport's v2.1 release and checks the extracted files.

Split: the data set's own ``train`` (61 images) and ``val`` (13 images, held out). The
photos are up to 2048 px; they are cached in memory with the longer side at most 1024 px
(``CachedDataset``), so decoding and polygon filling happen once, and evaluation is at
that resolution.
"""

from __future__ import annotations

from mrcnn.data.catalog import SpecData, register_dataset
from mrcnn.presets import RealDataConfig


class BalloonConfig(RealDataConfig):
    """From scratch on 2 CPU cores: the real-photo preset (256 px squares, anchors
    16-256 px: balloons are ~square, 12-100 px at 256 px, flips and mild jitter) with up
    to 40 balloons an image."""

    NAME = "balloon"
    NUM_CLASSES = 1 + 1
    MAX_GT_INSTANCES = 40
    DETECTION_MAX_INSTANCES = 50
    VALIDATION_STEPS = 3


# The comparison's data: the public set's train/ and val/ (at most --train-images /
# --val-images images of each), trained with BalloonConfig at --image-size.
balloon_experiment = register_dataset(
    "balloon", SpecData("balloon", config_class=BalloonConfig, caps=True, check="off"),
    replace=True)
