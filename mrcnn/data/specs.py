"""Data sets named by one string (a data spec), and the configuration that trains on them.

A spec is one string:

``coco:ANNOTATIONS.json:IMAGES``
    a COCO instances file and the folder its ``file_name`` entries are relative to;
    crowd regions are ignore regions (never targets, never false positives).
``via:DIR`` or ``via:DIR:ATTRIBUTE``
    VGG Image Annotator json in ``DIR`` (``via_region_data.json`` or the only ``*.json``);
    with ``DIR/train`` and ``DIR/val`` each holding one, those are the two splits (as in
    the balloon data set). ``ATTRIBUTE``: the region attribute naming the class (default:
    one class, "object").
``labels:IMAGES:LABELS`` or ``labels:IMAGES:LABELS:CLASS``
    instance label images (0 = background, one integer per object) in ``LABELS``, paired
    with the images in ``IMAGES`` by file name (``photo.png`` with ``photo.png`` or
    ``photo_mask.png``, as in Penn-Fudan); one class, named ``CLASS`` (default "object";
    the Penn-Fudan sample's checkpoints detect "pedestrian").
``shapes`` or ``shapes:N``
    the synthetic shapes (N training images, default 500; 50 fixed held-out images).
``pennfudan`` or ``balloon``
    a public data set by name, found in $MRCNN_DATA, ../shared/data or ~/.cache/mrcnn/data
    (mrcnn.data.public), with its fixed split: Penn-Fudan's 120 + 50 photos ("pedestrian"),
    the balloon set's train/ and val/ ("balloon", cached at 1024 px at most).

Held-out images: ``--val SPEC``, a split the spec brings (VIA ``train``/``val``, shapes,
the public sets), or the last ``--holdout N`` images of the spec in file order (fixed
across runs).
"""

from __future__ import annotations

import glob
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass

from mrcnn.data import (
    CocoDataset,
    Dataset,
    LabelImageDataset,
    ShapesConfig,
    ShapesDataset,
    ViaDataset,
)
from mrcnn.data.check import CheckReport, apply_check, check_dataset
from mrcnn.data.dataset import DatasetError
from mrcnn.data.public import DATA_ENV, DATASETS, DataNotFound, dataset_dir, load_public
from mrcnn.data.subset import holdout_split
from mrcnn.presets import RealDataConfig

PUBLIC = tuple(DATASETS)  # the public data sets, named by a spec of their name alone
KINDS = ("coco", "via", "labels", "shapes", *PUBLIC)
USAGE = ("coco:ANNOTATIONS.json:IMAGES, via:DIR, labels:IMAGES:LABELS[:CLASS], shapes, "
         + ", ".join(PUBLIC))
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
SHAPES_TRAIN_IMAGES = 500
SHAPES_HELD_OUT = 50


class DataSpecError(ValueError):
    """A data set spec that cannot be parsed or whose files are not there."""


@dataclass(frozen=True)
class DataSpec:
    kind: str
    parts: tuple[str, ...]
    text: str

    @property
    def name(self) -> str:
        """A short name for log folders and result folders."""
        if self.kind == "shapes" or self.kind in PUBLIC:
            return self.kind
        path = os.path.abspath(self.parts[0])
        if self.kind == "labels":  # IMAGES is often a generic "images" or "PNGImages"
            path = os.path.dirname(path)
        stem = os.path.splitext(os.path.basename(path))[0] or self.kind
        return f"{self.kind}_{stem}".replace(" ", "_")


def parse_spec(text: str) -> DataSpec:
    """Parse ``kind:part:part`` (see the module docstring); checks that the paths exist."""
    kind, _, rest = text.partition(":")
    if kind not in KINDS:
        raise DataSpecError(f"data set {text!r}: unknown kind {kind!r}; expected one of "
                            + USAGE)
    if kind in PUBLIC:
        if rest:
            raise DataSpecError(f"data set {text!r}: expected {kind} alone")
        try:
            return DataSpec(kind, (str(dataset_dir(kind)),), text)
        except DataNotFound as error:
            raise DataSpecError(
                f"data set {text!r}: {error} (--data and --download are the samples' "
                f"options; elsewhere set {DATA_ENV}=DIR, or fetch it with "
                f"mrcnn.data.public.fetch_dataset({kind!r}))") from error
    if kind == "shapes":
        if rest and not rest.isdigit():
            raise DataSpecError(f"data set {text!r}: expected shapes or shapes:N")
        return DataSpec(kind, (rest,) if rest else (), text)
    counts = {"coco": 2, "via": (1, 2), "labels": (2, 3)}[kind]
    parts = tuple(rest.split(":", 2 if kind == "labels" else 1)) if rest else ()
    wanted = counts if isinstance(counts, tuple) else (counts,)
    if len(parts) not in wanted or not all(parts):
        usage = {"coco": "coco:ANNOTATIONS.json:IMAGES", "via": "via:DIR or via:DIR:ATTRIBUTE",
                 "labels": "labels:IMAGES:LABELS or labels:IMAGES:LABELS:CLASS"}[kind]
        raise DataSpecError(f"data set {text!r}: expected {usage}")
    checks = {"coco": (os.path.isfile, os.path.isdir), "via": (os.path.isdir,),
              "labels": (os.path.isdir, os.path.isdir)}[kind]
    for path, check in zip(parts, checks):
        if not check(path):
            what = "file" if check is os.path.isfile else "folder"
            raise DataSpecError(f"data set {text!r}: {what} not found: {path}")
    return DataSpec(kind, parts, text)


def _via_json(folder: str) -> str:
    default = os.path.join(folder, "via_region_data.json")
    if os.path.isfile(default):
        return default
    found = sorted(glob.glob(os.path.join(glob.escape(folder), "*.json")))
    if len(found) != 1:
        raise DataSpecError(f"{folder}: expected via_region_data.json or exactly one .json "
                            f"file, found {len(found)}")
    return found[0]


def _load_via(folder: str, attribute: str | None, missing: str) -> ViaDataset:
    dataset = ViaDataset()
    dataset.load_via(_via_json(folder), folder, class_attribute=attribute, missing=missing)
    dataset.prepare()
    return dataset


def coco_category_ids(data: dict, names: Sequence[str], where: str) -> list[int]:
    """The category ids of the class ``names`` in a COCO json dict; a
    :class:`DataSpecError` lists the names there are when one is not there."""
    by_name = {str(c["name"]): int(c["id"]) for c in data.get("categories", [])}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise DataSpecError(f"{where}: no categories named {unknown}; there are "
                            f"{sorted(by_name)}")
    return [by_name[n] for n in names]


def _load_coco(annotations: str, images: str, classes: Sequence[str] | None,
               missing: str) -> CocoDataset:
    source, class_ids = annotations, None
    if classes is not None:
        with open(annotations) as f:
            source = json.load(f)
        class_ids = coco_category_ids(source, classes, annotations)
    dataset = CocoDataset()
    dataset.load_coco(source, images, class_ids=class_ids, missing=missing, name=annotations)
    dataset.prepare()
    if classes is not None and dataset.num_images == 0:
        raise DataSpecError(f"{annotations}: no image holds one of the classes {list(classes)}")
    return dataset


def _label_pairs(image_dir: str, label_dir: str) -> tuple[list[str], list[str]]:
    labels = {}
    for path in sorted(os.listdir(label_dir)):
        stem, ext = os.path.splitext(path)
        if ext.lower() in IMAGE_EXTENSIONS:
            labels.setdefault(stem, os.path.join(label_dir, path))
            if stem.endswith("_mask"):
                labels.setdefault(stem[:-len("_mask")], os.path.join(label_dir, path))
    images, pairs, unlabelled = [], [], []
    for path in sorted(os.listdir(image_dir)):
        stem, ext = os.path.splitext(path)
        if ext.lower() not in IMAGE_EXTENSIONS:
            continue
        if stem in labels:
            images.append(os.path.join(image_dir, path))
            pairs.append(labels[stem])
        else:
            unlabelled.append(path)
    if not images:
        raise DataSpecError(f"no image in {image_dir} has a label image in {label_dir} "
                            "(paired by file name: photo.png with photo.png or photo_mask.png)")
    if unlabelled:
        print(f"note: {len(unlabelled)} image(s) in {image_dir} have no label image and are "
              f"left out, e.g. {unlabelled[0]}")
    return images, pairs


def load_spec(spec: DataSpec, classes: Sequence[str] | None = None,
              missing: str = "error") -> tuple[Dataset, Dataset | None]:
    """``(data set, its own held-out split or None)``, both prepared. ``classes``: the
    category names a COCO spec keeps (default: all; only images holding one are kept).
    ``missing``: images of a COCO or VIA spec absent from disk: "error" (listed) or "skip"."""
    if classes is not None and spec.kind != "coco":
        raise DataSpecError(f"data set {spec.text!r}: only a coco spec can keep some classes "
                            f"(classes={list(classes)})")
    if missing != "error" and spec.kind not in ("coco", "via"):
        raise DataSpecError(f"data set {spec.text!r}: missing={missing!r} is for coco and via "
                            "specs")
    if spec.kind in PUBLIC:
        return load_public(spec.kind, spec.parts[0])
    if spec.kind == "shapes":
        count = int(spec.parts[0]) if spec.parts else SHAPES_TRAIN_IMAGES
        size = ShapesConfig.IMAGE_MAX_DIM
        train, val = ShapesDataset(), ShapesDataset()
        train.load_shapes(count, size, size, seed=0)
        val.load_shapes(SHAPES_HELD_OUT, size, size, seed=10_000)
        train.prepare()
        val.prepare()
        return train, val
    if spec.kind == "coco":
        return _load_coco(spec.parts[0], spec.parts[1], classes, missing), None
    if spec.kind == "via":
        folder, attribute = spec.parts[0], (spec.parts[1] if len(spec.parts) > 1 else None)
        splits = [os.path.join(folder, s) for s in ("train", "val")]
        if all(os.path.isdir(s) for s in splits):
            return (_load_via(splits[0], attribute, missing),
                    _load_via(splits[1], attribute, missing))
        return _load_via(folder, attribute, missing), None
    dataset = LabelImageDataset()
    class_name = spec.parts[2] if len(spec.parts) > 2 else "object"
    dataset.load_label_images(*_label_pairs(*spec.parts[:2]), class_name=class_name)
    dataset.prepare()
    return dataset, None


CHECKS = ("stop", "skip", "off")


def checked(dataset: Dataset, name: str, check: str = "stop") -> Dataset:
    """``dataset`` after the data check (:mod:`mrcnn.data.check`), its findings printed:
    ``check="stop"`` raises :class:`~mrcnn.data.dataset.DatasetError` listing every
    problem, ``"skip"`` leaves out the images that have one, ``"off"`` checks nothing."""
    if check not in CHECKS:
        raise ValueError(f"check must be one of {CHECKS}, got {check!r}")
    if check == "off":
        return dataset
    report = check_dataset(dataset, name=name)
    print_findings(report)
    kept = apply_check(dataset, report, skip_bad=check == "skip")
    if kept is not dataset:
        print(f"note: {dataset.num_images - kept.num_images} image(s) with problems left "
              f"out (--skip-bad); {kept.num_images} kept:")
        for problem in report.problems[:DatasetError.MAX_LINES]:
            print(f"  {problem}")
    return kept


def print_findings(report: CheckReport, problems: bool = False) -> None:
    """A check's repairs (``note:`` lines), its problems when asked, and its summary."""
    for line in report.repair_lines():
        print(f"note: {line}")
    if problems:
        for problem in report.problems:
            print(f"  {problem}")
    print(report.summary())


def load_checked(spec_text: str, check: str = "stop",
                 **options) -> tuple[Dataset, Dataset | None]:
    """:func:`load_spec` of ``spec_text`` (``options``: its ``classes`` and ``missing``)
    with each part :func:`checked`."""
    dataset, own_split = load_spec(parse_spec(spec_text), **options)
    dataset = checked(dataset, spec_text, check)
    if own_split is not None:
        own_split = checked(own_split, f"{spec_text} (its held-out split)", check)
    return dataset, own_split


def train_and_held_out(spec_text: str, val_text: str | None = None,
                       holdout: int | None = None, check: str = "stop",
                       **options) -> tuple[Dataset, Dataset | None]:
    """``(training set, held-out set)`` for ``--dataset``, ``--val`` and ``--holdout``,
    checked first (``check``: see :func:`checked`; ``options``: :func:`load_spec`'s, for
    both)."""
    if val_text is not None and holdout:
        raise DataSpecError(f"data set {spec_text!r}: give --val or --holdout, not both")
    dataset, own_split = load_checked(spec_text, check, **options)
    if val_text is not None:
        val, _ = load_checked(val_text, check, **options)
        if val.class_names != dataset.class_names:
            raise DataSpecError(f"--val {val_text!r} has classes {val.class_names[1:]}, the "
                                f"training data {dataset.class_names[1:]}")
        return dataset, val
    if holdout:
        return holdout_split(dataset, holdout)
    return dataset, own_split


def evaluation_set(spec_text: str, holdout: int | None = None, check: str = "stop") -> Dataset:
    """The images ``evaluate`` scores: the spec's own held-out split, its last
    ``holdout`` images, or all of it; checked first (see :func:`checked`)."""
    dataset, own_split = load_checked(spec_text, check)
    if holdout:
        return holdout_split(dataset, holdout)[1]
    return own_split if own_split is not None else dataset


def config_class_for(spec_text: str, num_classes: int, image_size: int | None = None,
                     **fields) -> type:
    """The Config subclass that trains on ``spec_text``'s data: the shapes preset for
    shapes, :class:`mrcnn.presets.RealDataConfig` otherwise; ``fields`` override class
    attributes."""
    spec = parse_spec(spec_text)
    base = ShapesConfig if spec.kind == "shapes" else RealDataConfig
    attributes = {"NAME": spec.name, "NUM_CLASSES": num_classes, **fields}
    if image_size:
        attributes.update(IMAGE_MIN_DIM=image_size, IMAGE_MAX_DIM=image_size)
    return type(f"{base.__name__}_{spec.kind}", (base,), attributes)


def spec_in(spec_text: str, folder: str | os.PathLike) -> str:
    """``spec_text`` with its relative paths taken from ``folder`` (a spec recorded where
    a command ran, read from elsewhere); a spec without paths is returned as it is."""
    kind, _, rest = spec_text.partition(":")
    if kind not in ("coco", "via", "labels") or not rest:
        return spec_text
    parts = rest.split(":", 2 if kind == "labels" else 1)
    count = {"coco": 2, "via": 1, "labels": 2}[kind]
    moved = [p if i >= count or os.path.isabs(p) else os.path.join(os.fspath(folder), p)
             for i, p in enumerate(parts)]
    return ":".join([kind, *moved])
