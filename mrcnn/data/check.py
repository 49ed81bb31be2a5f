"""The data check that runs before the first training step (``mrcnn check``, and ``mrcnn
train`` / ``evaluate`` / ``compare`` unless ``--no-check``).

Every image is checked once (:meth:`~mrcnn.data.Dataset.check_image`: the file decodes at
the size its annotations say, the masks fit it, class ids are known) and all problems are
listed at once, so that a bad file stops a run before it starts rather than in the middle
of an epoch. ``skip_bad`` drops exactly the images with problems instead. Faults that
loading repairs (an empty segmentation left out, a polygon clipped at the border, an
unknown category) are summarised one line per kind.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import Any, TextIO

from mrcnn.data.dataset import Dataset, DatasetError, DatasetProblem, repair_lines
from mrcnn.data.subset import DatasetSubset


@dataclass
class CheckReport:
    """What :func:`check_dataset` found in ``checked`` images of the data set ``name``."""

    name: str
    checked: int
    problems: list[DatasetProblem]
    repairs: dict[str, list[str]] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def bad_image_ids(self) -> list[int]:
        """Internal ids of the images with a problem, sorted."""
        return sorted({p.image_id for p in self.problems if p.image_id is not None})

    def repair_lines(self) -> list[str]:
        """One line per kind of repaired fault, naming the first few."""
        return repair_lines(self.name, self.repairs)

    def summary(self) -> str:
        """One line: images checked, problems, repairs and the time it took."""
        rate = self.seconds / max(self.checked, 1) * 1000
        return (f"{self.name}: checked {self.checked} image(s) in {self.seconds:.1f} s "
                f"({rate:.1f} s per 1,000): {len(self.problems)} problem(s) in "
                f"{len(self.bad_image_ids)} image(s), "
                f"{sum(len(v) for v in self.repairs.values())} repaired fault(s)")


class Progress:
    """``checking NAME: done/total images`` on one line of ``stream``, redrawn in a
    terminal, every 10% otherwise; silent for fewer than ``min_total`` images."""

    def __init__(self, name: str, stream: TextIO | None = None, min_total: int = 200):
        self.name, self.stream, self.min_total = name, stream or sys.stderr, min_total
        self.start = time.perf_counter()
        self._shown = -1

    def __call__(self, done: int, total: int) -> None:
        if total < self.min_total:
            return
        tty = self.stream.isatty()
        tenth = done * 10 // total
        if not tty and tenth == self._shown:
            return
        self._shown = tenth
        width = 30
        bar = "#" * (done * width // total) + "." * (width - done * width // total)
        text = (f"checking {self.name}: [{bar}] {done}/{total} images "
                f"({time.perf_counter() - self.start:.0f} s)")
        end = "\n" if not tty or done == total else ""
        print(("\r" if tty else "") + text, end=end, file=self.stream, flush=True)


def check_dataset(dataset: Dataset, config: Any = None, name: str | None = None,
                  progress: bool = True) -> CheckReport:
    """Check every image of a prepared ``dataset`` (see
    :meth:`~mrcnn.data.Dataset.validate`); returns the :class:`CheckReport` (nothing is
    raised for problems: :func:`apply_check` decides)."""
    name = name or type(dataset).__name__
    start = time.perf_counter()
    problems = dataset.validate(config=config, raise_on_error=False,
                                progress=Progress(name) if progress else None)
    repairs = {kind: list(items) for kind, items in dataset.repairs.items()}
    return CheckReport(name, dataset.num_images, problems, repairs,
                       time.perf_counter() - start)


def apply_check(dataset: Dataset, report: CheckReport, skip_bad: bool = False) -> Dataset:
    """``dataset`` when the check found no problem; with ``skip_bad`` the data set
    without the images that have one; else :class:`DatasetError` listing them all.
    Problems of the data set as a whole (no images, no classes) always raise."""
    if not report.problems:
        return dataset
    whole = [p for p in report.problems if p.image_id is None]
    if whole or not skip_bad:
        hint = "" if whole else " (--skip-bad leaves these images out)"
        raise DatasetError(report.problems, checked=report.checked, hint=hint)
    bad = set(report.bad_image_ids)
    kept = [i for i in range(dataset.num_images) if i not in bad]
    if not kept:
        raise DatasetError(report.problems, checked=report.checked,
                           hint=" (every image has a problem: nothing is left to use)")
    return DatasetSubset(dataset, kept)
