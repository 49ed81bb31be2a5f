"""Well-known pretrained weights by name: found in a cache, else downloaded and verified.

    from mrcnn.weights.pretrained import load_pretrained

    model = MaskRCNN("training", config, "logs")
    report = load_pretrained(model, "coco")       # classic COCO Mask R-CNN, no class heads
    report = load_pretrained(model, "imagenet")   # ResNet ImageNet backbone (config.BACKBONE)
    report = load_pretrained(model, "path/to/file.h5")   # any local file

Names (:data:`PRETRAINED`):

- ``coco``: the classic Keras Mask R-CNN (matterport) COCO release ``mask_rcnn_coco.h5``
  (ResNet-101-FPN, 81 classes).
- ``resnet50-imagenet`` / ``resnet101-imagenet``: the Keras applications ResNet50 /
  ResNet101 "notop" ImageNet files; ``imagenet`` picks the one of the model's
  ``config.BACKBONE`` (or of ``backbone=``).

Cache: ``$MRCNN_WEIGHTS`` if set, else ``~/.keras/models`` (``$KERAS_HOME/models``), the
folder where Keras keeps the very same ImageNet files; a file already in Keras' folder is
used too. A cached file is used only if its checksum is the published one. Otherwise it is
downloaded (``keras.utils.get_file`` with the checksum) into the cache. On a machine
without internet access this fails within seconds with :class:`WeightsUnavailable`, whose
message gives the URL, the exact path to put the file at by hand, and its checksum.

Checksums (md5, as published):

- ``mask_rcnn_coco.h5``: ``e98aaff6f99e307b5e2a8a3ff741a518``. The matterport release
  page publishes none; this md5 is the one stated in NVIDIA TensorRT's
  ``samples/opensource/sampleUffMaskRCNN/README.md`` ("The md5sum of model file is ...")
  and listed in ``alibaba/ai-matrix`` ``macro_benchmark/Mask_RCNN/checksum.md5``.
- the ResNet files: Keras' own ``WEIGHTS_HASHES`` (``keras/src/applications/resnet.py``).
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import h5py

from mrcnn.download import (
    DownloadUnavailable,
    describe_checksum,
    download,
    file_matches,
    manual_instructions,
)
from mrcnn.weights.files import load_weights_by_name
from mrcnn.weights.migration import (
    IMAGENET_FILES,
    _text,
    class_specific_layers,
    is_classic_weights_file,
    load_classic_weights,
    load_imagenet_backbone,
)

logger = logging.getLogger(__name__)

WEIGHTS_ENV = "MRCNN_WEIGHTS"
_KERAS_RESNET_URL = "https://storage.googleapis.com/tensorflow/keras-applications/resnet/"


class WeightsUnavailable(DownloadUnavailable):
    """Pretrained weights are neither cached nor downloadable (e.g. offline)."""


@dataclasses.dataclass(frozen=True)
class PretrainedFile:
    """A public weights file: its name on disk, where it comes from, how to check it."""

    filename: str
    url: str
    checksum: str | None  # md5 (32 hex digits) or sha256 (64); None: none published
    kind: str  # "coco" (whole classic Mask R-CNN) or "imagenet" (backbone only)
    backbone: str
    checksum_source: str


PRETRAINED: dict[str, PretrainedFile] = {
    "coco": PretrainedFile(
        filename="mask_rcnn_coco.h5",
        url="https://github.com/matterport/Mask_RCNN/releases/download/v2.0/mask_rcnn_coco.h5",
        checksum="e98aaff6f99e307b5e2a8a3ff741a518",
        kind="coco", backbone="resnet101",
        checksum_source="md5 stated in NVIDIA/TensorRT samples/opensource/sampleUffMaskRCNN/"
                        "README.md and alibaba/ai-matrix macro_benchmark/Mask_RCNN/"
                        "checksum.md5 (the matterport release publishes none)"),
    "resnet50-imagenet": PretrainedFile(
        filename=IMAGENET_FILES["resnet50"],
        url=_KERAS_RESNET_URL + IMAGENET_FILES["resnet50"],
        checksum="4d473c1dd8becc155b73f8504c6f6626",
        kind="imagenet", backbone="resnet50",
        checksum_source="keras/src/applications/resnet.py WEIGHTS_HASHES['resnet50'][1]"),
    "resnet101-imagenet": PretrainedFile(
        filename=IMAGENET_FILES["resnet101"],
        url=_KERAS_RESNET_URL + IMAGENET_FILES["resnet101"],
        checksum="88cf7a10940856eca736dc7b7e228a21",
        kind="imagenet", backbone="resnet101",
        checksum_source="keras/src/applications/resnet.py WEIGHTS_HASHES['resnet101'][1]"),
}
# "imagenet" is the ImageNet file of the backbone (the model's, or backbone=).
KNOWN_NAMES = ("coco", "imagenet", "resnet50-imagenet", "resnet101-imagenet")


def keras_models_dir() -> Path:
    """Where Keras caches applications weights: ``$KERAS_HOME/models`` or
    ``~/.keras/models`` (``/tmp/.keras/models`` when the home folder is read-only)."""
    home = os.environ.get("KERAS_HOME")
    if not home:
        base = os.path.expanduser("~")
        home = os.path.join(base if os.access(base, os.W_OK) else "/tmp", ".keras")
    return Path(home) / "models"


def weights_cache_dir(cache_dir: str | os.PathLike | None = None) -> Path:
    """``cache_dir``, else ``$MRCNN_WEIGHTS``, else Keras' models folder."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    if os.environ.get(WEIGHTS_ENV):
        return Path(os.environ[WEIGHTS_ENV]).expanduser()
    return keras_models_dir()


def pretrained_file(name: str, backbone: str | None = None) -> PretrainedFile:
    """The table entry of a known name (``imagenet``: of ``backbone``, default resnet50).
    ValueError listing the known names for anything else."""
    key = name.strip().lower()
    if key == "imagenet":
        backbone = backbone or "resnet50"
        key = f"{backbone}-imagenet"
        if key not in PRETRAINED:
            raise ValueError(f"no ImageNet weights for backbone {backbone!r}: they exist for "
                             "resnet50 and resnet101 only (train other backbones from "
                             "scratch)")
    elif key in PRETRAINED and PRETRAINED[key].kind == "imagenet" and backbone and \
            backbone != PRETRAINED[key].backbone:
        raise ValueError(f"{name!r} holds {PRETRAINED[key].backbone} weights but the backbone "
                         f"is {backbone!r}; use 'imagenet' or '{backbone}-imagenet'")
    if key not in PRETRAINED:
        raise ValueError(f"unknown pretrained weights {name!r}; known names: "
                         f"{', '.join(KNOWN_NAMES)} (or give the path of a weights file)")
    return PRETRAINED[key]


def _looks_like_path(text: str) -> bool:
    return (os.sep in text or "/" in text or text.startswith((".", "~"))
            or text.lower().endswith((".h5", ".hdf5", ".keras")))


def resolve_weights(name_or_path: str | os.PathLike, cache_dir: str | os.PathLike | None = None,
                    backbone: str | None = None, timeout: float | None = None) -> str:
    """The local path of ``name_or_path``.

    - A known name (:data:`KNOWN_NAMES`, case-insensitive; checked before paths, so write
      ``./coco`` for a file called ``coco``): the cached file if its checksum matches
      (looked for in :func:`weights_cache_dir` and in Keras' models folder), else
      downloaded into :func:`weights_cache_dir` and verified. ``backbone`` chooses the
      ``imagenet`` file (default resnet50).
    - Anything else is a path, returned as it is; FileNotFoundError naming it if missing.
      A string that is neither a path nor a known name raises ValueError listing the names.

    Raises :class:`WeightsUnavailable` (within about ``timeout`` seconds, default
    :data:`mrcnn.download.CONNECT_TIMEOUT_S`, when offline) naming the URL, the path to put
    the file at by hand and its checksum; :class:`mrcnn.download.ChecksumMismatch` when a
    download does not have the published checksum.
    """
    text = os.fspath(name_or_path)
    if isinstance(name_or_path, str) and text.strip().lower() in KNOWN_NAMES:
        return _resolve_known(pretrained_file(text, backbone), cache_dir, timeout)
    path = os.path.expanduser(text)
    if os.path.exists(path):
        return path
    if isinstance(name_or_path, str) and not _looks_like_path(text):
        pretrained_file(text)  # raises the ValueError listing the known names
    raise FileNotFoundError(f"weights file not found: {path} (known names: "
                            f"{', '.join(KNOWN_NAMES)})")


def _resolve_known(entry: PretrainedFile, cache_dir, timeout) -> str:
    folder = weights_cache_dir(cache_dir)
    target = folder / entry.filename
    candidates = [target]
    if cache_dir is None and keras_models_dir() != folder:
        candidates.append(keras_models_dir() / entry.filename)
    rejected = []
    for candidate in candidates:
        if not candidate.is_file():
            continue
        if file_matches(candidate, entry.checksum):
            return str(candidate)
        logger.warning("%s does not have the published %s (incomplete download or another "
                       "file): not used", candidate, describe_checksum(entry.checksum))
        rejected.append(candidate)
    if rejected:
        logger.warning("downloading %s again into %s", entry.url, target)
    note = "".join(f" The file at {p} does not have that checksum (incomplete or another "
                   "file): replace it." for p in rejected)
    hint = manual_instructions(entry.url, target, entry.checksum) + note
    if cache_dir is None and not os.environ.get(WEIGHTS_ENV):
        hint += f" (Set ${WEIGHTS_ENV} to keep weights in another folder.)"
    return download(entry.url, target, entry.checksum, what=f"pretrained weights "
                    f"{entry.filename}", timeout=timeout, unavailable=WeightsUnavailable,
                    hint=hint)


def _model_backbone(model) -> str | None:
    config = getattr(model, "config", None)
    backbone = getattr(config, "BACKBONE", None)
    return backbone if isinstance(backbone, str) else None


def _warn_if_group_norm(model, source: str) -> None:
    """Classic and ImageNet files hold BatchNorm weights: under ``NORM = "group"`` only
    their convs load, followed by GroupNorm layers that start fresh."""
    if getattr(getattr(model, "config", None), "NORM", "batch") == "group":
        logger.warning("%s holds BatchNorm weights; the model uses GroupNorm (NORM = 'group'), "
                       "so only the convs load and every GroupNorm layer starts fresh", source)


def _is_backbone_only(path: str) -> bool:
    """A Keras 2 file without detection layers (fpn_, rpn, mrcnn_): an ImageNet backbone."""
    with h5py.File(path, "r") as f:
        root = f if "layer_names" in f.attrs else f["model_weights"]
        names = [_text(n) for n in root.attrs["layer_names"]]
    return not any(n.startswith(("fpn_", "rpn", "mrcnn_")) for n in names)


def load_pretrained(model, name_or_path: str | os.PathLike,
                    cache_dir: str | os.PathLike | None = None,
                    exclude: Sequence[str] | None = None,
                    timeout: float | None = None) -> dict[str, list]:
    """Load pretrained weights into ``model`` (a MaskRCNN, or a Keras model of the graph)
    and return the load report (``loaded``, ``skipped``, ``mismatched``, ``missing``).

    - ``"coco"``: :func:`mrcnn.weights.migration.load_classic_weights` without the layers whose
      shapes depend on the number of classes
      (:func:`~mrcnn.weights.migration.class_specific_layers`;
      pass ``exclude=()`` to keep them, e.g. to detect the 80 COCO classes).
    - ``"imagenet"`` / ``"resnet50-imagenet"`` / ``"resnet101-imagenet"``:
      :func:`mrcnn.weights.migration.load_imagenet_backbone` (backbone layers only); the model's
      ``config.BACKBONE`` must be that ResNet.
    - a path: a classic Keras 2 file without detection layers loads as an ImageNet backbone,
      another classic file with :func:`load_classic_weights` (``exclude`` default none:
      layers of other shapes are reported as mismatched and left alone), a Keras 3
      ``.weights.h5`` file by layer name.

    Names are resolved by :func:`resolve_weights` (cache, download, WeightsUnavailable).
    """
    backbone = _model_backbone(model)
    text = os.fspath(name_or_path)
    if isinstance(name_or_path, str) and text.strip().lower() in KNOWN_NAMES:
        entry = pretrained_file(text, backbone if text.strip().lower() == "imagenet" else None)
        if entry.kind == "imagenet" and backbone is not None and backbone != entry.backbone:
            raise ValueError(f"{text!r} holds {entry.backbone} weights but the model's "
                             f"BACKBONE is {backbone!r}")
        if entry.kind == "coco" and backbone not in (None, entry.backbone):
            logger.warning("mask_rcnn_coco.h5 is a %s model; the model's BACKBONE is %r: "
                           "only the layers of the same names and shapes load",
                           entry.backbone, backbone)
        path = _resolve_known(entry, cache_dir, timeout)
        _warn_if_group_norm(model, text)
        if entry.kind == "coco":
            return load_classic_weights(
                model, path, exclude=class_specific_layers() if exclude is None else exclude)
        return load_imagenet_backbone(model, path, backbone=entry.backbone)
    path = resolve_weights(name_or_path, cache_dir, backbone, timeout)
    if is_classic_weights_file(path):
        _warn_if_group_norm(model, os.fspath(path))
        if _is_backbone_only(path):
            return load_imagenet_backbone(model, path)
        return load_classic_weights(model, path, exclude=exclude or ())
    if hasattr(model, "keras_model"):
        return model.load_weights(path, exclude=exclude)
    return load_weights_by_name(model, path, exclude or ())
