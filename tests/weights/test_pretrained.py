"""Pretrained weights by name (mrcnn.weights.pretrained): cache, checksum, fail-fast offline,
loaders.

Nothing is downloaded here: the network functions are replaced by ones that fail the test,
"downloads" use file:// URLs, and the one real network attempt stops before any transfer.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import socket
import threading
import time
import types
import urllib.error

import pytest

import mrcnn.download
import mrcnn.weights.pretrained as pretrained
from mrcnn.download import ChecksumMismatch, check_reachable
from mrcnn.weights.migration import class_specific_layers
from mrcnn.weights.pretrained import (
    KNOWN_NAMES,
    PRETRAINED,
    WeightsUnavailable,
    load_pretrained,
    resolve_weights,
)
from tests.helpers import NetworkUsed


@pytest.fixture
def offline(monkeypatch):
    """The connection check fails as it does on a machine without network."""
    def unreachable(url, timeout=None):
        raise OSError("cannot resolve 'github.com' ([Errno -2] Name or service not known: "
                      "is this machine offline?)")

    def transfer(*args, **kwargs):
        raise NetworkUsed("get_file called although the host is unreachable")

    monkeypatch.setattr(mrcnn.download, "check_reachable", unreachable)
    monkeypatch.setattr(mrcnn.download, "_get_file", transfer)


@pytest.fixture(autouse=True)
def no_weights_env(monkeypatch, tmp_path):
    """The user's $MRCNN_WEIGHTS / ~/.keras are never looked at: KERAS_HOME is a tmp dir."""
    monkeypatch.delenv(pretrained.WEIGHTS_ENV, raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))


def md5(path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def with_checksum(monkeypatch, name: str, checksum: str | None, **changes):
    entry = dataclasses.replace(PRETRAINED[name], checksum=checksum, **changes)
    monkeypatch.setitem(PRETRAINED, name, entry)
    return entry


def test_table_uses_the_published_keras_hashes_and_urls():
    from keras.src.applications import resnet

    for backbone in ("resnet50", "resnet101"):
        entry = PRETRAINED[f"{backbone}-imagenet"]
        assert entry.checksum == resnet.WEIGHTS_HASHES[backbone][1]  # the "notop" file
        assert entry.url == resnet.BASE_WEIGHTS_PATH + entry.filename
        assert entry.filename == f"{backbone}_weights_tf_dim_ordering_tf_kernels_notop.h5"
    coco = PRETRAINED["coco"]
    assert coco.url.endswith("/releases/download/v2.0/mask_rcnn_coco.h5")
    assert coco.checksum == "e98aaff6f99e307b5e2a8a3ff741a518" and "TensorRT" in \
        coco.checksum_source
    assert pretrained.pretrained_file("imagenet").backbone == "resnet50"
    assert pretrained.pretrained_file("ImageNet", "resnet101").backbone == "resnet101"


def test_unknown_names_and_missing_paths_are_clear_errors(tmp_path, no_network):
    with pytest.raises(ValueError, match="unknown pretrained weights 'cocoo'; known names: "
                       + ", ".join(KNOWN_NAMES)):
        resolve_weights("cocoo")
    with pytest.raises(ValueError, match="resnet50 and resnet101 only"):
        resolve_weights("imagenet", backbone="resnet_light")
    with pytest.raises(ValueError, match="holds resnet50 weights but the backbone"):
        resolve_weights("resnet50-imagenet", backbone="resnet101")
    missing = tmp_path / "mine.h5"
    with pytest.raises(FileNotFoundError, match=str(missing)):
        resolve_weights(str(missing))
    missing.write_bytes(b"x")
    assert resolve_weights(str(missing)) == str(missing)
    assert resolve_weights(missing) == str(missing)


@pytest.mark.parametrize("algorithm", ["md5", "sha256"])
def test_cached_file_with_the_right_checksum_is_used_without_network(
        monkeypatch, tmp_path, no_network, algorithm):
    cache = tmp_path / "cache"
    cache.mkdir()
    path = cache / "mask_rcnn_coco.h5"
    path.write_bytes(b"classic weights")
    with_checksum(monkeypatch, "coco", hashlib.new(algorithm, path.read_bytes()).hexdigest())
    assert resolve_weights("coco", cache_dir=cache) == str(path)
    monkeypatch.setenv(pretrained.WEIGHTS_ENV, str(cache))  # the default cache folder
    assert resolve_weights("COCO") == str(path)


def test_a_file_in_keras_own_cache_is_used(monkeypatch, tmp_path, no_network):
    keras_models = tmp_path / "keras_home" / "models"
    keras_models.mkdir(parents=True)
    path = keras_models / PRETRAINED["resnet101-imagenet"].filename
    path.write_bytes(b"imagenet resnet101")
    with_checksum(monkeypatch, "resnet101-imagenet", md5(path))
    monkeypatch.setenv(pretrained.WEIGHTS_ENV, str(tmp_path / "elsewhere"))
    assert resolve_weights("imagenet", backbone="resnet101") == str(path)


def test_a_cached_file_with_a_wrong_checksum_is_reported(tmp_path, offline, caplog):
    cache = tmp_path / "cache"
    cache.mkdir()
    bad = cache / "mask_rcnn_coco.h5"
    bad.write_bytes(b"truncated download")
    with caplog.at_level(logging.WARNING, logger="mrcnn.weights.pretrained"):
        with pytest.raises(WeightsUnavailable) as error:
            resolve_weights("coco", cache_dir=cache)
    assert f"{bad} does not have the published md5 e98aaff6f99e307b5e2a8a3ff741a518" in \
        caplog.text
    assert f"The file at {bad} does not have that checksum" in str(error.value)
    assert bad.read_bytes() == b"truncated download", "the user's file is left alone"


def test_offline_fails_fast_naming_the_url_the_target_and_the_checksum(tmp_path, offline):
    entry = PRETRAINED["coco"]
    start = time.monotonic()
    with pytest.raises(WeightsUnavailable) as error:
        resolve_weights("coco", cache_dir=tmp_path)
    assert time.monotonic() - start < 2
    message = str(error.value)
    assert isinstance(error.value, RuntimeError)
    for part in (entry.url, f"put it at {tmp_path / entry.filename}",
                 f"md5 {entry.checksum}", "offline"):
        assert part in message
    assert not list(tmp_path.iterdir())


def test_transfer_errors_become_weights_unavailable_and_leave_nothing(monkeypatch, tmp_path):
    monkeypatch.setattr(mrcnn.download, "check_reachable", lambda url, timeout=None: None)

    def broken(url, target, checksum):
        open(target, "wb").write(b"half")
        raise urllib.error.URLError("connection reset")

    monkeypatch.setattr(mrcnn.download, "_get_file", broken)
    with pytest.raises(WeightsUnavailable, match="connection reset.*put it at"):
        resolve_weights("resnet50-imagenet", cache_dir=tmp_path)
    assert not list(tmp_path.iterdir())


def test_download_verifies_the_checksum_and_renames_atomically(monkeypatch, tmp_path):
    """A real transfer through keras.utils.get_file, from a file:// URL (no network)."""
    source = tmp_path / "served.h5"
    source.write_bytes(b"weights from the release page")
    cache = tmp_path / "cache"
    with_checksum(monkeypatch, "coco", md5(source), url=source.as_uri())
    path = resolve_weights("coco", cache_dir=cache)
    assert path == str(cache / "mask_rcnn_coco.h5") and md5(cache / "mask_rcnn_coco.h5") == \
        md5(source)
    assert sorted(p.name for p in cache.iterdir()) == ["mask_rcnn_coco.h5"]
    # A file with another checksum is rejected and removed; a cached good one is untouched.
    with_checksum(monkeypatch, "resnet50-imagenet", "0" * 32, url=source.as_uri())
    with pytest.raises(ChecksumMismatch, match="does not have the published md5 0000"):
        resolve_weights("resnet50-imagenet", cache_dir=cache)
    assert sorted(p.name for p in cache.iterdir()) == ["mask_rcnn_coco.h5"]


def test_a_hanging_connection_is_cut_at_the_timeout(monkeypatch):
    release = threading.Event()

    def hang(*args, **kwargs):
        release.wait(30)
        raise OSError("released")

    monkeypatch.setattr(socket, "create_connection", hang)
    start = time.monotonic()
    try:
        with pytest.raises(TimeoutError, match="within 0.5 s"):
            check_reachable("https://github.com/x", timeout=0.5)
    finally:
        release.set()
    assert time.monotonic() - start < 3


def test_real_offline_attempt_fails_within_seconds(monkeypatch, tmp_path):
    """The real connection check against github.com (this machine has no route there)."""
    class Transfer(Exception):
        pass

    def no_transfer(*args, **kwargs):
        raise Transfer

    monkeypatch.setattr(mrcnn.download, "_get_file", no_transfer)  # never download
    start = time.monotonic()
    try:
        resolve_weights("coco", cache_dir=tmp_path, timeout=2)
    except WeightsUnavailable as error:
        elapsed = time.monotonic() - start
        assert elapsed < 10, f"offline failure took {elapsed:.1f} s"
        assert PRETRAINED["coco"].url in str(error) and str(tmp_path / "mask_rcnn_coco.h5") \
            in str(error)
    except Transfer:
        pytest.skip("github.com is reachable from this machine: the offline path cannot be "
                    "exercised for real (nothing was downloaded)")
    else:
        pytest.fail("resolve_weights returned without a cached file or a download")


# ----------------------------------------------------------------- load_pretrained dispatch

def test_load_pretrained_coco_skips_the_class_specific_layers(monkeypatch, tmp_path,
                                                              no_network):
    from mrcnn.model import MaskRCNN
    from tests.helpers import tiny_config
    from tests.weights.test_migration import classic_groups, write_keras2_h5

    model = MaskRCNN("inference", tiny_config(), str(tmp_path / "logs"))
    cache = tmp_path / "cache"
    cache.mkdir()
    path = cache / "mask_rcnn_coco.h5"
    write_keras2_h5(path, classic_groups(model.keras_model))
    with_checksum(monkeypatch, "coco", md5(path))
    report = load_pretrained(model, "coco", cache_dir=cache)
    class_layers = {"mrcnn_class_logits", "mrcnn_bbox_fc", "mrcnn_mask"}
    assert class_layers <= set(report["skipped"]) and not class_layers & set(report["loaded"])
    assert set(report["skipped"]) - {"some_old_layer"} <= set(class_specific_layers())
    assert "rpn_conv_shared" in report["loaded"] and report["mismatched"] == []
    report = load_pretrained(model, "coco", cache_dir=cache, exclude=())
    assert class_layers <= set(report["loaded"])
    # The same file by path: a classic Mask R-CNN file, nothing excluded by default.
    report = load_pretrained(model, str(path))
    assert class_layers <= set(report["loaded"])


def test_load_pretrained_imagenet_picks_the_models_resnet(monkeypatch, tmp_path, no_network):
    calls = []
    monkeypatch.setattr(pretrained, "load_imagenet_backbone",
                        lambda model, path, backbone=None: calls.append((path, backbone)) or {})
    cache = tmp_path / "cache"
    cache.mkdir()
    for backbone in ("resnet50", "resnet101"):
        path = cache / PRETRAINED[f"{backbone}-imagenet"].filename
        path.write_bytes(backbone.encode())
        with_checksum(monkeypatch, f"{backbone}-imagenet", md5(path))

    def model(backbone):
        return types.SimpleNamespace(config=types.SimpleNamespace(BACKBONE=backbone))

    load_pretrained(model("resnet101"), "imagenet", cache_dir=cache)
    load_pretrained(model("resnet50"), "imagenet", cache_dir=cache)
    load_pretrained(model("resnet50"), "resnet50-imagenet", cache_dir=cache)
    assert calls == [(str(cache / PRETRAINED["resnet101-imagenet"].filename), "resnet101"),
                     (str(cache / PRETRAINED["resnet50-imagenet"].filename), "resnet50"),
                     (str(cache / PRETRAINED["resnet50-imagenet"].filename), "resnet50")]
    with pytest.raises(ValueError, match="holds resnet50 weights but the model's BACKBONE"):
        load_pretrained(model("resnet101"), "resnet50-imagenet", cache_dir=cache)
    with pytest.raises(ValueError, match="resnet50 and resnet101 only"):
        load_pretrained(model("resnet_light"), "imagenet", cache_dir=cache)


def test_load_pretrained_path_to_an_imagenet_file_loads_the_backbone(monkeypatch, tmp_path):
    import numpy as np

    from tests.weights.test_migration import write_keras2_h5

    calls = []
    monkeypatch.setattr(pretrained, "load_imagenet_backbone",
                        lambda model, path, backbone=None: calls.append(path) or {})
    path = tmp_path / "resnet50_notop.h5"
    write_keras2_h5(path, [("conv1_conv", [("conv1_conv/kernel:0", np.zeros((7, 7, 3, 4)))]),
                           ("conv1_bn", [("conv1_bn/gamma:0", np.ones(4))])])
    load_pretrained(types.SimpleNamespace(config=None), str(path))
    assert calls == [str(path)]


def test_batch_norm_files_warn_when_the_model_uses_group_norm(monkeypatch, tmp_path, caplog):
    import numpy as np

    from tests.weights.test_migration import write_keras2_h5

    monkeypatch.setattr(pretrained, "load_imagenet_backbone", lambda *a, **k: {})
    path = tmp_path / "resnet50_notop.h5"
    write_keras2_h5(path, [("conv1_conv", [("conv1_conv/kernel:0", np.zeros((7, 7, 3, 4)))])])
    for norm, warned in (("batch", False), ("group", True)):
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger=pretrained.logger.name):
            load_pretrained(types.SimpleNamespace(config=types.SimpleNamespace(NORM=norm)),
                            str(path))
        assert ("every GroupNorm layer starts fresh" in caplog.text) is warned
