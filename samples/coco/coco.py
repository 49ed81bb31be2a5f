"""COCO-format data: the sample's configurations, and its data set as a data spec.

Any data set in the COCO instances format works: MS-COCO 2017 itself
(``annotations/instances_train2017.json`` + ``train2017/``) or a user's own export from a
labelling tool. Category ids need not be contiguous (COCO's run 1..90 with gaps): they
become internal class ids 1..N in the order of the ids, and go back to the file's ids
when results are exported (:func:`mrcnn.data.export_detections`).

Crowd regions (``iscrowd: 1``) never become training targets; in the held-out set they
are ignore regions, so a detection on a crowd is neither a true nor a false positive in
the COCO evaluation.

Where a real COCO file for tests lives: ``<data root>/coco/annotations/instances_*.json``
(the data root is ``$MRCNN_DATA`` or ``<repo>/../shared/data``); see ``real_coco_files``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from mrcnn.config import Config
from mrcnn.data.catalog import SpecData
from mrcnn.data.public import data_root
from mrcnn.presets import RealDataConfig


def real_coco_files() -> list[Path]:
    """The COCO annotation files under ``<data root>/coco/annotations/`` (may be none)."""
    return sorted((data_root() / "coco" / "annotations").glob("instances_*.json"))


class CocoConfig(Config):
    """The classic MS-COCO training configuration (ResNet-101-FPN, 1024 px, 2 images per
    GPU, 80 classes): for a GPU, or for fine-tuning from migrated classic weights."""

    NAME = "coco"
    IMAGES_PER_GPU = 2
    NUM_CLASSES = 1 + 80


class CocoLightConfig(RealDataConfig):
    """From scratch on a CPU: the real-photo preset (256 px squares, anchors 16-256 px,
    flips and mild scale/photometric jitter) with 80 classes and up to 100 objects an
    image (COCO's most crowded images hold about 90)."""

    NAME = "coco_light"
    NUM_CLASSES = 1 + 80
    MAX_GT_INSTANCES = 100
    DETECTION_MAX_INSTANCES = 100


PRESETS = {"light": CocoLightConfig, "classic": CocoConfig}


def coco_experiment(train_json: str | Path, train_dir: str | Path,
                    val_json: str | Path | None = None, val_dir: str | Path | None = None,
                    classes: Sequence[str] | None = None, holdout: int = 50,
                    preset: str = "light", missing: str = "error") -> SpecData:
    """The sample's data set for ``mrcnn.data.catalog``: the spec
    ``coco:TRAIN_JSON:TRAIN_DIR``, held out by ``val_json`` (images in ``val_dir``) or,
    without one, by its ``holdout`` images with the largest ids (fixed across seeds).
    ``classes``: category names to keep (default: all; only images holding one are kept);
    ``missing``: images absent from disk, "error" or "skip". ``settings.train_images`` and
    ``val_images`` cap each part (its first images by id); the config is ``preset``'s with
    the data's classes.
    """
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {sorted(PRESETS)}, got {preset!r}")
    val = None if val_json is None else f"coco:{val_json}:{val_dir}"
    return SpecData(f"coco:{train_json}:{train_dir}", val, None if val else holdout,
                    config_class=PRESETS[preset], caps=True, check="off", classes=classes,
                    missing=missing)
