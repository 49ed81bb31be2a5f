"""The real-data samples' command line: ``--data DIR`` / ``--download``, then the head
comparison on the data set the sample registered in ``mrcnn.data.catalog``.

Where a public data set is looked for, fetching it and loading it are
``mrcnn.data.public``'s: ``--data DIR`` (a folder holding ``pennfudan/PennFudanPed``
and/or ``balloon/balloon``, or the data set's own folder) is the only place looked at,
else ``$MRCNN_DATA``, else ``<repo>/../shared/data`` then ``~/.cache/mrcnn/data``;
``--download`` fetches a missing data set from its public home into that folder, checks
the extracted files and puts them in the layout the loaders read.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from mrcnn.data import public


def _data_options() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    parser.add_argument("--data", metavar="DIR",
                        help="folder holding the data set (default: $MRCNN_DATA, else "
                             "<repo>/../shared/data, then ~/.cache/mrcnn/data)")
    parser.add_argument("--download", action="store_true",
                        help="fetch the data set from its public home if it is missing "
                             "(into --data DIR, $MRCNN_DATA or ~/.cache/mrcnn/data)")
    return parser


def split_data_options(argv: Sequence[str]) -> tuple[argparse.Namespace, list[str]]:
    """``(--data / --download options, the rest of argv for mrcnn.experiments.compare)``."""
    return _data_options().parse_known_args(list(argv))


def prepare_sample(name: str, argv: Sequence[str] | None = None) -> list[str]:
    """Apply ``--data DIR`` / ``--download`` of ``argv`` (default: the command line) and
    find the public data set ``name`` (fetched with ``--download``; exit with a message
    when it is not there); return the rest of ``argv``."""
    options, rest = split_data_options(sys.argv[1:] if argv is None else argv)
    if options.data:
        public.set_data_root(options.data)
    if "-h" in rest or "--help" in rest:
        print("data options of this sample:\n"
              + _data_options().format_help().split(":\n", 1)[-1])
    else:
        find_or_fetch(name, options.download)
    return rest


def run_sample(name: str, defaults: Sequence[str], argv: Sequence[str] | None = None) -> dict:
    """The comparison of the registered data set ``name`` (:func:`prepare_sample`) with
    ``defaults``, then the rest of ``argv``."""
    import mrcnn.experiments.compare

    rest = prepare_sample(name, argv)
    return mrcnn.experiments.compare.main(["--dataset", name, *defaults, *rest])


def find_or_fetch(name: str, fetch: bool) -> Path:
    """The folder of public data set ``name``; fetched first with ``fetch`` when missing;
    exit with the error otherwise."""
    from mrcnn.download import DownloadUnavailable

    try:
        return public.dataset_dir(name)
    except public.DataNotFound as error:
        if not fetch:
            sys.exit(f"error: {error}")
    try:
        folder = public.fetch_dataset(name)
    except (DownloadUnavailable, public.DataVerificationError, ValueError) as error:
        sys.exit(f"error: {error}")
    print(f"{public.DATASETS[name].name}: verified and extracted to {folder}", flush=True)
    try:
        return public.dataset_dir(name)
    except public.DataNotFound as error:
        sys.exit(f"error: {error}")
