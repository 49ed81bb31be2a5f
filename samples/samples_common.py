"""Helpers shared by the real-data samples: where the data is, fetching it, running the
comparison.

Where the data is looked for (the first that holds the data set wins):

- ``--data DIR`` on the command line (DIR holds ``pennfudan/PennFudanPed`` and/or
  ``balloon/balloon``; the data set's own folder, e.g. ``.../PennFudanPed``, works too);
- else ``$MRCNN_DATA`` if set;
- else ``<repo>/../shared/data``, then the download cache ``~/.cache/mrcnn/data``
  (``$XDG_CACHE_HOME/mrcnn/data``).

``--download`` fetches a missing data set from its public home (:data:`DATASETS`) into
``--data DIR``, else ``$MRCNN_DATA``, else the download cache, checks it and extracts it to
the layout the sample reads. The published zips have no published checksum, so what is
checked is the extracted files: the sha256 of their ``sha256sum``-style listing (one line
``<sha256>  <path>`` per file, sorted by path) must equal the one stored here, which is
the digest of the listing of the reference copy (``shared/data/*/SHA256SUMS``).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import os
import shutil
import sys
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path, PurePosixPath

DATA_ENV = "MRCNN_DATA"
REPO = Path(__file__).resolve().parents[1]

# Set by --data (set_data_root): the only place looked at and where --download extracts.
_data_override: Path | None = None


class DataNotFound(FileNotFoundError):
    """The sample's data set is not where it is looked for."""


class DataVerificationError(ValueError):
    """Downloaded or extracted data does not match the expected files."""


@dataclasses.dataclass(frozen=True)
class DataSource:
    """A data set's public home and what its extracted files must be.

    ``parts``: the folder the sample reads, under the data root (its last part is the
    zip's top folder, extracted into ``root/parts[:-1]``). ``tree_sha256``: sha256 of the
    ``sha256sum``-style listing of the files under that top folder (:func:`tree_digest`),
    ``files``: their number. ``zip_checksum``: the zip's md5/sha256 where one is published.
    """

    name: str
    url: str
    parts: tuple[str, ...]
    tree_sha256: str | None
    files: int
    zip_checksum: str | None = None
    marker: str = ""

    @property
    def zip_name(self) -> str:
        return PurePosixPath(self.url).name


DATASETS: dict[str, DataSource] = {
    # Listing digest = `sha256sum SHA256SUMS` of shared/data/pennfudan (512 files: PNGImages,
    # PedMasks, Annotation, readme.txt, added-object-list.txt), see its PROVENANCE.md.
    "pennfudan": DataSource(
        name="Penn-Fudan (PennFudanPed/)",
        url="https://www.cis.upenn.edu/~jshi/ped_html/PennFudanPed.zip",
        parts=("pennfudan", "PennFudanPed"),
        tree_sha256="ecaee265390f4ed6af2024203f221308a9ea9b5f3b5bc5123ce8535685c3be56",
        files=512, marker="PNGImages"),
    # shared/data/balloon/SHA256SUMS: 74 JPEGs and 2 via_region_data.json (76 files).
    "balloon": DataSource(
        name="the balloon data set (balloon/balloon/)",
        url="https://github.com/matterport/Mask_RCNN/releases/download/v2.1/"
            "balloon_dataset.zip",
        parts=("balloon", "balloon"),
        tree_sha256="bf5920cbba83ea559b3059ee7f7d8ce8d672a63b1d5a9bf8a5eb7c89565a3487",
        files=76, marker="train"),
}


# ------------------------------------------------------------------------- where the data is
def download_cache() -> Path:
    """``$XDG_CACHE_HOME/mrcnn/data`` or ``~/.cache/mrcnn/data``."""
    from mrcnn.weights.download import default_cache_home

    return default_cache_home() / "mrcnn" / "data"


def set_data_root(path: str | os.PathLike | None) -> None:
    """Use ``path`` (``--data``) as the only data root; None: back to the defaults."""
    global _data_override
    _data_override = None if path is None else Path(path).expanduser().resolve()


def data_roots() -> list[Path]:
    """The folders looked in, in order (see the module docstring)."""
    if _data_override is not None:
        return [_data_override]
    if os.environ.get(DATA_ENV):
        return [Path(os.environ[DATA_ENV]).expanduser()]
    return [REPO.parent / "shared" / "data", download_cache()]


def data_root() -> Path:
    """The first data root: ``--data``, ``$MRCNN_DATA``, or ``<repo>/../shared/data``."""
    return data_roots()[0]


def download_root() -> Path:
    """Where ``--download`` puts data: ``--data``, ``$MRCNN_DATA`` or the download cache."""
    if _data_override is not None or os.environ.get(DATA_ENV):
        return data_roots()[0]
    return download_cache()


def _candidates(root: Path, parts: Sequence[str]) -> list[Path]:
    """``root/a/b``, ``root/b``, ``root``: a root may also be the data set's own folder."""
    return [root.joinpath(*parts[i:]) for i in range(len(parts) + 1)]


def data_dir(*parts: str, what: str, marker: str | None = None) -> Path:
    """The data set folder ``<root>/<parts>`` in the first data root that has it, or
    :class:`DataNotFound` saying where it looked and how to get the data. With ``marker``
    (a name the folder must contain), the root may also be the data set folder itself."""
    roots = data_roots()
    for root in roots:
        if marker:
            for candidate in _candidates(root, parts):
                if (candidate / marker).exists():
                    return candidate
        elif root.joinpath(*parts).is_dir():
            return root.joinpath(*parts)
    raise DataNotFound(missing_message(what, parts, roots))


def dataset_dir(name: str) -> Path:
    """The folder of data set ``name`` of :data:`DATASETS` (see :func:`data_dir`)."""
    source = DATASETS[name]
    return data_dir(*source.parts, what=source.name, marker=source.marker)


def missing_message(what: str, parts: Sequence[str], roots: Sequence[Path]) -> str:
    """One line: where the data was looked for, ``--data DIR`` and ``--download``."""
    looked = [root.joinpath(*parts) for root in roots]
    where = str(looked[0]) + "".join(f" (nor at {p})" for p in looked[1:])
    source = next((s for s in DATASETS.values() if s.parts == tuple(parts)), None)
    fetch = (f"or run with --download to fetch it from {source.url} into "
             f"{download_root().joinpath(*parts)}" if source else
             "or put the data set there")
    return (f"{what} not found at {where}. Pass --data DIR for a folder that holds "
            f"{'/'.join(parts)} (or set {DATA_ENV}=DIR), {fetch}.")


# ------------------------------------------------------------------------ fetching the data
def tree_listing(parent: Path, top: str) -> list[str]:
    """``sha256sum``-style lines ``"<sha256>  <top>/<path>"`` of the files under
    ``parent/top``, sorted by path; macOS metadata (``.DS_Store``, ``._*``) left out."""
    lines = []
    for path in (parent / top).rglob("*"):
        if not path.is_file() or path.name == ".DS_Store" or path.name.startswith("._"):
            continue
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        lines.append((path.relative_to(parent).as_posix(), f"{digest}  "))
    return [digest + rel for rel, digest in sorted(lines)]


def tree_digest(parent: Path, top: str) -> tuple[str, int]:
    """``(sha256 of the listing text, number of files)``: the listing's sha256 is
    ``sha256sum SHA256SUMS`` for a ``SHA256SUMS`` written by ``sha256sum`` from ``parent``."""
    lines = tree_listing(parent, top)
    text = "".join(line + "\n" for line in lines)
    return hashlib.sha256(text.encode()).hexdigest(), len(lines)


def verify_tree(source: DataSource, parent: Path) -> None:
    """:class:`DataVerificationError` unless the files under ``parent/<top>`` are the
    expected ones (digest of their listing)."""
    top = source.parts[-1]
    if not (parent / top).is_dir():
        raise DataVerificationError(f"{source.name}: no {top}/ folder in {parent}")
    if source.tree_sha256 is None:
        return
    digest, count = tree_digest(parent, top)
    if digest != source.tree_sha256:
        raise DataVerificationError(
            f"{source.name}: the {count} files under {parent / top} are not the expected "
            f"{source.files} (sha256 of their sha256sum listing {digest}, expected "
            f"{source.tree_sha256}); a file differs, is missing or was added")


def _extract(zip_path: Path, top: str, into: Path) -> None:
    """Extract the members under ``top/`` of ``zip_path`` into ``into`` (others, e.g.
    ``__MACOSX/``, are left out); members that would land outside are refused."""
    with zipfile.ZipFile(zip_path) as archive:
        for member in archive.infolist():
            name = PurePosixPath(member.filename)
            if not name.parts or name.parts[0] != top:
                continue
            if name.is_absolute() or ".." in name.parts:
                raise DataVerificationError(f"{zip_path}: unsafe member {member.filename!r}")
            archive.extract(member, into)


def fetch_dataset(name: str, root: str | os.PathLike | None = None,
                  timeout: float | None = None) -> Path:
    """Download data set ``name`` (:data:`DATASETS`) into ``root`` (default
    :func:`download_root`), verify it and extract it; returns the folder the sample reads.

    A zip already at ``<root>/<parts[0]>/<zip name>`` (put there by hand) is used without
    a download. Files are extracted to a temporary folder, verified, then moved into
    place; the zip is removed after success. Offline this fails within seconds with
    :class:`mrcnn.weights.download.DownloadUnavailable` saying where to put the data by hand.
    """
    from mrcnn.weights.download import download

    source = DATASETS[name]
    root = Path(download_root() if root is None else root).expanduser()
    parent = root.joinpath(*source.parts[:-1])
    top = source.parts[-1]
    final = parent / top
    if (final / source.marker).exists():
        return final
    if final.exists() and any(final.iterdir()):
        raise DataVerificationError(f"{final} exists but holds no {source.marker}/: move it "
                                    "away and run again with --download")
    zip_path = parent / source.zip_name
    if not zip_path.is_file():
        hint = (f"To install it by hand, download {source.url} on a machine with internet "
                f"access and either put the zip at {zip_path} and run again with --download "
                f"(it is verified and extracted), or extract it so that {final} holds "
                f"{source.marker or 'the files'}/ and run with --data {root}.")
        download(source.url, zip_path, source.zip_checksum, what=source.name,
                 timeout=timeout, hint=hint)
    staging = parent / f".{top}.extracting"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        _extract(zip_path, top, staging)
    except zipfile.BadZipFile as error:
        raise DataVerificationError(f"{zip_path} is not a valid zip ({error}); delete it "
                                    "and run again with --download") from error
    try:
        verify_tree(source, staging)
    except DataVerificationError as error:
        raise DataVerificationError(
            f"{error}. The zip is {zip_path} (from {source.url}); the extracted files were "
            f"left in {staging / top} for inspection. If you trust them, move that folder "
            f"to {final}.") from error
    os.replace(staging / top, final)
    shutil.rmtree(staging, ignore_errors=True)
    zip_path.unlink()
    return final


# ------------------------------------------------------------------------ the command line
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


def prepare_sample(name: str, experiment: Callable, find_data: Callable[[], Path],
                   argv: Sequence[str] | None = None) -> list[str]:
    """Apply ``--data DIR`` / ``--download`` of ``argv`` (default: the command line), find
    the data (exit with a message when ``find_data`` raises :class:`DataNotFound`, after
    trying to fetch it with ``--download``), register ``experiment`` as ``name`` in
    ``mrcnn.experiments.compare``; return the rest of ``argv``."""
    options, rest = split_data_options(sys.argv[1:] if argv is None else argv)
    if options.data:
        set_data_root(options.data)
    if "-h" in rest or "--help" in rest:
        print("data options of this sample:\n"
              + _data_options().format_help().split(":\n", 1)[-1])
    else:
        find_or_fetch(name, find_data, options.download)
    import mrcnn.experiments.compare

    mrcnn.experiments.compare.EXPERIMENTS[name] = experiment
    return rest


def run_sample(name: str, experiment: Callable, find_data: Callable[[], Path],
               defaults: Sequence[str], argv: Sequence[str] | None = None) -> dict:
    """The comparison of ``experiment`` (:func:`prepare_sample`) with ``defaults``, then the
    rest of ``argv``."""
    import mrcnn.experiments.compare

    rest = prepare_sample(name, experiment, find_data, argv)
    return mrcnn.experiments.compare.main(["--dataset", name, *defaults, *rest])


def find_or_fetch(name: str, find_data: Callable[[], Path], fetch: bool) -> Path:
    try:
        return find_data()
    except DataNotFound as error:
        if not fetch or name not in DATASETS:
            sys.exit(f"error: {error}")
    from mrcnn.weights.download import DownloadUnavailable

    try:
        folder = fetch_dataset(name)
    except (DownloadUnavailable, DataVerificationError, ValueError) as error:
        sys.exit(f"error: {error}")
    print(f"{DATASETS[name].name}: verified and extracted to {folder}", flush=True)
    try:
        return find_data()
    except DataNotFound as error:
        sys.exit(f"error: {error}")
