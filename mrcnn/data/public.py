"""The public data sets mrcnn knows by name (Penn-Fudan, balloon): where they are looked
for, how they are fetched and checked, and how each loads with its fixed split.

Where the data is looked for (the first that holds the data set wins):

- the folder :func:`set_data_root` named (a sample's ``--data DIR``: a folder holding
  ``pennfudan/PennFudanPed`` and/or ``balloon/balloon``; the data set's own folder, e.g.
  ``.../PennFudanPed``, works too);
- else ``$MRCNN_DATA`` if set;
- else ``<repo>/../shared/data``, then the download cache ``~/.cache/mrcnn/data``
  (``$XDG_CACHE_HOME/mrcnn/data``).

:func:`fetch_dataset` downloads a missing data set from its public home (:data:`DATASETS`)
into that folder, else ``$MRCNN_DATA``, else the download cache, checks it and extracts it
to the layout the loaders read. The published zips have no published checksum, so what is
checked is the extracted files: the sha256 of their ``sha256sum``-style listing (one line
``<sha256>  <path>`` per file, sorted by path) must equal the one stored here, which is
the digest of the listing of the reference copy (``shared/data/*/SHA256SUMS``). Nothing
downloads unless asked; offline the download fails within seconds
(:class:`mrcnn.download.DownloadUnavailable`) saying where to put the zip by hand.

The data specs ``pennfudan`` and ``balloon`` (:mod:`mrcnn.data.specs`) load through
:func:`load_public`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import zipfile
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from mrcnn.data.cache import CachedDataset
from mrcnn.data.dataset import Dataset
from mrcnn.data.label_images import LabelImageDataset
from mrcnn.data.via import ViaDataset
from mrcnn.download import default_cache_home, download

DATA_ENV = "MRCNN_DATA"
REPO = Path(__file__).resolve().parents[2]
# Penn-Fudan: the last 50 images by file name are held out.
PENNFUDAN_HELD_OUT = 50
# Balloon photos are up to 2048 px; they are cached in memory with the longer side at most
# this (decoding and polygon filling happen once; evaluation is at that resolution).
BALLOON_CACHE_MAX_DIM = 1024

# Set by set_data_root: the only place looked at, and where fetch_dataset extracts.
_data_override: Path | None = None


class DataNotFound(FileNotFoundError):
    """A public data set is not where it is looked for."""


class DataVerificationError(ValueError):
    """Downloaded or extracted data does not match the expected files."""


@dataclasses.dataclass(frozen=True)
class DataSource:
    """A data set's public home and what its extracted files must be.

    ``parts``: the folder the loader reads, under the data root (its last part is the
    zip's top folder, extracted into ``root/parts[:-1]``). ``tree_sha256``: sha256 of the
    ``sha256sum``-style listing of the files under that top folder (:func:`tree_digest`),
    ``files``: their number. ``zip_checksum``: the zip's md5/sha256 where one is published.
    ``marker``: a name the data set's folder holds (how a root that is the folder itself is
    recognised).
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
    return default_cache_home() / "mrcnn" / "data"


def set_data_root(path: str | os.PathLike | None) -> None:
    """Use ``path`` as the only data root (a sample's ``--data``); None: back to the
    defaults."""
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
    """The first data root: the one set, ``$MRCNN_DATA``, or ``<repo>/../shared/data``."""
    return data_roots()[0]


def download_root() -> Path:
    """Where :func:`fetch_dataset` puts data: the root set, ``$MRCNN_DATA`` or the download
    cache."""
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
    if name not in DATASETS:
        raise ValueError(f"unknown public data set {name!r}; known: {sorted(DATASETS)}")
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


# ------------------------------------------------------------------------ loading
def pennfudan_split(root: str | os.PathLike | None = None) -> dict[str, list[tuple[Path, Path]]]:
    """``{"train": [(image, label image)] * 120, "val": [...] * 50}``: the 170 images sorted
    by file name (``FudanPed00001`` .. ``PennPed00096``), the last 50 held out."""
    root = dataset_dir("pennfudan") if root is None else Path(root)
    images = sorted((root / "PNGImages").glob("*.png"))
    if not images:
        raise FileNotFoundError(f"no PNG images in {root / 'PNGImages'}")
    pairs = [(image, root / "PedMasks" / f"{image.stem}_mask.png") for image in images]
    if len(pairs) <= PENNFUDAN_HELD_OUT:
        raise ValueError(f"{root}: {len(pairs)} images; need more than {PENNFUDAN_HELD_OUT}")
    return {"train": pairs[:-PENNFUDAN_HELD_OUT], "val": pairs[-PENNFUDAN_HELD_OUT:]}


def load_pennfudan(subset: str, root: str | os.PathLike | None = None,
                   limit: int | None = None, cache: bool = True) -> Dataset:
    """Penn-Fudan's prepared ``subset`` ("train" or "val"), one class "pedestrian", wrapped
    in an in-memory :class:`CachedDataset` unless ``cache`` is False; ``limit``: the first
    N images."""
    if subset not in ("train", "val"):
        raise ValueError(f"subset must be 'train' or 'val', got {subset!r}")
    pairs = pennfudan_split(root)[subset][:limit]
    dataset = LabelImageDataset()
    dataset.load_label_images([p for p, _ in pairs], [q for _, q in pairs],
                              class_name="pedestrian", source="pennfudan")
    dataset.prepare()
    return CachedDataset(dataset) if cache else dataset


def load_balloon(subset: str, root: str | os.PathLike | None = None, limit: int | None = None,
                 cache_max_dim: int | None = BALLOON_CACHE_MAX_DIM) -> Dataset:
    """The balloon data set's prepared ``subset`` ("train": 61 photos, "val": 13), one
    class "balloon", wrapped in an in-memory :class:`CachedDataset` (longer side <=
    ``cache_max_dim``; None: no cache); ``limit``: the first N images of the json."""
    if subset not in ("train", "val"):
        raise ValueError(f"subset must be 'train' or 'val', got {subset!r}")
    folder = (dataset_dir("balloon") if root is None else Path(root)) / subset
    dataset = ViaDataset()
    dataset.load_via(folder / "via_region_data.json", folder, class_names=["balloon"],
                     source="balloon")
    if limit is not None:
        dataset.image_info = dataset.image_info[:limit]
    dataset.prepare()
    return CachedDataset(dataset, max_dim=cache_max_dim) if cache_max_dim else dataset


def load_public(name: str, root: str | os.PathLike | None = None) -> tuple[Dataset, Dataset]:
    """``(training set, held-out set)`` of data set ``name`` of :data:`DATASETS`, its fixed
    split, found by :func:`dataset_dir` unless ``root`` names its folder."""
    loaders = {"pennfudan": load_pennfudan, "balloon": load_balloon}
    if name not in loaders:
        raise ValueError(f"unknown public data set {name!r}; known: {sorted(loaders)}")
    return loaders[name]("train", root), loaders[name]("val", root)


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
    :func:`download_root`), verify it and extract it; returns the folder the loader reads.

    A zip already at ``<root>/<parts[0]>/<zip name>`` (put there by hand) is used without
    a download. Files are extracted to a temporary folder, verified, then moved into
    place; the zip is removed after success. Offline this fails within seconds with
    :class:`mrcnn.download.DownloadUnavailable` saying where to put the data by hand.
    """
    if name not in DATASETS:
        raise ValueError(f"unknown public data set {name!r}; known: {sorted(DATASETS)}")
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
