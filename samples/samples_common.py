"""Helpers shared by the real-data samples: where the data is, and running the comparison.

The data sets live outside the repository, in ``../shared/data`` next to the checkout
(``<repo>/../shared/data/pennfudan/PennFudanPed``, ``.../balloon/balloon``); set the
environment variable ``MRCNN_DATA`` to use another folder with the same layout.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Callable, Sequence

DATA_ENV = "MRCNN_DATA"
REPO = Path(__file__).resolve().parents[1]


class DataNotFound(FileNotFoundError):
    """The sample's data set is not where it is looked for."""


def data_root() -> Path:
    """``$MRCNN_DATA`` if set, else ``<repo>/../shared/data``."""
    return Path(os.environ.get(DATA_ENV) or REPO.parent / "shared" / "data")


def data_dir(*parts: str, what: str) -> Path:
    """``data_root() / parts`` or :class:`DataNotFound` saying where it was looked for."""
    path = data_root().joinpath(*parts)
    if not path.is_dir():
        raise DataNotFound(
            f"{what} not found at {path}. Put the data set there (see "
            f"../shared/data/README.md for the layout) or set {DATA_ENV} to the folder "
            f"that holds {'/'.join(parts)}.")
    return path


def run_sample(name: str, experiment: Callable, find_data: Callable[[], Path],
               defaults: Sequence[str], argv: Sequence[str] | None = None) -> dict:
    """Register ``experiment`` as ``name`` in ``mrcnn.compare`` and run the comparison with
    ``defaults`` then ``argv`` (the command line); exit with a message when ``find_data``
    raises :class:`DataNotFound`."""
    import mrcnn.compare

    try:
        find_data()
    except DataNotFound as error:
        sys.exit(f"error: {error}")
    mrcnn.compare.EXPERIMENTS[name] = experiment
    argv = sys.argv[1:] if argv is None else argv
    return mrcnn.compare.main(["--dataset", name, *defaults, *argv])
