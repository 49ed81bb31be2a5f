"""Dataset.validate() reports every problem at once; python -m mrcnn.check_dataset;
the single image conversion shared by loading and detection."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from mrcnn.check_dataset import main as check_main
from mrcnn.data.dataset import DatasetError, DatasetProblem
from mrcnn.data.image_convert import to_rgb_uint8
from tests.helpers import HANG_GUARD_S, tiny_config
from tests.reliability.conftest import MadeToOrder, box_masks, png_file, random_image

H = W = 64
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def broken_dataset(tmp_path) -> MadeToOrder:
    """One good image and one of every kind of problem."""
    zero = tmp_path / "zero.png"
    zero.write_bytes(b"")
    cut = tmp_path / "cut.png"
    png_file(cut, random_image(30, 30))
    cut.write_bytes(cut.read_bytes()[:100])
    good = png_file(tmp_path / "good.png", random_image())
    one = box_masks(H, W, [(2, 2, 20, 20)])
    d = MadeToOrder()
    d.add("good", path=good, masks=one, class_ids=np.array([1]))           # 0
    d.add("zero", path=str(zero))                                           # 1
    d.add("cut", path=str(cut))                                             # 2
    d.add("missing", path=str(tmp_path / "nowhere.png"))                    # 3
    d.add("small", pixels=random_image(), masks=np.ones((32, 32, 1), bool),
          class_ids=np.array([1]))                                          # 4
    d.add("flat", pixels=random_image(), masks=np.ones((H, W), bool),
          class_ids=np.array([1]))                                          # 5
    d.add("count", pixels=random_image(), masks=np.ones((H, W, 2), bool),
          class_ids=np.array([1]))                                          # 6
    d.add("range", pixels=random_image(), masks=one, class_ids=np.array([9]))  # 7
    d.add("empty", pixels=random_image(), masks=np.zeros((H, W, 2), bool),
          class_ids=np.array([1, 2]))                                       # 8
    d.add("good", path=good, masks=one, class_ids=np.array([1]))            # 9: duplicate id
    d.add_class("other", 1, "alien")                                        # class 4
    d.add("alien", pixels=random_image(), masks=one, class_ids=np.array([4]))  # 10
    d.add("thin", pixels=random_image(H, 256), masks=box_masks(H, 256, [(0, 0, 64, 2)]),
          class_ids=np.array([2]))                                          # 11
    d.add("empty_image", pixels=np.zeros((0, 5, 3), np.uint8))              # 12
    d.prepare()
    return d


EXPECTED = {
    1: r"unreadable image: ValueError: .*zero\.png.*empty file \(0 bytes\)",
    2: r"unreadable image: ValueError: .*cut\.png.*could not decode",
    3: r"unreadable image: FileNotFoundError: .*nowhere\.png.*file not found",
    4: r"masks are 32x32 .* but the image is 64x64",
    5: r"masks have shape \(64, 64\); expected \[H, W, N\]",
    6: r"2 mask\(s\) but 1 class id\(s\)",
    7: r"class id\(s\) \[9\] out of range: 5 classes",
    9: r"duplicate image id: \(source 'made', id 'good'\) is also image 0",
    10: r"class id 4 \('alien'\) belongs to source 'other', not to the image's source "
        r"'made': unknown class",
    11: r"instance 0: degenerate box \[0, 0, 64, 2\] \(64x2 px\) is under 1 px at the "
        r"training scale 0\.25",
    12: r"load_image result: empty image",
}


def test_validate_reports_every_problem_at_once(tmp_path):
    dataset = broken_dataset(tmp_path)
    config = tiny_config(NUM_CLASSES=5)
    with pytest.raises(DatasetError) as info:
        dataset.validate(config=config)
    problems = info.value.problems
    assert all(isinstance(p, DatasetProblem) for p in problems)
    by_image: dict = {}
    for p in problems:
        by_image.setdefault(p.image_id, []).append(p)
    assert sorted(by_image) == sorted(EXPECTED), [str(p) for p in problems]
    import re
    for image_id, pattern in EXPECTED.items():
        (problem,) = by_image[image_id]
        assert re.search(pattern, problem.problem), (image_id, str(problem))
        text = str(problem)  # names the class, the image, the source and the path
        assert text.startswith(f"MadeToOrder image {image_id} (source ")
        assert dataset.image_info[image_id]["source"] in text
    assert "zero.png" in str(by_image[1][0]) and "good.png" in str(by_image[9][0])
    message = str(info.value)
    assert message.startswith(f"{len(EXPECTED)} problem(s) in {len(EXPECTED)} image(s) of 13")
    # Empty masks are no problem: training leaves them out, and the data set says so.
    assert dataset.repairs == {"empty mask, dropped in training": [
        "image 8 (), instance 0", "image 8 (), instance 1"]}
    # Without a config: no scale check; returned instead of raised on request.
    found = dataset.validate(raise_on_error=False)
    assert {p.image_id for p in found} == set(EXPECTED) - {11}


def test_validate_flags_config_class_count_and_passes_a_clean_set(shapes64):
    assert shapes64.validate(config=tiny_config()) == []
    problems = shapes64.validate(config=tiny_config(NUM_CLASSES=7), raise_on_error=False)
    assert [str(p) for p in problems] == [
        "ShapesDataset: config TinyOverride.NUM_CLASSES = 7 but the data set has 4 classes "
        "(with the background)"]


def test_check_dataset_cli(tmp_path, capsys, monkeypatch):
    assert check_main(["mrcnn.data.shapes:demo_dataset"]) == 0
    assert "no problems found" in capsys.readouterr().out
    module = tmp_path / "broken_factory.py"
    module.write_text("from tests.reliability.test_validate import broken_dataset\n"
                      "import pathlib, tempfile\n"
                      "def make():\n"
                      "    return broken_dataset(pathlib.Path(tempfile.mkdtemp()))\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert check_main(["broken_factory:make", "--config", "tests.helpers:TinyConfig"]) == 1
    out = capsys.readouterr().out
    assert "MadeToOrder image 4 (source 'made', id 'small', no path): masks are 32x32" in out
    assert "class id(s) [9] out of range" in out
    assert check_main(["no_such_module:x"]) == 2
    assert "ModuleNotFoundError" in capsys.readouterr().err


def test_check_dataset_runs_as_a_module():
    env = {**os.environ, "PYTHONPATH": ROOT}
    run = subprocess.run([sys.executable, "-m", "mrcnn.check_dataset",
                          "mrcnn.data.shapes:demo_dataset", "--limit", "3"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=HANG_GUARD_S)
    assert run.returncode == 0, run.stderr
    assert "checking 3 image(s)" in run.stdout and "no problems found" in run.stdout


# ----------------------------------------------------------------------------- conversion
@pytest.mark.parametrize("image, expected", [
    (np.array([[0, 255]], np.uint8), [[0, 255]]),
    (np.array([[[0], [255]]], np.uint8), [[0, 255]]),
    (np.array([[[10, 99], [20, 0]]], np.uint8), [[10, 20]]),  # gray + alpha
    (np.array([[False, True]]), [[0, 255]]),
    (np.array([[0, 256, 65535]], np.uint16), [[0, 1, 255]]),  # top 8 bits
    (np.array([[0, 2**24, 2**32 - 1]], np.uint32), [[0, 1, 255]]),
    (np.array([[-5, 100, 300]], np.int16), [[0, 100, 255]]),  # signed: clipped 0..255
    (np.array([[0.0, 0.5, 1.0]], np.float32), [[0, 128, 255]]),  # all in [0, 1]: x 255
    (np.array([[0.0, 1.5, 254.6, 300.0]], np.float64), [[0, 2, 255, 255]]),  # 0..255
    (np.array([[-0.2, 0.5]], np.float32), [[0, 0]]),  # not within [0, 1]: 0..255, clipped
])
def test_conversion_rules(image, expected):
    out = to_rgb_uint8(image)
    assert out.dtype == np.uint8 and out.shape == np.shape(expected) + (3,)
    np.testing.assert_array_equal(out[..., 0], expected)
    np.testing.assert_array_equal(out[..., 0], out[..., 2])


def test_conversion_keeps_rgb_and_drops_alpha():
    rgba = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    np.testing.assert_array_equal(to_rgb_uint8(rgba), rgba[..., :3])
    rgb = rgba[..., :3].copy()
    assert to_rgb_uint8(rgb) is rgb


@pytest.mark.parametrize("image, message", [
    (np.zeros((2, 2, 3, 1)), r"x: expected an image of shape \[H, W\] or \[H, W, 1\|2\|3\|4\]"),
    (np.zeros((0, 3)), r"x: empty image"),
    (np.array([[np.nan, 0.0]]), r"x: 1 pixel value\(s\) are NaN or infinite"),
    (np.array([["a", "b"]]), r"x: unsupported pixel type"),
])
def test_conversion_errors(image, message):
    with pytest.raises(ValueError, match=message):
        to_rgb_uint8(image, "x")
