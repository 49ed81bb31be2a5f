"""COCO-format data: loading a split (a class subset, crowd regions), configs, experiment.

Any data set in the COCO instances format works: MS-COCO 2017 itself
(``annotations/instances_train2017.json`` + ``train2017/``) or a user's own export from a
labelling tool. Category ids need not be contiguous (COCO's run 1..90 with gaps): they
become internal class ids 1..N in the order of the ids, and go back to the file's ids
when results are exported (:func:`mrcnn.data.export_detections`).

Crowd regions (``iscrowd: 1``) never become training targets; in the held-out set they
are kept as ignore regions, so a detection on a crowd is neither a true nor a false
positive in the COCO evaluation.

Where a real COCO file for tests lives: ``<data root>/coco/annotations/instances_*.json``
(the data root is ``$MRCNN_DATA`` or ``<repo>/../shared/data``); see ``real_coco_files``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

_SAMPLES = str(Path(__file__).resolve().parents[1])
if _SAMPLES not in sys.path:
    sys.path.insert(0, _SAMPLES)  # for samples/samples_common.py

from samples_common import data_root  # noqa: E402

from mrcnn.config import Config  # noqa: E402
from mrcnn.data import CocoDataset  # noqa: E402
from mrcnn.presets import RealDataConfig  # noqa: E402


def real_coco_files() -> list[Path]:
    """The COCO annotation files under ``<data root>/coco/annotations/`` (may be none)."""
    return sorted((data_root() / "coco" / "annotations").glob("instances_*.json"))


def read_annotations(annotation_json: str | Path) -> dict:
    """The json dict of a COCO annotation file (parsed once, then shared by the splits)."""
    path = Path(annotation_json)
    if not path.is_file():
        raise FileNotFoundError(f"COCO annotation file not found: {path}")
    with open(path) as f:
        return json.load(f)


def category_ids(data: Mapping, names: Sequence[str] | None,
                 where: str = "annotations") -> list[int] | None:
    """The category ids of the class ``names`` in a COCO json dict (None: all classes);
    a ValueError lists the names there are when one is not there."""
    if names is None:
        return None
    by_name = {str(c["name"]): int(c["id"]) for c in data.get("categories", [])}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise ValueError(f"{where}: no categories named {unknown}; there are "
                         f"{sorted(by_name)}")
    return [by_name[n] for n in names]


def load_coco_split(data: Mapping, image_dir: str | Path | None,
                    classes: Sequence[str] | None = None, image_ids: Sequence[int] | None = None,
                    include_crowd: bool = False, missing: str = "error",
                    where: str = "annotations") -> CocoDataset:
    """A prepared CocoDataset of a COCO json dict (:func:`read_annotations`).

    ``classes``: category names to keep (default: all; only images holding one of them
    are kept). ``image_ids``: COCO image ids to keep. ``include_crowd``: crowd regions in
    ``load_mask`` as ignore regions (negative class ids), for held-out sets. ``missing``:
    "error" (images absent from ``image_dir`` are listed by id and path), "skip" or
    "ignore", as in :meth:`CocoDataset.load_coco`. ``where`` names the file in errors.
    """
    dataset = CocoDataset()
    dataset.load_coco(data, image_dir, class_ids=category_ids(data, classes, where),
                      image_ids=image_ids, include_crowd=include_crowd, missing=missing,
                      name=where)
    dataset.prepare()
    if dataset.num_images == 0:
        raise ValueError(f"{where}: no images (classes={classes}, image_ids={image_ids})")
    return dataset


def image_ids_with(data: Mapping, classes: Sequence[str] | None,
                   where: str = "annotations") -> list[int]:
    """Sorted ids of the images holding at least one object of ``classes`` (None: all
    images of the file)."""
    if classes is None:
        return sorted(int(i["id"]) for i in data.get("images", []))
    keep = set(category_ids(data, classes, where))
    return sorted({int(a["image_id"]) for a in data.get("annotations", [])
                   if int(a["category_id"]) in keep})


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


def coco_experiment(train_json: str | Path, train_dir: str | Path | None,
                    val_json: str | Path | None = None, val_dir: str | Path | None = None,
                    classes: Sequence[str] | None = None, holdout: int = 50,
                    preset: str = "light", missing: str = "error"):
    """An experiment for ``mrcnn.experiments.compare``: ``fn(settings, seed) -> (config class, train
    set, held-out set)``.

    The held-out set is ``val_json`` (crowd regions kept as ignore regions) or, without
    one, the ``holdout`` images of ``train_json`` with the largest ids (fixed across
    seeds). ``settings.image_size``, ``steps_per_epoch``, ``train_images`` and
    ``val_images`` (caps: the first N images by id) apply.
    """
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {sorted(PRESETS)}, got {preset!r}")

    def experiment(settings, seed: int):
        train_data = read_annotations(train_json)
        train_ids = image_ids_with(train_data, classes, str(train_json))
        if val_json is not None:
            val_data, val_where, val_images_dir = read_annotations(val_json), str(val_json), val_dir
            val_ids = image_ids_with(val_data, classes, val_where)
        else:
            if len(train_ids) <= holdout:
                raise ValueError(f"{train_json}: {len(train_ids)} images, need more than "
                                 f"--holdout {holdout} to hold some out, or pass "
                                 f"--val-annotations")
            val_data, val_where, val_images_dir = train_data, str(train_json), train_dir
            train_ids, val_ids = train_ids[:-holdout], train_ids[-holdout:]
        train = load_coco_split(train_data, train_dir, classes, train_ids[:settings.train_images],
                                missing=missing, where=str(train_json))
        val = load_coco_split(val_data, val_images_dir, classes, val_ids[:settings.val_images],
                              include_crowd=True, missing=missing, where=val_where)
        if val.class_names != train.class_names:
            raise ValueError(f"the training and held-out files have different classes: "
                             f"{train.class_names[1:]} vs {val.class_names[1:]}")
        size = settings.image_size

        class Config(PRESETS[preset]):
            NUM_CLASSES = train.num_classes
            IMAGE_MIN_DIM = size
            IMAGE_MAX_DIM = size
            STEPS_PER_EPOCH = settings.steps_per_epoch

        return Config, train, val

    return experiment
