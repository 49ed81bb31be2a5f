"""Train Mask R-CNN from scratch on the balloon data set and compare the mask heads.

    python samples/balloon/train.py --heads fcn unet --epochs 20

Trains each head on the 61 training photos (same data order, augmentation and
initialisation for every head), evaluates on the 13 ``val`` photos and prints the
comparison table (COCO mask AP/AP50/AP75/AP90, box AP, Boundary IoU, VOC mAP@0.5,
parameters, time). Defaults: one seed, 256 px, 100 steps of 4 images an epoch; every
option of ``python -m mrcnn.experiments.compare`` applies. Results go to ``results/balloon/``,
checkpoints and TensorBoard logs to ``logs/``.

Data: ``--data DIR`` (a folder holding ``balloon/balloon/{train,val}``, or the folder with
``train/`` and ``val/`` itself), else ``$MRCNN_DATA``, else ``<repo>/../shared/data`` then
``~/.cache/mrcnn/data``. ``--download`` fetches ``balloon_dataset.zip`` (matterport's v2.1
release) if it is missing, checks the extracted files and puts them in ``--data DIR`` /
``$MRCNN_DATA`` / ``~/.cache/mrcnn/data``::

    python samples/balloon/train.py --download --heads fcn unet

Measured results are in samples/README.md: the 3-seed verdict (FCN mask AP 0.291 ± 0.017,
U-Net 0.273 ± 0.003; FCN epochs of 39-41 s, U-Net 64-82 s on the project's 2-core CPU), the
per-seed paired differences, and the single-seed runs before the geometry fix.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ start-up logs quiet
sys.path.insert(0, str(Path(__file__).resolve().parent))  # this sample's module
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # samples/samples_common.py

import balloon  # noqa: E402, F401  (registers "balloon")
from samples_common import run_sample  # noqa: E402

DEFAULTS = ["--seeds", "1", "--image-size", "256", "--epochs", "20", "--steps-per-epoch", "100"]


def main(argv=None):
    return run_sample("balloon", DEFAULTS, argv)


if __name__ == "__main__":
    main()
