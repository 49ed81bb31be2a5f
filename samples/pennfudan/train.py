"""Train Mask R-CNN from scratch on Penn-Fudan pedestrians and compare the mask heads.

    python samples/pennfudan/train.py --heads fcn unet

Trains each head on the 120 training images (same data order, augmentation and
initialisation for every head), evaluates on the 50 held-out images (the last 50 by file
name, see pennfudan.py) and prints the comparison table (COCO mask AP/AP50/AP75/AP90, box
AP, Boundary IoU, VOC mAP@0.5, parameters, time). Defaults: one seed, 256 px, 30 epochs of
100 steps of 4 images (``--epochs 20`` is the schedule of the head verdicts), Simple
Copy-Paste on half the samples (``--copy-paste 0`` turns it off); every option of
``python -m mrcnn.experiments.compare`` applies. Results go to ``results/pennfudan/``, checkpoints
and
TensorBoard logs to ``logs/``.

Data: ``--data DIR`` (a folder holding ``pennfudan/PennFudanPed``, or ``PennFudanPed``
itself), else ``$MRCNN_DATA``, else ``<repo>/../shared/data`` then ``~/.cache/mrcnn/data``.
``--download`` fetches it (54 MB) from https://www.cis.upenn.edu/~jshi/ped_html/ if it is
missing, checks the extracted files and puts them in ``--data DIR`` / ``$MRCNN_DATA`` /
``~/.cache/mrcnn/data``::

    python samples/pennfudan/train.py --download --heads fcn unet

Measured results (3-seed verdict, per-seed paired differences, times, and the
classic-geometry run before it) are in samples/README.md; ``--resume`` continues an
interrupted multi-seed run, and ``--heads fcn unet fcn_deep`` adds the FLOP-matched control.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ start-up logs quiet
sys.path.insert(0, str(Path(__file__).resolve().parent))  # this sample's module
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # samples/samples_common.py

from pennfudan import DEFAULT_ARGS  # noqa: E402  (registers "pennfudan")
from samples_common import run_sample  # noqa: E402


def main(argv=None):
    return run_sample("pennfudan", DEFAULT_ARGS, argv)


if __name__ == "__main__":
    main()
