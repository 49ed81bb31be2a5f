"""Penn-Fudan pedestrians: the sample's configuration and setting, and its data set,
registered as ``pennfudan`` in ``mrcnn.data.catalog``.

Data: the public data set ``pennfudan`` (``mrcnn.data.public``):
``<data root>/pennfudan/PennFudanPed/{PNGImages,PedMasks}`` (170 street photos, 423
pedestrians, one PNG label image per photo: 0 background, 1..N pedestrians; see its
readme.txt). The data root is ``--data DIR`` on the command line, else ``$MRCNN_DATA``,
else ``<repo>/../shared/data`` then ``~/.cache/mrcnn/data``; ``--download`` fetches the
data set from https://www.cis.upenn.edu/~jshi/ped_html/PennFudanPed.zip and checks the
extracted files.

Split (fixed, independent of the seed): the 170 images sorted by file name
(``FudanPed00001`` .. ``FudanPed00074``, ``PennPed00001`` .. ``PennPed00096``); the
**last 50** (``PennPed00047`` .. ``PennPed00096``) are held out for evaluation, the first
120 train. Images are cached in memory at their original size (at most 1017 px wide);
evaluation is at the original resolution.
"""

from __future__ import annotations

from mrcnn.data.catalog import SpecData, register_dataset
from mrcnn.presets import RealDataConfig

# The sample's setting (train.py, levers.py): options of mrcnn.experiments.compare. Judged by
# levers.py on 2026-11-30 (FCN, 3 seeds): Simple Copy-Paste on half the samples, +0.054 ± 0.012
# mask AP; then 30 epochs instead of 20, +0.025 ± 0.007 (AP75 +0.069 ± 0.010) in 21-22 minutes.
DEFAULT_ARGS = ["--seeds", "1", "--image-size", "256", "--epochs", "30",
                "--steps-per-epoch", "100", "--copy-paste", "0.5"]


class PennFudanConfig(RealDataConfig):
    """From scratch on 2 CPU cores: the real-photo preset (256 px squares, anchors
    16-256 px, flips and mild jitter; the sample adds Copy-Paste) with tall anchors
    (pedestrian boxes are ~0.37 as wide as high; at 256 px their size is 33-135 px)."""

    NAME = "pennfudan"
    NUM_CLASSES = 1 + 1
    RPN_ANCHOR_RATIOS = [0.25, 0.5, 1]
    # A photo has at most 8 pedestrians; Copy-Paste adds another photo's (beyond this the
    # ground truth is subsampled, and the objects left out would count as background).
    MAX_GT_INSTANCES = 20
    DETECTION_MAX_INSTANCES = 20


# The comparison's data: the public set's fixed split (at most --train-images /
# --val-images images of each part), trained with PennFudanConfig at --image-size.
pennfudan_experiment = register_dataset(
    "pennfudan", SpecData("pennfudan", config_class=PennFudanConfig, caps=True, check="off"),
    replace=True)
