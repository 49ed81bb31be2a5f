"""A bad file in a user's data set: found by the data check before the first step, or
stopping training cleanly (one error line, the last checkpoint kept, the process exits)
when it shows only during training."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from mrcnn.data import CocoDataset, LabelImageDataset, ViaDataset
from mrcnn.data.check import apply_check, check_dataset
from mrcnn.data.dataset import DatasetError
from mrcnn.data.image_io import check_image_file
from mrcnn.engine.input_pipeline import InputError, build_dataset, input_errors_raised
from tests.helpers import HANG_GUARD_S
from tests.reliability.conftest import ROOT, MadeToOrder, random_image, start_script

W, H = 48, 40  # image width and height of the made-up COCO set


def _png(path, height=H, width=W, seed=0):
    Image.fromarray(random_image(height, width, seed)).save(path)
    return path


def _box(x1, y1, x2, y2):
    return [[x1, y1, x2, y1, x2, y2, x1, y2]]


def coco_with_faults(tmp_path, faults=("corrupt", "size", "empty", "category", "border",
                                       "crowd")):
    """A COCO set of 7 images, image k + 2 carrying fault k (image 1 is clean)."""
    folder = tmp_path / "images"
    folder.mkdir()
    images, annotations = [], []
    for k in range(1, 8):
        name = f"im{k}.png"
        _png(folder / name, seed=k)
        images.append({"id": k, "file_name": name, "width": W, "height": H})
        annotations.append({"id": 10 * k, "image_id": k, "category_id": 1, "iscrowd": 0,
                            "segmentation": _box(4, 4, 20, 30), "area": 0,
                            "bbox": [4, 4, 16, 26]})
    for k, fault in enumerate(faults, start=2):
        extra = {"id": 10 * k + 1, "image_id": k, "category_id": 1, "iscrowd": 0,
                 "area": 0, "bbox": [0, 0, 1, 1]}
        if fault == "corrupt":
            (folder / f"im{k}.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 20)
        elif fault == "size":
            images[k - 1].update(width=2 * W, height=2 * H)
        elif fault == "empty":
            annotations.append({**extra, "segmentation": []})
        elif fault == "category":
            annotations.append({**extra, "category_id": 7, "segmentation": _box(1, 1, 9, 9)})
        elif fault == "border":
            annotations.append({**extra, "segmentation": _box(30, 10, W + 15, 20)})
        elif fault == "crowd":
            annotations.append({**extra, "iscrowd": 1,
                                "segmentation": {"size": [H + 1, W], "counts": [0, W * H]}})
    path = tmp_path / "ann.json"
    path.write_text(json.dumps({"images": images, "annotations": annotations,
                                "categories": [{"id": 1, "name": "thing"}]}))
    return str(path), str(folder)


def test_check_lists_every_fault_of_a_coco_set_and_names_the_repairs(tmp_path):
    dataset = CocoDataset()
    dataset.load_coco(*coco_with_faults(tmp_path))
    dataset.prepare()
    report = check_dataset(dataset, name="made", progress=False)
    by_image = {p.image_id: str(p) for p in report.problems}
    assert sorted(by_image) == [1, 2, 6], by_image  # internal ids of images 2, 3 and 7
    assert "im2.png" in by_image[1] and "could not decode image" in by_image[1]
    assert "im3.png" in by_image[2] and "json says 96x80" in by_image[2]
    assert "crowd region RLE of size [41, 48]" in by_image[6]
    repairs = "\n".join(report.repair_lines())
    assert "1 annotation(s) with an empty segmentation" in repairs and "annotation 41" in repairs
    assert "category id not in 'categories'" in repairs and "annotation 51 (category 7)" in repairs
    assert "1 polygon(s) past the image border, clipped" in repairs and "annotation 61" in repairs
    # Repaired annotations are left out of (or clipped in) the masks; the rest load.
    masks, class_ids = dataset.load_mask(3)  # image 4: the empty segmentation is gone
    assert masks.shape == (H, W, 1) and class_ids.tolist() == [1]
    masks, _ = dataset.load_mask(5)  # image 6: the polygon past the border is clipped
    assert masks.shape == (H, W, 2) and masks[..., 1].sum() == (W - 30) * 10
    with pytest.raises(DatasetError, match=r"3 problem\(s\) in 3 image\(s\) of 7 checked "
                                           r"\(--skip-bad"):
        apply_check(dataset, report)
    kept = apply_check(dataset, report, skip_bad=True)
    assert kept.num_images == 4 and [kept.image_reference(i)[-7:] for i in range(4)] == [
        "im1.png", "im4.png", "im5.png", "im6.png"]


def test_check_finds_corrupt_files_in_via_and_label_image_sets(tmp_path):
    (tmp_path / "via").mkdir()
    _png(tmp_path / "via" / "a.png")
    (tmp_path / "via" / "b.png").write_bytes(b"not an image")
    region = {"shape_attributes": {"name": "polygon", "all_points_x": [2, 20, 20],
                                   "all_points_y": [2, 2, 20]}, "region_attributes": {}}
    (tmp_path / "via" / "via_region_data.json").write_text(json.dumps({
        name: {"filename": name, "size": 1, "regions": [region]} for name in ("a.png", "b.png")}))
    via = ViaDataset()
    via.load_via(str(tmp_path / "via" / "via_region_data.json"), str(tmp_path / "via"))
    via.prepare()
    (problem,) = check_dataset(via, progress=False).problems
    assert "b.png" in str(problem) and "could not decode" in str(problem)

    labels = np.zeros((H, W), np.uint8)
    labels[5:15, 5:15] = 1
    pairs = []
    for name in ("c", "d"):
        _png(tmp_path / f"{name}.png")
        Image.fromarray(labels).save(tmp_path / f"{name}_mask.png")
        pairs.append((str(tmp_path / f"{name}.png"), str(tmp_path / f"{name}_mask.png")))
    (tmp_path / "d.png").write_bytes((tmp_path / "d.png").read_bytes()[:60])
    label_set = LabelImageDataset()
    label_set.load_label_images(*zip(*pairs))
    label_set.prepare()
    (problem,) = check_dataset(label_set, progress=False).problems
    assert problem.image_id == 1 and "d.png" in str(problem)


@pytest.mark.parametrize("cut", ["png", "jpg"])
def test_check_image_file_reads_the_size_and_refuses_a_truncated_file(tmp_path, cut):
    path = tmp_path / f"x.{cut}"
    Image.fromarray(random_image(30, 50)).save(path)
    assert check_image_file(path) == (30, 50)
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(ValueError, match=rf"x\.{cut}: could not decode image"):
        check_image_file(path)


def test_check_image_file_turns_the_size_as_the_exif_orientation_does(tmp_path):
    image = Image.fromarray(random_image(30, 50))
    exif = image.getexif()
    exif[274] = 6  # rotated 90 degrees: read_image returns 50 rows of 30
    image.save(tmp_path / "turned.jpg", exif=exif)
    assert check_image_file(tmp_path / "turned.jpg") == (50, 30)


def test_a_failing_load_in_the_pipeline_surfaces_as_the_data_error(rel_config):
    dataset = MadeToOrder()
    for k in range(2):
        dataset.add(f"x{k}", pixels=random_image(), masks=np.ones((32, 32, 1), bool),
                    class_ids=np.array([1]))
    dataset.prepare()
    with pytest.raises(InputError, match=r"MadeToOrder image [01]: masks are 32x32") as info:
        with input_errors_raised():
            next(iter(build_dataset(dataset, rel_config, shuffle=False)))
    assert info.value.image_id in (0, 1)


def _mrcnn(*args, cwd):
    """``python -m mrcnn ARGS`` in a new process; (exit status, stdout + stderr)."""
    env = {**os.environ, "PYTHONPATH": ROOT, "TF_CPP_MIN_LOG_LEVEL": "2"}
    run = subprocess.run([sys.executable, "-m", "mrcnn", *args], cwd=cwd, env=env,
                         capture_output=True, text=True, timeout=HANG_GUARD_S)
    return run.returncode, run.stdout + run.stderr


def test_train_stops_before_the_first_step_on_a_bad_file(tmp_path):
    annotations, images = coco_with_faults(tmp_path, faults=("size",))
    status, out = _mrcnn("train", "--dataset", f"coco:{annotations}:{images}", "--holdout",
                         "2", "--epochs", "1", "--steps-per-epoch", "1", "--image-size", "64",
                         "--logs", str(tmp_path / "logs"), cwd=tmp_path)
    assert status == 2, out
    assert "Traceback" not in out and "training 'fcn'" not in out
    assert "error: 1 problem(s) in 1 image(s) of 7 checked" in out
    assert "im2.png" in out and "json says 96x80" in out


def test_cli_training_on_a_bad_file_exits_with_one_error_line(tmp_path):
    """The check is off: the corrupt file is met in the input pipeline, mid-step."""
    annotations, images = coco_with_faults(tmp_path, faults=("corrupt",))
    status, out = _mrcnn("train", "--dataset", f"coco:{annotations}:{images}", "--holdout",
                         "1", "--epochs", "1", "--steps-per-epoch", "6", "--image-size", "64",
                         "--no-check", "--logs", str(tmp_path / "logs"), cwd=tmp_path)
    assert status == 2, out
    assert "Traceback" not in out
    (line,) = [line for line in out.splitlines() if line.startswith("error:")]
    assert "im2.png" in line and "could not decode image" in line
    assert line.endswith("Training stopped; no checkpoint was written by this run")


def test_model_train_raises_the_data_error_keeps_the_checkpoints_and_exits(tmp_path):
    out = tmp_path / "result.json"
    process = start_script("bad_input", out)
    output, _ = process.communicate(timeout=HANG_GUARD_S)
    assert process.returncode == 0, output
    result = json.loads(out.read_text())
    assert "disk went away" in result["error"] and result["image_id"] is not None
    newest = result["checkpoints"][-1]
    assert result["error"].endswith(f"the last good checkpoint is {newest}")
    assert result["newest_loads"] and result["epoch"] == len(result["checkpoints"]) >= 1
