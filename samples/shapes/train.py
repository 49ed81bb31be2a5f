"""Train Mask R-CNN from scratch on the synthetic shapes data and compare the mask heads.

    python samples/shapes/train.py --heads fcn unet

Trains each head on freshly generated 128x128 shapes images (same data order and
initialisation for every head), evaluates on 50 held-out images and prints the table:
VOC-style mask mAP@0.5 (the classic shapes figure), COCO mask AP/AP50/AP75/AP90, Boundary
IoU, parameters, training time and ms/image, plus the wall time. One seed by default;
every option of ``python -m mrcnn.experiments.compare`` applies (``--seeds 3`` for mean ± std).
Results go to ``results/shapes/``, checkpoints and TensorBoard logs to ``logs/``.
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ start-up logs quiet

from mrcnn.experiments.compare import main  # noqa: E402

if __name__ == "__main__":
    main(["--dataset", "shapes", "--seeds", "1", *sys.argv[1:]])
