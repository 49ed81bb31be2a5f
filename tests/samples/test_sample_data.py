"""Where the real-data samples find their data (--data, $MRCNN_DATA, defaults; the lookup is
mrcnn.data.public's), the message when it is missing, and --download (checked extraction,
fail-fast offline).

Nothing is downloaded: zips are built here and "fetched" from file:// URLs or put where a
user would put them by hand; the one real network attempt stops before any transfer.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import mrcnn.download
import mrcnn.experiments.compare
from mrcnn.data import public
from mrcnn.download import DownloadUnavailable
from tests.helpers import HANG_GUARD_S
from tests.samples import SAMPLES, sample_module

REPO = Path(__file__).resolve().parents[2]

common = sample_module("samples_common", SAMPLES / "samples_common.py")


def pennfudan_dir() -> Path:
    return public.dataset_dir("pennfudan")


def balloon_dir() -> Path:
    return public.dataset_dir("balloon")


def shared_data() -> Path:
    return Path(os.environ.get("MRCNN_DATA") or REPO.parent / "shared" / "data")


@pytest.fixture(autouse=True)
def default_places(monkeypatch, tmp_path):
    """No --data, no $MRCNN_DATA, the repository's ../shared/data and the download cache
    in tmp_path (empty): each test sets what it needs."""
    monkeypatch.delenv("MRCNN_DATA", raising=False)
    monkeypatch.setattr(public, "REPO", tmp_path / "repo")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    public.set_data_root(None)
    yield
    public.set_data_root(None)


def fake_pennfudan(root: Path) -> Path:
    folder = root / "pennfudan" / "PennFudanPed"
    (folder / "PNGImages").mkdir(parents=True)
    (folder / "PedMasks").mkdir()
    return folder


def fake_balloon(root: Path) -> Path:
    folder = root / "balloon" / "balloon"
    for split in ("train", "val"):
        (folder / split).mkdir(parents=True)
    return folder


# ------------------------------------------------------------------------ --data
def test_data_option_is_stripped_and_points_anywhere(tmp_path, monkeypatch):
    root = tmp_path / "my data"
    folder = fake_pennfudan(root)
    options, rest = common.split_data_options(
        ["--heads", "fcn", "--data", str(root), "--epochs", "2", "--dataset-note", "x"])
    assert options.data == str(root) and not options.download
    assert rest == ["--heads", "fcn", "--epochs", "2", "--dataset-note", "x"]
    options, rest = common.split_data_options([f"--data={root}", "--download", "--seeds", "1"])
    assert options.data == str(root) and options.download and rest == ["--seeds", "1"]

    public.set_data_root(root)
    assert pennfudan_dir() == folder.resolve()
    public.set_data_root(root / "pennfudan")  # the data set's folder or the leaf work too
    assert pennfudan_dir() == folder.resolve()
    public.set_data_root(folder)
    assert pennfudan_dir() == folder.resolve()
    balloons = fake_balloon(tmp_path / "b")
    public.set_data_root(balloons)
    assert balloon_dir() == balloons.resolve()
    # --data wins over $MRCNN_DATA.
    monkeypatch.setenv("MRCNN_DATA", str(tmp_path / "elsewhere"))
    public.set_data_root(root)
    assert pennfudan_dir() == folder.resolve()


def test_run_sample_passes_the_rest_of_argv_to_compare(tmp_path, monkeypatch):
    root = tmp_path / "data"
    folder = fake_pennfudan(root)
    seen = {}

    def fake_main(argv):
        seen["argv"] = argv
        seen["dir"] = pennfudan_dir()
        return {}

    monkeypatch.setattr(mrcnn.experiments.compare, "main", fake_main)
    common.run_sample("pennfudan", ["--seeds", "1"], ["--data", str(root), "--heads", "fcn"])
    assert seen == {"argv": ["--dataset", "pennfudan", "--seeds", "1", "--heads", "fcn"],
                    "dir": folder.resolve()}


def test_data_option_with_the_real_data_sets():
    root = shared_data()
    if not (root / "pennfudan" / "PennFudanPed").is_dir():
        pytest.skip(f"no Penn-Fudan copy at {root} (set MRCNN_DATA to a folder with "
                    "pennfudan/PennFudanPed to run this test)")
    public.set_data_root(root)
    split = public.pennfudan_split()
    assert (len(split["train"]), len(split["val"])) == (120, 50)
    public.set_data_root(root / "pennfudan" / "PennFudanPed")
    assert len(public.pennfudan_split()["val"]) == 50


def test_the_reference_copies_have_the_stored_listing_digests():
    """The digests in DATASETS are `sha256sum SHA256SUMS` of the shared copies, and
    tree_digest recomputes them from the files."""
    for name, source in public.DATASETS.items():
        parent = shared_data() / source.parts[0]
        if not (parent / "SHA256SUMS").is_file():
            pytest.skip(f"no {name} copy with SHA256SUMS at {parent}")
        sums = hashlib.sha256((parent / "SHA256SUMS").read_bytes()).hexdigest()
        assert sums == source.tree_sha256
        assert public.tree_digest(parent, source.parts[-1]) == (sums, source.files)


# ------------------------------------------------------------------------ missing data
def test_missing_data_says_where_it_looked_and_how_to_get_it(tmp_path):
    with pytest.raises(public.DataNotFound) as error:
        pennfudan_dir()
    message = str(error.value)
    shared = tmp_path / "shared" / "data" / "pennfudan" / "PennFudanPed"
    cache = tmp_path / "cache" / "mrcnn" / "data" / "pennfudan" / "PennFudanPed"
    for part in (f"not found at {shared}", f"(nor at {cache})", "--data DIR", "--download",
                 public.DATASETS["pennfudan"].url, "MRCNN_DATA"):
        assert part in message
    assert "README" not in message and "\n" not in message
    public.set_data_root(tmp_path / "mine")
    with pytest.raises(public.DataNotFound, match="balloon data set .* not found at "
                       f"{tmp_path / 'mine' / 'balloon' / 'balloon'}. Pass --data DIR"):
        balloon_dir()


def test_run_sample_exits_with_the_message_without_download(monkeypatch):
    monkeypatch.setattr(mrcnn.experiments.compare, "main", lambda argv: pytest.fail("compare ran"))
    with pytest.raises(SystemExit) as stop:
        common.run_sample("balloon", [], [])
    assert str(stop.value.code).startswith("error: the balloon data set (balloon/balloon/) "
                                           "not found at ")
    assert "--download" in str(stop.value.code)


# ------------------------------------------------------------------------ --download
def make_zip(path: Path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return path


TOY = {"toy/sub/a.png": b"pixels", "toy/sub/b.png": b"more pixels", "toy/readme.txt": b"hi"}


def toy_source(monkeypatch, url: str) -> public.DataSource:
    """A tiny data set ``toy/`` in place of Penn-Fudan; its digest is computed here the way
    `sha256sum` writes SHA256SUMS (sorted paths, two spaces)."""
    listing = "".join(f"{hashlib.sha256(TOY[n]).hexdigest()}  {n}\n" for n in sorted(TOY))
    source = public.DataSource(name="the toy set (toy/)", url=url, parts=("toyset", "toy"),
                               tree_sha256=hashlib.sha256(listing.encode()).hexdigest(),
                               files=3, marker="sub")
    monkeypatch.setitem(public.DATASETS, "pennfudan", source)
    return source


def test_a_zip_put_by_hand_is_verified_and_extracted_without_network(tmp_path, monkeypatch,
                                                                     no_network):
    toy_source(monkeypatch, "https://example.invalid/toy.zip")
    root = tmp_path / "root"
    (root / "toyset").mkdir(parents=True)
    make_zip(root / "toyset" / "toy.zip",
             {**TOY, "__MACOSX/toy/._readme.txt": b"junk", "toy/.DS_Store": b"junk"})
    folder = public.fetch_dataset("pennfudan", root)
    assert folder == root / "toyset" / "toy"
    assert (folder / "sub" / "b.png").read_bytes() == b"more pixels"
    assert sorted(p.name for p in (root / "toyset").iterdir()) == ["toy"], \
        "zip and staging folder removed, no __MACOSX"
    assert public.fetch_dataset("pennfudan", root) == folder  # present: nothing to do


def test_a_modified_file_is_rejected(tmp_path, monkeypatch, no_network):
    source = toy_source(monkeypatch, "https://example.invalid/toy.zip")
    root = tmp_path / "root"
    (root / "toyset").mkdir(parents=True)
    make_zip(root / "toyset" / "toy.zip", {**TOY, "toy/sub/a.png": b"pixelz"})
    with pytest.raises(public.DataVerificationError) as error:
        public.fetch_dataset("pennfudan", root)
    message = str(error.value)
    assert f"expected {source.tree_sha256}" in message and "left in" in message
    assert not (root / "toyset" / "toy").exists()
    # A missing file is rejected too.
    (root / "toyset" / "toy.zip").unlink()
    make_zip(root / "toyset" / "toy.zip", {k: v for k, v in TOY.items() if "b.png" not in k})
    with pytest.raises(public.DataVerificationError, match="the 2 files under"):
        public.fetch_dataset("pennfudan", root)


def test_download_option_fetches_verifies_and_runs(tmp_path, monkeypatch):
    """--download end to end, the zip served from a file:// URL (no network)."""
    served = make_zip(tmp_path / "toy.zip", TOY)
    toy_source(monkeypatch, served.as_uri())
    seen = {}

    def fake_main(argv):
        seen["argv"] = argv
        return {}

    monkeypatch.setattr(mrcnn.experiments.compare, "main", fake_main)
    root = tmp_path / "data"
    common.run_sample("pennfudan", [], ["--download", "--data", str(root), "--heads", "unet"])
    assert seen["argv"] == ["--dataset", "pennfudan", "--heads", "unet"]
    assert (root / "toyset" / "toy" / "sub" / "a.png").read_bytes() == b"pixels"
    # Without --data and $MRCNN_DATA, the download goes to the cache and is found there.
    public.set_data_root(None)
    common.run_sample("pennfudan", [], ["--download"])
    assert (tmp_path / "cache" / "mrcnn" / "data" / "toyset" / "toy" / "sub").is_dir()
    assert public.dataset_dir("pennfudan") == tmp_path / "cache/mrcnn/data/toyset/toy"


def test_offline_download_fails_fast_with_where_to_put_the_data(tmp_path, monkeypatch):
    def unreachable(url, timeout=None):
        raise OSError("cannot resolve 'www.cis.upenn.edu' (offline)")

    monkeypatch.setattr(mrcnn.download, "check_reachable", unreachable)
    monkeypatch.setattr(mrcnn.download, "_get_file", lambda *a: pytest.fail("transfer"))
    with pytest.raises(DownloadUnavailable) as error:
        public.fetch_dataset("pennfudan", tmp_path)
    message = str(error.value)
    for part in ("https://www.cis.upenn.edu/~jshi/ped_html/PennFudanPed.zip",
                 f"put the zip at {tmp_path / 'pennfudan' / 'PennFudanPed.zip'}",
                 f"--data {tmp_path}", "offline"):
        assert part in message
    monkeypatch.setattr(mrcnn.experiments.compare, "main", lambda argv: pytest.fail("compare ran"))
    with pytest.raises(SystemExit, match="error: could not download Penn-Fudan"):
        common.run_sample("pennfudan", [], ["--data", str(tmp_path), "--download"])


def test_real_offline_download_of_the_sample_fails_within_seconds(tmp_path):
    """The balloon sample's --download for real, on this machine (no route to github.com);
    skipped where github.com is reachable, so nothing is ever downloaded."""
    url = public.DATASETS["balloon"].url
    try:
        mrcnn.download.check_reachable(url, timeout=3)
    except OSError:
        pass
    else:
        pytest.skip("github.com is reachable here: --download would really download")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "MRCNN_DATA": str(tmp_path)}
    # How fast the network part fails is bounded in-process (tests/weights/
    # test_pretrained.py); here the whole command must fail cleanly, and the wall time is
    # mostly TensorFlow's import, which a busy machine stretches.
    run = subprocess.run([sys.executable, str(SAMPLES / "balloon" / "train.py"), "--download",
                          "--epochs", "1"], env=env, capture_output=True, text=True,
                         timeout=HANG_GUARD_S)
    assert run.returncode == 1, run.stderr[-2000:]
    assert f"error: could not download the balloon data set (balloon/balloon/) from {url}" \
        in run.stderr
    assert str(tmp_path / "balloon" / "balloon_dataset.zip") in run.stderr
    assert not any(tmp_path.rglob("*.zip*"))
