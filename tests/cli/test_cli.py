"""The command line: data set specs, hold-out splits, and train -> detect -> evaluate ->
compare on small temporary data."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from pycocotools.coco import COCO

from mrcnn.cli import main
from mrcnn.data import ShapesDataset
from mrcnn.data.specs import DataSpecError, evaluation_set, parse_spec, train_and_held_out
from mrcnn.data.subset import DatasetSubset, holdout_split
from tests.helpers import SHARED_DATA

COCO_DIR = SHARED_DATA / "coco"
BALLOON = SHARED_DATA / "balloon" / "balloon"
needs_coco = pytest.mark.needs_data("coco/annotations")
needs_balloon = pytest.mark.needs_data("balloon/balloon")


@pytest.mark.parametrize("text, message", [
    ("pascal:x", "unknown kind 'pascal'"),
    ("coco:only.json", "expected coco:ANNOTATIONS.json:IMAGES"),
    ("coco:missing.json:images", "file not found: missing.json"),
    ("labels:nowhere:also", "folder not found: nowhere"),
    ("shapes:many", "expected shapes or shapes:N"),
    ("balloon:train", "expected balloon alone"),
])
def test_bad_specs_are_named(text, message):
    with pytest.raises(DataSpecError, match=message):
        parse_spec(text)


def test_holdout_subset_serves_the_parents_images_and_masks():
    dataset = ShapesDataset()
    dataset.load_shapes(6, 64, 64, seed=1)
    dataset.prepare()
    train, held_out = holdout_split(dataset, 2)
    assert (train.num_images, held_out.num_images) == (4, 2)
    assert train.class_names == held_out.class_names == dataset.class_names
    np.testing.assert_array_equal(held_out.load_image(1), dataset.load_image(5))
    for a, b in zip(held_out.load_mask(0), dataset.load_mask(4)):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="cannot hold out 6 of 6"):
        holdout_split(dataset, 6)
    with pytest.raises(ValueError, match=r"image ids \[9\]"):
        DatasetSubset(dataset, [0, 9])


def write_label_folder(root: Path, count: int = 4, size: int = 64) -> tuple[Path, Path]:
    """Images with one or two bright squares, and their instance label images
    (``_mask`` suffix, as Penn-Fudan names them), plus an unlabelled image and a text file."""
    images, labels = root / "images", root / "labels"
    images.mkdir(parents=True)
    labels.mkdir()
    rng = np.random.default_rng(0)
    for i in range(count):
        image = np.full((size, size, 3), 30, np.uint8)
        label = np.zeros((size, size), np.uint8)
        for k in range(1 + i % 2):
            y, x = rng.integers(4, size - 28, 2)
            image[y:y + 20, x:x + 20] = (220, 200, 40)
            label[y:y + 20, x:x + 20] = k + 1
        Image.fromarray(image).save(images / f"img{i}.png")
        Image.fromarray(label).save(labels / f"img{i}_mask.png")
    Image.fromarray(np.zeros((size, size, 3), np.uint8)).save(images / "unlabelled.png")
    (images / "notes.txt").write_text("not an image")
    return images, labels


def test_label_spec_pairs_by_file_name_and_holds_out_the_last(tmp_path, capsys):
    images, labels = write_label_folder(tmp_path)
    train, held_out = train_and_held_out(f"labels:{images}:{labels}", holdout=1)
    assert "1 image(s)" in capsys.readouterr().out  # unlabelled.png is named as left out
    assert (train.num_images, held_out.num_images) == (3, 1)
    assert held_out.image_reference(0).endswith("img3.png")
    masks, class_ids = held_out.load_mask(0)
    assert masks.shape[-1] == 2 and list(class_ids) == [1, 1]
    assert train.class_names == ["BG", "object"]


def test_a_label_spec_can_name_its_class(tmp_path):
    images, labels = write_label_folder(tmp_path)
    train, _ = train_and_held_out(f"labels:{images}:{labels}:pedestrian", holdout=1)
    assert train.class_names == ["BG", "pedestrian"] and train.num_images == 3


@needs_balloon
def test_via_spec_uses_the_train_and_val_folders():
    train, val = train_and_held_out(f"via:{BALLOON}")
    assert (train.num_images, val.num_images) == (61, 13)
    assert evaluation_set(f"via:{BALLOON}").num_images == 13


@needs_coco
def test_coco_spec_holds_out_and_keeps_crowd_regions_for_evaluation():
    spec = (f"coco:{COCO_DIR / 'annotations' / 'instances_val2017.json'}:"
            f"{COCO_DIR / 'images' / 'val2017'}")
    train, held_out = train_and_held_out(spec, holdout=2)
    assert (train.num_images, held_out.num_images) == (4, 2)
    crowd = [held_out.load_mask_with_crowd(i)[1] for i in range(2)] + \
        [train.load_mask_with_crowd(i)[1] for i in range(4)]
    assert sum(int((ids < 0).sum()) for ids in crowd) == 1  # the file's one crowd region
    assert all((held_out.load_mask(i)[1] > 0).all() for i in range(2))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One tiny `mrcnn train` run on label images: (checkpoint, data folders, logs).
    Under ``--strategy mirrored`` (one replica on this CPU): the strategy's path; with
    GroupNorm and Copy-Paste set on the command line, which the checkpoint records (the
    detect and evaluate tests then rebuild a GroupNorm model from it)."""
    root = tmp_path_factory.mktemp("cli")
    images, labels = write_label_folder(root, count=6)
    logs = root / "logs"
    code = main(["train", "--dataset", f"labels:{images}:{labels}", "--holdout", "2",
                 "--head", "fcn", "--epochs", "1", "--steps-per-epoch", "2",
                 "--image-size", "64", "--logs", str(logs), "--name", "tiny",
                 "--strategy", "mirrored", "--set", "NORM=group", "--copy-paste", "0.5"])
    assert code == 0
    checkpoints = sorted(logs.glob("tiny*/mask_rcnn_tiny_0001.weights.h5"))
    assert len(checkpoints) == 1
    from mrcnn.weights.checkpoint_info import stored_info

    info = stored_info(str(checkpoints[0]))
    assert info["config"]["NORM"] == "group"
    assert info["augmentation"].startswith("CopyPaste(Compose(") and "p=0.5" in info["augmentation"]
    return checkpoints[0], images, labels, root


def test_detect_writes_overlays_and_a_coco_results_file(trained, tmp_path, capsys):
    checkpoint, images, _, _ = trained
    video = tmp_path / "clip.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 5, (64, 48))
    for _ in range(3):
        writer.write(np.full((48, 64, 3), 90, np.uint8))
    writer.release()
    out = tmp_path / "out"
    code = main(["detect", "--weights", str(checkpoint), "--input", str(images), str(video),
                 str(tmp_path / "nowhere.jpg"), "--out", str(out), "--min-score", "0.0"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "notes.txt" in printed and "nowhere.jpg" in printed  # named and skipped
    overlays = sorted(p.name for p in out.glob("*.jpg"))
    assert overlays == [f"img{i}.jpg" for i in range(6)] + ["unlabelled.jpg"]
    assert cv2.imread(str(out / "img0.jpg")).shape == (64, 64, 3)
    capture = cv2.VideoCapture(str(out / "clip_annotated.mp4"))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 3
    capture.release()
    listing = json.loads((out / "images.json").read_text())
    assert [Path(i["file_name"]).name for i in listing["images"]][:2] == ["img0.png", "img1.png"]
    assert listing["categories"] == [{"id": 1, "name": "object"}]
    gt = COCO()
    gt.dataset = {**listing, "annotations": []}
    gt.createIndex()
    results = json.loads((out / "detections.json").read_text())
    assert results, "at --min-score 0 the tiny model detects something to check"
    loaded = gt.loadRes(str(out / "detections.json"))
    assert len(loaded.anns) == len(results)
    assert {a["image_id"] for a in results} <= {i["id"] for i in listing["images"]}


def test_per_call_min_score_changes_the_number_of_detections(trained, tmp_path):
    checkpoint, images, _, _ = trained
    counts = []
    for score in ("0.0", "0.999"):
        out = tmp_path / score
        assert main(["detect", "--weights", str(checkpoint), "--input", str(images / "img0.png"),
                     "--out", str(out), "--min-score", score]) == 0
        counts.append(len(json.loads((out / "detections.json").read_text())))
    assert counts[0] > counts[1]


def test_evaluate_writes_every_figure(trained, tmp_path, capsys):
    checkpoint, images, labels, _ = trained
    out = tmp_path / "eval.json"
    code = main(["evaluate", "--weights", str(checkpoint), "--dataset",
                 f"labels:{images}:{labels}", "--holdout", "2", "--min-score", "0.0",
                 "--out", str(out)])
    assert code == 0
    report = json.loads(out.read_text())
    assert report["held_out_images"] == 2
    assert 0.0 <= report["segm"]["AP"] <= 1.0 and "boundary_iou" in report["mask_quality"]
    assert "mask AP" in capsys.readouterr().out


def test_compare_runs_a_spec_and_checks_heads_first(trained, tmp_path, monkeypatch):
    import mrcnn.experiments.compare
    from mrcnn.data.catalog import SeededShapes, get_dataset, remove_dataset

    _, images, labels, _ = trained
    spec = ["--dataset", f"labels:{images}:{labels}", "--holdout", "2"]
    code = main(["compare", *spec, "--heads", "fcn", "nosuchhead", "--out", str(tmp_path)])
    assert code == 2  # before anything trained
    seen = []
    monkeypatch.setattr(mrcnn.experiments.compare, "run", lambda settings: seen.append(settings))
    assert main(["compare", *spec, "--heads", "fcn", "unet", "--seeds", "2", "--epochs", "3",
                 "--out", str(tmp_path), "--name", "mine"]) == 0
    settings = seen[0]
    assert (settings.dataset, settings.heads, settings.seeds, settings.epochs) == (
        "mine", ("fcn", "unet"), 2, 3)
    # The runner finds the data under the name, and the report will record the spec.
    data = remove_dataset("mine")
    assert data.record() == {"spec": f"labels:{images}:{labels}", "val": None, "holdout": 2,
                             "check": "stop"}
    config, train_set, val_set = data(settings, 0)
    assert (train_set.num_images, val_set.num_images) == (4, 2)
    assert config.NUM_CLASSES == 2
    # Without --epochs and --image-size, real data trains as `mrcnn train` does (not at
    # the runner's shapes setting, 128 px and 15 epochs).
    assert main(["compare", *spec, "--out", str(tmp_path), "--name", "mine"]) == 0
    assert (seen[1].epochs, seen[1].image_size) == (20, 256)
    config, _, _ = remove_dataset("mine")(seen[1], 0)
    assert config.IMAGE_MAX_DIM == 256
    # Shapes without a split: the catalog's seeded shapes, at the runner's shapes setting,
    # and nothing registered; a spec without a held-out split is named before training.
    assert main(["compare", "--dataset", "shapes", "--out", str(tmp_path)]) == 0
    assert (seen[2].dataset, seen[2].epochs, seen[2].image_size) == ("shapes", 15, 128)
    assert get_dataset("shapes").record() == {"spec": "shapes", "seeded": True}
    assert main(["compare", "--dataset", f"labels:{images}:{labels}", "--name", "nosplit",
                 "--out", str(tmp_path)]) == 2
    assert main(["compare", *spec, "--name", "shapes", "--out", str(tmp_path)]) == 2
    assert len(seen) == 3 and isinstance(get_dataset("shapes"), SeededShapes)


def test_errors_are_one_line_without_traceback(tmp_path, capsys, monkeypatch):
    assert main(["detect", "--weights", str(tmp_path / "none.weights.h5"),
                 "--input", str(tmp_path)]) == 2
    assert capsys.readouterr().err.startswith("error: weights file not found")
    assert main(["train", "--dataset", "labels:nowhere:x"]) == 2
    assert "folder not found: nowhere" in capsys.readouterr().err
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert main(["train", "--dataset", "shapes", "--strategy", "multiworker"]) == 2
    assert "--strategy multiworker needs TF_CONFIG" in capsys.readouterr().err
    assert main(["train", "--dataset", "shapes", "--set", "NROM=group"]) == 2
    assert "has no field 'NROM'" in capsys.readouterr().err
    assert main(["train", "--dataset", "shapes", "--set", "IMAGE_MAX_DIM=512"]) == 2
    assert "use --image-size" in capsys.readouterr().err


def test_coco_weights_offline_fail_fast_naming_the_url(tmp_path, monkeypatch, capsys):
    """Nothing is cached in $MRCNN_WEIGHTS and this machine cannot reach github: the error
    names the URL and where to put the file, before any data is read or model built."""
    import mrcnn.download

    def offline(*args, **kwargs):
        raise OSError("network is unreachable (test)")

    monkeypatch.setenv("MRCNN_WEIGHTS", str(tmp_path / "weights"))
    monkeypatch.setattr(mrcnn.download, "check_reachable", offline)
    images, labels = write_label_folder(tmp_path)
    code = main(["train", "--dataset", f"labels:{images}:{labels}", "--weights", "coco"])
    error = capsys.readouterr().err
    assert code == 2
    assert "mask_rcnn_coco.h5" in error and str(tmp_path / "weights") in error
