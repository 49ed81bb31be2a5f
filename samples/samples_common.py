"""Helpers shared by the real-data samples: where the data is, and augmentation in the
comparison runner.

The data sets live outside the repository, in ``../shared/data`` next to the checkout
(``<repo>/../shared/data/pennfudan/PennFudanPed``, ``.../balloon/balloon``); set the
environment variable ``MRCNN_DATA`` to use another folder with the same layout.
"""

from __future__ import annotations

import os
from pathlib import Path

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
