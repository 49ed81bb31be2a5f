"""Penn-Fudan pedestrians: data set, split, configuration and experiment.

Data: ``<data root>/pennfudan/PennFudanPed/{PNGImages,PedMasks}`` (170 street photos,
423 pedestrians, one PNG label image per photo: 0 background, 1..N pedestrians; see
its readme.txt). The data root is ``--data DIR`` on the command line, else ``$MRCNN_DATA``,
else ``<repo>/../shared/data`` then ``~/.cache/mrcnn/data``; ``--download`` fetches the
data set from https://www.cis.upenn.edu/~jshi/ped_html/PennFudanPed.zip and checks the
extracted files (see samples_common.py).

Split (fixed, independent of the seed): the 170 images sorted by file name
(``FudanPed00001`` .. ``FudanPed00074``, ``PennPed00001`` .. ``PennPed00096``); the
**last 50** (``PennPed00047`` .. ``PennPed00096``) are held out for evaluation, the first
120 train. Images are cached in memory at their original size (at most 1017 px wide);
evaluation is at the original resolution.
"""

from __future__ import annotations

import sys
from pathlib import Path

_SAMPLES = str(Path(__file__).resolve().parents[1])
if _SAMPLES not in sys.path:
    sys.path.insert(0, _SAMPLES)  # for samples/samples_common.py

from samples_common import dataset_dir  # noqa: E402

from mrcnn.data import CachedDataset, LabelImageDataset  # noqa: E402
from mrcnn.presets import RealDataConfig  # noqa: E402

HELD_OUT = 50
# The sample's setting (train.py, levers.py): options of mrcnn.experiments.compare. Judged by
# levers.py on 2026-11-30 (FCN, 3 seeds): Simple Copy-Paste on half the samples, +0.054 ± 0.012 mask
# AP; then 30 epochs instead of 20, +0.025 ± 0.007 (AP75 +0.069 ± 0.010) in 21-22 minutes.
DEFAULT_ARGS = ["--seeds", "1", "--image-size", "256", "--epochs", "30",
                "--steps-per-epoch", "100", "--copy-paste", "0.5"]


def pennfudan_dir() -> Path:
    """The ``PennFudanPed`` folder, or DataNotFound saying where it was looked for."""
    return dataset_dir("pennfudan")


def split_files(root: Path | None = None) -> dict[str, list[tuple[Path, Path]]]:
    """``{"train": [(image, label image)] * 120, "val": [...] * 50}`` (see the docstring)."""
    root = pennfudan_dir() if root is None else Path(root)
    images = sorted((root / "PNGImages").glob("*.png"))
    if not images:
        raise FileNotFoundError(f"no PNG images in {root / 'PNGImages'}")
    pairs = [(image, root / "PedMasks" / f"{image.stem}_mask.png") for image in images]
    if len(pairs) <= HELD_OUT:
        raise ValueError(f"{root}: {len(pairs)} images; need more than {HELD_OUT}")
    return {"train": pairs[:-HELD_OUT], "val": pairs[-HELD_OUT:]}


def load_pennfudan(subset: str, root: Path | None = None, limit: int | None = None,
                   cache: bool = True):
    """The prepared ``subset`` ("train" or "val") as a LabelImageDataset, wrapped in an
    in-memory CachedDataset unless ``cache`` is False; ``limit``: the first N images."""
    pairs = split_files(root)[subset][:limit]
    dataset = LabelImageDataset()
    dataset.load_label_images([p for p, _ in pairs], [q for _, q in pairs],
                              class_name="pedestrian", source="pennfudan")
    dataset.prepare()
    return CachedDataset(dataset) if cache else dataset


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


def pennfudan_experiment(settings, seed: int):
    """``(config class, train set, held-out set)`` for ``mrcnn.experiments.compare`` (the fixed
    split
    above; ``settings.image_size``, ``steps_per_epoch``, ``train_images`` and
    ``val_images`` (caps) apply)."""
    size = settings.image_size

    class Config(PennFudanConfig):
        IMAGE_MIN_DIM = size
        IMAGE_MAX_DIM = size
        STEPS_PER_EPOCH = settings.steps_per_epoch

    train_set = load_pennfudan("train", limit=settings.train_images)
    val_set = load_pennfudan("val", limit=settings.val_images)
    return Config, train_set, val_set
