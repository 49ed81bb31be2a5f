"""The data-set catalog: a name -> the function that gives a head comparison its data,
registered once and looked up by everyone (the comparison runner, ``mrcnn compare``, the
samples, the viewer), as detectron2's ``DatasetCatalog``.

A data-set function is ``fn(settings, seed) -> (config class, training set, held-out
set)``; ``settings`` is what a comparison runs (``CompareSettings``: its ``image_size``,
``steps_per_epoch``, ``train_images`` and ``val_images`` are read). ``shapes`` is built in
(:class:`SeededShapes`); a data spec (:mod:`mrcnn.data.specs`) becomes a data-set function
with :class:`SpecData`::

    register_dataset("pennfudan", SpecData("pennfudan", config_class=PennFudanConfig))
    config_class, train_set, held_out = get_dataset("pennfudan")(settings, seed=0)

A function with a ``record()`` method (:class:`SpecData`, :class:`SeededShapes`) says how
to rebuild its data; the comparison report keeps that record (``"data"`` in
``compare.json``), and :func:`from_record` turns it back into the function, in another
process, with nothing registered: the viewer rebuilds a report's held-out set so.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence

from mrcnn.data.dataset import Dataset
from mrcnn.data.shapes import ShapesConfig, ShapesDataset
from mrcnn.data.specs import (
    CHECKS,
    DataSpecError,
    config_class_for,
    parse_spec,
    spec_in,
    train_and_held_out,
)
from mrcnn.data.subset import DatasetSubset

# The held-out shapes of every seed are drawn with this seed.
SHAPES_HELD_OUT_SEED = 10_000

_CATALOG: dict[str, Callable] = {}


class UnknownDataset(LookupError, ValueError):
    """A data-set name the catalog does not hold."""


def register_dataset(name: str, fn: Callable, *, replace: bool = False) -> Callable:
    """Register data-set function ``fn`` as ``name`` (also the report's folder name);
    returns ``fn``. A name taken by another function is refused unless ``replace``."""
    if not isinstance(name, str) or not name or name != name.strip() or "/" in name \
            or name in (".", ".."):
        raise ValueError(f"data set name {name!r}: expected a non-empty folder name")
    if not callable(fn):
        raise ValueError(f"data set {name!r}: {fn!r} is not a function "
                         "fn(settings, seed) -> (config class, train set, held-out set)")
    if not replace and _CATALOG.get(name, fn) is not fn:
        raise ValueError(f"data set {name!r} is already registered ({_CATALOG[name]!r}); "
                         "pass replace=True to replace it")
    _CATALOG[name] = fn
    return fn


def get_dataset(name: str) -> Callable:
    """The data-set function registered as ``name``."""
    if name not in _CATALOG:
        raise UnknownDataset(f"data set {name!r} is not registered (registered: "
                             f"{registered_datasets()}); register it with "
                             "mrcnn.data.catalog.register_dataset(name, fn)")
    return _CATALOG[name]


def remove_dataset(name: str) -> Callable:
    """Unregister ``name``; returns its function."""
    get_dataset(name)
    return _CATALOG.pop(name)


def registered_datasets() -> list[str]:
    """The registered names, sorted."""
    return sorted(_CATALOG)


class SeededShapes:
    """The comparison runner's synthetic shapes: ``settings.train_images`` training images
    drawn anew for each seed, ``settings.val_images`` held-out images fixed across seeds,
    all ``settings.image_size`` px, trained with :class:`ShapesConfig`."""

    def __call__(self, settings, seed: int):
        size = settings.image_size
        config_class = type("ShapesConfig", (ShapesConfig,), {
            "IMAGE_MIN_DIM": size, "IMAGE_MAX_DIM": size,
            "STEPS_PER_EPOCH": settings.steps_per_epoch})
        train_set = ShapesDataset()
        train_set.load_shapes(settings.train_images, size, size, seed=seed)
        train_set.prepare()
        val_set = ShapesDataset()  # every run is scored on the same images
        val_set.load_shapes(settings.val_images, size, size, seed=SHAPES_HELD_OUT_SEED)
        val_set.prepare()
        return config_class, train_set, val_set

    def record(self) -> dict:
        return {"spec": "shapes", "seeded": True}

    def __repr__(self) -> str:
        return "SeededShapes()"


class SpecData:
    """The data-set function of a data spec: its data loaded (and checked) once, on first
    use, and split by ``val`` (a spec), ``holdout`` (its last N images) or its own split.

    ``config_class``: what trains on it, with the data's class count,
    ``settings.image_size`` and ``steps_per_epoch`` (default:
    :func:`mrcnn.data.specs.config_class_for`, the shapes preset or ``RealDataConfig``).
    ``caps``: keep the first ``settings.train_images`` training and ``settings.val_images``
    held-out images. ``check``: the data check's mode (:func:`mrcnn.data.specs.checked`).
    ``classes``, ``missing``: :func:`mrcnn.data.specs.load_spec`'s.
    """

    def __init__(self, spec: str, val: str | None = None, holdout: int | None = None, *,
                 config_class: type | None = None, caps: bool = False, check: str = "stop",
                 classes: Sequence[str] | None = None, missing: str = "error"):
        if not isinstance(spec, str) or not spec:
            raise ValueError(f"spec must be a data spec string, got {spec!r}")
        if val is not None and holdout:
            raise ValueError(f"data set {spec!r}: give val or holdout, not both")
        if holdout is not None and (not isinstance(holdout, int) or holdout < 0):
            raise ValueError(f"data set {spec!r}: holdout must be a count of images, "
                             f"got {holdout!r}")
        if check not in CHECKS:
            raise ValueError(f"data set {spec!r}: check must be one of {CHECKS}, "
                             f"got {check!r}")
        self.spec, self.val, self.holdout = spec, val, holdout or None
        self.config_class, self.caps, self.check = config_class, bool(caps), check
        self.classes = None if classes is None else list(classes)
        self.missing = missing
        self._data: tuple[Dataset, Dataset] | None = None

    def load(self) -> tuple[Dataset, Dataset]:
        """``(training set, held-out set)``, loaded on the first call."""
        if self._data is None:
            options = {k: v for k, v in (("classes", self.classes), ("missing", self.missing))
                       if v not in (None, "error")}
            train_set, held_out = train_and_held_out(self.spec, self.val, self.holdout,
                                                     self.check, **options)
            if held_out is None:
                raise DataSpecError(f"{self.spec!r} brings no held-out split: give "
                                    "--holdout N or --val")
            self._data = train_set, held_out
        return self._data

    def config_for(self, num_classes: int, settings) -> type:
        """The config class a run trains with (see the class docstring)."""
        if self.config_class is None:
            return config_class_for(self.spec, num_classes, settings.image_size,
                                    STEPS_PER_EPOCH=settings.steps_per_epoch)
        size = settings.image_size
        return type(self.config_class.__name__, (self.config_class,), {
            "NUM_CLASSES": num_classes, "IMAGE_MIN_DIM": size, "IMAGE_MAX_DIM": size,
            "STEPS_PER_EPOCH": settings.steps_per_epoch})

    def __call__(self, settings, seed: int):
        train_set, held_out = self.load()
        if self.caps:
            train_set = first_images(train_set, settings.train_images)
            held_out = first_images(held_out, settings.val_images)
        return self.config_for(train_set.num_classes, settings), train_set, held_out

    def record(self) -> dict:
        """What :func:`from_record` rebuilds this from (options left at their default
        are left out)."""
        record = {"spec": self.spec, "val": self.val, "holdout": self.holdout,
                  "check": self.check}
        if self.caps:
            record["caps"] = True
        if self.classes is not None:
            record["classes"] = list(self.classes)
        if self.missing != "error":
            record["missing"] = self.missing
        return record

    def __repr__(self) -> str:
        return "SpecData(" + ", ".join(f"{k}={v!r}" for k, v in self.record().items()) + ")"


def first_images(dataset: Dataset, count: int | None) -> Dataset:
    """The first ``count`` images of ``dataset`` (all of it when it has no more)."""
    if count is None or count >= dataset.num_images:
        return dataset
    return DatasetSubset(dataset, range(count))


RECORD_FIELDS = ("spec", "val", "holdout", "check", "caps", "classes", "missing", "seeded")


def from_record(record: Mapping, folder: str | os.PathLike | None = None) -> Callable:
    """The data-set function a report's ``"data"`` record (a ``record()``) describes.
    Relative paths in its specs are looked for under ``folder`` (where the comparison
    ran) first, then in the current folder."""
    unknown = sorted(set(record) - set(RECORD_FIELDS))
    if unknown or not isinstance(record.get("spec"), str):
        raise ValueError(f"data record {dict(record)!r}: expected a 'spec' string and only "
                         f"the fields {RECORD_FIELDS}" + (f", not {unknown}" if unknown else ""))
    if record.get("seeded"):
        if record["spec"] != "shapes":
            raise ValueError(f"data record {dict(record)!r}: only the shapes are seeded")
        return SeededShapes()
    val = record.get("val")
    return SpecData(_found(record["spec"], folder),
                    None if val is None else _found(val, folder), record.get("holdout"),
                    caps=bool(record.get("caps")), check=record.get("check", "stop"),
                    classes=record.get("classes"), missing=record.get("missing", "error"))


def _found(spec: str, folder: str | os.PathLike | None) -> str:
    """``spec`` with its relative paths under ``folder`` where they exist there."""
    if folder is None:
        return spec
    moved = spec_in(spec, folder)
    if moved == spec:
        return spec
    try:
        parse_spec(moved)
    except (DataSpecError, FileNotFoundError):
        return spec
    return moved


register_dataset("shapes", SeededShapes())
