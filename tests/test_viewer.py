"""The notebook viewer's logic (mrcnn.viewer.ViewerState) without a browser: hand-made masks
and detections, expected pixels and figures written from their definitions.

The scene (64x64, every pixel RGB 100, so its gray is 100 too): ground-truth squares GT0
(rows 20-39, cols 6-25) and GT1 (rows 20-39, cols 36-55). Head "a": a0 rows 22-39 cols
6-25 (score 0.9, IoU 360/400 with GT0), a1 rows 20-39 cols 36-45 (0.6, IoU 200/400 with
GT1), a2 rows 50-59 cols 10-19 (0.3, no object). Head "b": b0 rows 20-39 cols 6-29 (0.8,
GT0 and 4 columns more, IoU 400/480), b1 = GT1 (0.4).
"""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from mrcnn import visualize
from mrcnn.data.catalog import register_dataset, remove_dataset
from mrcnn.viewer import (
    GROUND_TRUTH,
    ImageSet,
    Viewer,
    ViewerState,
    held_out_set,
    read_report_runs,
)

SIZE = 64
GRAY = 100


def rect(y1, y2, x1, x2):
    """[SIZE, SIZE] bool, True on rows y1..y2-1 and columns x1..x2-1."""
    mask = np.zeros((SIZE, SIZE), bool)
    mask[y1:y2, x1:x2] = True
    return mask


GT = [rect(20, 40, 6, 26), rect(20, 40, 36, 56)]
A = [rect(22, 40, 6, 26), rect(20, 40, 36, 46), rect(50, 60, 10, 20)]
B = [rect(20, 40, 6, 30), rect(20, 40, 36, 56)]


def result(masks, scores):
    """A detect result: tight boxes (y2, x2 exclusive), class 1."""
    boxes = []
    for m in masks:
        ys, xs = np.nonzero(m)
        boxes.append([ys.min(), xs.min(), ys.max() + 1, xs.max() + 1])
    return {"rois": np.array(boxes, np.int32), "class_ids": np.ones(len(masks), np.int32),
            "scores": np.array(scores, np.float32), "masks": np.stack(masks, axis=-1)}


def scene(ground_truth=True, images=1):
    image = np.full((SIZE, SIZE, 3), GRAY, np.uint8)
    gt = dict(gt_masks=[np.stack(GT, -1)] * images, gt_class_ids=[np.ones(2)] * images) \
        if ground_truth else {}
    return ImageSet([image] * images, names=[f"img{i}" for i in range(images)],
                    class_names=["BG", "thing"], **gt)


def heads(images=1):
    return {"a": [result(A, [0.9, 0.6, 0.3])] * images, "b": [result(B, [0.8, 0.4])] * images}


def blend(color, alpha=0.5, value=GRAY):
    """A pixel of value ``value`` with ``color`` (RGB 0..1) blended in at ``alpha``."""
    return np.round(value * (1 - alpha) + alpha * 255 * np.asarray(color, np.float64))


def band(mask, d):
    """Boundary IoU's inner band of a rectangle far from the border: the rectangle minus
    itself shrunk by d on every side (d erosions of a 3x3 square)."""
    ys, xs = np.nonzero(mask)
    inner = rect(ys.min() + d, ys.max() + 1 - d, xs.min() + d, xs.max() + 1 - d)
    return mask & ~inner


def test_threshold_filters_instances():
    state = ViewerState(scene(), heads(), threshold=0.5)
    assert [r.index for r in state.rows() if r.panel == "a"] == [0, 1]
    assert [r.index for r in state.rows() if r.panel == "b"] == [0]
    assert (state.panels()["a"][55, 15] == GRAY).all()  # a2 (0.3) is not drawn
    state.threshold = 0.2
    assert [r.index for r in state.rows() if r.panel == "a"] == [0, 1, 2]
    np.testing.assert_array_equal(state.panels()["a"][55, 15], blend(visualize.UNMATCHED_COLOR))


def test_matched_colours_agree_between_ground_truth_and_detections():
    state = ViewerState(scene(), heads(), threshold=0.3)
    panels = state.panels()
    gt_colors = visualize.random_colors(2)
    for y, x, j in ((30, 16, 0), (30, 40, 1)):
        np.testing.assert_array_equal(panels[GROUND_TRUTH][y, x], blend(gt_colors[j]))
        np.testing.assert_array_equal(panels["a"][y, x], panels[GROUND_TRUTH][y, x])
        np.testing.assert_array_equal(panels["b"][y, x], panels[GROUND_TRUTH][y, x])
    assert not np.array_equal(panels[GROUND_TRUTH][30, 16], panels[GROUND_TRUTH][30, 40])
    np.testing.assert_array_equal(panels["b"][30, 27], blend(gt_colors[0]))  # b0's extra columns


def test_selecting_an_instance_shows_only_it_and_its_object():
    state = ViewerState(scene(), heads(), threshold=0.5)
    state.select(("a", 1))
    panels = state.panels()
    assert (panels["a"][30, 16] == GRAY).all() and not (panels["a"][30, 40] == GRAY).all()
    assert (panels[GROUND_TRUTH][30, 16] == GRAY).all()
    assert not (panels[GROUND_TRUTH][30, 40] == GRAY).all()
    assert (panels["b"][30, 40] == GRAY).all()  # b1 matches GT1 but scores under 0.5
    assert state.visible(GROUND_TRUTH).tolist() == [1]
    state.threshold = 0.3  # the selection (0.6) survives, b1 (0.4) comes in
    panels = state.panels()
    assert state.selected == ("a", 1)
    assert not (panels["b"][30, 40] == GRAY).all() and (panels["b"][30, 16] == GRAY).all()
    state.threshold = 0.7  # hides the selected a1: back to everything
    assert state.selected is None
    assert state.visible("a").tolist() == [0]


def test_an_unmatched_selection_shows_no_object():
    state = ViewerState(scene(), heads(), threshold=0.2)
    state.select(("a", 2))
    assert state.visible(GROUND_TRUTH).tolist() == []
    assert state.visible("b").tolist() == []
    assert state.visible("a").tolist() == [2]


def test_rows_give_mask_iou_and_boundary_iou_against_the_matched_object():
    state = ViewerState(scene(), heads(), threshold=0.2)
    rows = {(r.panel, r.index): r for r in state.rows()}
    d = max(1, round(0.02 * np.hypot(SIZE, SIZE)))  # the band width of Boundary IoU
    g, p = band(GT[0], d), band(A[0], d)
    assert rows[("a", 0)].matched == 0
    assert rows[("a", 0)].mask_iou == pytest.approx(360 / 400)
    assert rows[("a", 0)].boundary_iou == pytest.approx((g & p).sum() / (g | p).sum())
    assert rows[("a", 1)].matched == 1 and rows[("a", 1)].mask_iou == pytest.approx(0.5)
    assert rows[("a", 2)].matched is None and rows[("a", 2)].boundary_iou is None
    assert rows[("a", 2)].mask_iou == 0.0
    assert rows[("b", 0)].mask_iou == pytest.approx(400 / 480)
    assert rows[("b", 1)].boundary_iou == pytest.approx(1.0)
    assert rows[(GROUND_TRUTH, 1)].score is None
    assert rows[("a", 1)].color == rows[(GROUND_TRUTH, 1)].color


def test_disagreement_marks_the_pixels_where_each_head_is_right():
    state = ViewerState(scene(), heads(), threshold=0.5)  # a0, a1 against b0
    found = state.disagreement()
    a1, b0_extra, b0_top = rect(20, 40, 36, 46), rect(20, 40, 26, 30), rect(20, 22, 6, 26)
    np.testing.assert_array_equal(found.a_right, a1 | b0_extra)  # a1 is GT; b0_extra is not
    np.testing.assert_array_equal(found.b_right, b0_top)  # GT0's top rows, only b0 has them
    panel = state.panels()["disagreement"]
    np.testing.assert_array_equal(panel[30, 40], blend(visualize.HEAD_A_COLOR, 0.85))
    np.testing.assert_array_equal(panel[30, 28], blend(visualize.HEAD_A_COLOR, 0.85))
    np.testing.assert_array_equal(panel[21, 16], blend(visualize.HEAD_B_COLOR, 0.85))
    assert (panel[10, 10] == GRAY).all() and (panel[30, 16] == GRAY).all()  # both agree


def test_the_disagreement_of_one_object_leaves_the_others_out():
    state = ViewerState(scene(), heads(), threshold=0.3)
    state.select((GROUND_TRUTH, 0))
    found = state.disagreement()
    np.testing.assert_array_equal(found.a_right, rect(20, 40, 26, 30))
    np.testing.assert_array_equal(found.b_right, rect(20, 22, 6, 26))
    assert not found.b_right[30, 50]
    state.select(None)
    assert state.disagreement().b_right[30, 50]  # GT1's right half, only b1 has it


def test_without_ground_truth_the_first_head_is_the_reference():
    state = ViewerState(scene(ground_truth=False), heads(), threshold=0.3)
    assert state.panel_names() == ["a", "b", "disagreement"]
    panels = state.panels()
    np.testing.assert_array_equal(panels["b"][30, 16], panels["a"][30, 16])  # b0 ~ a0 (0.75)
    found = state.disagreement()
    assert found.a_right is None and found.b_only[30, 28] and found.a_only[55, 15]


def test_detections_are_computed_once_per_image_and_head():
    calls = []

    def head(image):
        calls.append(1)
        return result(A, [0.9, 0.6, 0.3])

    state = ViewerState(scene(images=2), {"a": head}, threshold=0.5)
    state.panels()
    state.threshold = 0.1
    state.select(("a", 2))
    state.panels()
    assert len(calls) == 1
    state.image = 1
    state.panels()
    state.image = 0
    state.panels()
    assert len(calls) == 2 and state.detect_calls == 2
    assert state.selected is None  # a new image starts with everything shown


def test_clear_errors():
    with pytest.raises(ValueError, match="head 'a': 1 precomputed results for 2 images"):
        ViewerState(scene(images=2), {"a": [result(A, [0.9, 0.6, 0.3])]})
    state = ViewerState(scene(), heads(), threshold=0.5)
    with pytest.raises(IndexError, match="a detection 2 is not shown at threshold 0.50"):
        state.select(("a", 2))
    with pytest.raises(KeyError, match="no panel 'c'"):
        state.select(("c", 0))
    with pytest.raises(ValueError, match=r"threshold must be in \[0, 1\]"):
        state.threshold = 1.5
    with pytest.raises(ValueError, match="the result lacks"):
        ViewerState(scene(), {"a": [{"rois": np.zeros((0, 4))}]}).panels()


def test_the_widget_drives_the_state():
    pytest.importorskip("ipywidgets")
    viewer = Viewer(scene(images=2), heads(images=2), threshold=0.5)
    viewer.widget  # noqa: B018 (builds the widgets)
    controls = viewer.controls
    controls["threshold"].value = 0.2
    assert viewer.state.threshold == 0.2
    assert ("a", 2) in [value for _, value in controls["instance"].options]
    controls["instance"].value = ("a", 2)
    assert viewer.state.selected == ("a", 2)
    controls["threshold"].value = 0.5  # hides a2: the selection and the chooser reset
    assert viewer.state.selected is None and controls["instance"].value == "all"
    controls["image"].value = 1
    assert viewer.state.image == 1


def test_the_state_needs_no_ipywidgets(monkeypatch):
    monkeypatch.setitem(sys.modules, "ipywidgets", None)  # import ipywidgets now fails
    viewer = Viewer(scene(), heads())
    assert set(viewer.state.panels()) == {GROUND_TRUTH, "a", "b", "disagreement"}
    with pytest.raises(ImportError, match="pip install ipywidgets"):
        viewer.widget  # noqa: B018


def write_report(folder, runs, dataset="toy", data=None, **settings):
    """``folder/results/<dataset>/compare.json`` as mrcnn.experiments.compare writes it (the
    parts the viewer reads); runs: (head, seed, checkpoint relative to ``folder``); ``data``:
    the data record, ``settings``: more settings."""
    path = folder / "results" / dataset / "compare.json"
    path.parent.mkdir(parents=True)
    report = {"settings": {"dataset": dataset, "heads": sorted({h for h, _, _ in runs}),
                           "out": "results", **settings},
              **({"data": data} if data is not None else {}),
              "runs": [{"head": h, "seed": s, "checkpoint": c, "held_out_images": 2,
                        "segm": {"AP": 0.5}, "mask_quality": {"boundary_iou": 0.25}}
                       for h, s, c in runs]}
    path.write_text(json.dumps(report))
    return path


def test_a_report_names_its_checkpoints_relative_to_where_it_ran(tmp_path, monkeypatch):
    for name in ("fcn0", "fcn1", "unet1"):
        (tmp_path / "logs" / name).mkdir(parents=True)
        (tmp_path / "logs" / name / "w.weights.h5").touch()
    path = write_report(tmp_path, [("fcn", 0, "logs/fcn0/w.weights.h5"),
                                   ("fcn", 1, "logs/fcn1/w.weights.h5"),
                                   ("unet", 1, "logs/unet1/w.weights.h5")])
    (tmp_path / "notebooks").mkdir()
    monkeypatch.chdir(tmp_path / "notebooks")  # as a notebook runs
    runs = read_report_runs(path)
    assert runs.seed == 1  # the first seed with a run of both heads
    assert runs.checkpoints == {h: str(tmp_path / "logs" / f"{h}1" / "w.weights.h5")
                                for h in ("fcn", "unet")}
    assert read_report_runs(path, heads=["fcn"]).seed == 0
    with pytest.raises(ValueError, match=r"run of every head \['fcn', 'unet'\]: \[1\]"):
        read_report_runs(path, seed=0)
    (tmp_path / "logs" / "unet1" / "w.weights.h5").unlink()
    with pytest.raises(FileNotFoundError, match="checkpoint of 'unet', logs/unet1/w.weights.h5"):
        read_report_runs(path)
    with pytest.raises(LookupError, match=r"records no data spec .* data set 'toy' is not "
                                          r"registered .* pass dataset="):
        Viewer.from_report(path, heads=["fcn"])


def shapes(count, size, seed):
    from mrcnn.data import ShapesDataset

    dataset = ShapesDataset()
    dataset.load_shapes(count, size, size, seed=seed)
    dataset.prepare()
    return dataset


def tiny_checkpoint(folder, class_names) -> str:
    """A TinyConfig inference model's weights under ``folder/logs``; its path from
    ``folder``."""
    from mrcnn.model import MaskRCNN
    from tests.helpers import TinyConfig

    checkpoint = folder / "logs" / "tiny" / "mask_rcnn_tiny_0001.weights.h5"
    checkpoint.parent.mkdir(parents=True)
    MaskRCNN("inference", TinyConfig(), str(folder),
             class_names=class_names).save_weights(str(checkpoint))
    return str(checkpoint.relative_to(folder))


@pytest.fixture
def registered():
    """``register(name, fn)``: a data set registered for the test only."""
    names = []

    def register(name, fn):
        register_dataset(name, fn)
        names.append(name)

    yield register
    for name in names:
        remove_dataset(name)


def test_from_report_loads_each_checkpoint_with_a_low_score_floor(tmp_path, registered):
    val_set = shapes(2, 64, seed=3)
    path = write_report(tmp_path, [("fcn", 0, tiny_checkpoint(tmp_path, val_set.class_names))])
    # A report without a data record: the data set registered under its name.
    registered("toy", lambda settings, seed: (None, None, val_set))

    viewer = Viewer.from_report(path, threshold=0.6)
    assert viewer.report.seed == 0 and viewer.state.heads == ["fcn"]
    config = viewer.state.sources["fcn"].config
    assert config.DETECTION_MIN_CONFIDENCE == 0.05 and config.DETECTION_MAX_INSTANCES == 100
    assert viewer.state.score_floor == 0.05 and viewer.state.threshold == 0.6
    assert viewer.state.class_names == val_set.class_names
    assert viewer.state.notes["fcn"] == "mask AP 0.500, Boundary IoU 0.250, seed 0"


def test_from_report_rebuilds_the_held_out_set_from_the_recorded_data(tmp_path):
    """A report of the runner's shapes: its data record alone (nothing registered under
    the report's name, no dataset=) gives the held-out images the runs were scored on."""
    expected = shapes(2, 64, seed=10_000)  # the runner's held-out shapes
    path = write_report(tmp_path, [("fcn", 0, tiny_checkpoint(tmp_path, expected.class_names))],
                        dataset="unregistered", data={"spec": "shapes", "seeded": True},
                        image_size=64, val_images=2)
    viewer = Viewer.from_report(path)
    assert viewer.state.num_images == 2
    for image_id in range(2):
        np.testing.assert_array_equal(viewer.state.dataset.load_image(image_id),
                                      expected.load_image(image_id))
    # dataset= still overrides, and is checked against the runs' count.
    with pytest.raises(ValueError, match=r"scored on \[2\] held-out images, the data set "
                                         "given has 3"):
        Viewer.from_report(path, dataset=shapes(3, 64, seed=0))


def write_labels(folder, count=3, size=32):
    """``folder/images/img<i>.png`` with one bright square each, ``folder/labels/`` their
    instance label images."""
    from PIL import Image

    (folder / "images").mkdir(parents=True)
    (folder / "labels").mkdir()
    for i in range(count):
        image = np.full((size, size, 3), 20, np.uint8)
        label = np.zeros((size, size), np.uint8)
        image[4 + i:14 + i, 6:16] = 200
        label[4 + i:14 + i, 6:16] = 1
        Image.fromarray(image).save(folder / "images" / f"img{i}.png")
        Image.fromarray(label).save(folder / "labels" / f"img{i}.png")


def test_a_recorded_spec_is_rebuilt_from_where_the_comparison_ran(tmp_path, monkeypatch):
    """``mrcnn compare --dataset labels:data/images:data/labels --holdout 1`` run in
    ``tmp_path``, its report opened from another folder: the relative paths are taken
    from where it ran, the split is the recorded one."""
    write_labels(tmp_path / "data")
    record = {"spec": "labels:data/images:data/labels", "val": None, "holdout": 1,
              "check": "stop"}
    path = write_report(tmp_path, [("fcn", 0, "logs/x.weights.h5")], dataset="labels_data",
                        data=record)
    report = json.loads(path.read_text())
    (tmp_path / "notebooks").mkdir()
    monkeypatch.chdir(tmp_path / "notebooks")
    held_out = held_out_set(report, 0, path)
    assert held_out.num_images == 1 and held_out.class_names == ["BG", "object"]
    assert held_out.image_reference(0) == str(tmp_path / "data" / "images" / "img2.png")
    assert held_out.load_mask(0)[0][6:16, 6:16].all()
    # A record the library cannot read names its fields; data gone names dataset=.
    report["data"] = {"spec": "labels:data/images:data/labels", "holdouts": 1}
    with pytest.raises(ValueError, match=r"not \['holdouts'\]"):
        held_out_set(report, 0, path)
    report["data"] = {**record, "spec": "labels:gone/images:data/labels"}
    with pytest.raises(ValueError, match=r"cannot be rebuilt from its data record .*folder not "
                                         r"found: gone/images; pass dataset="):
        held_out_set(report, 0, path)


class StubModel:
    """What the viewer uses of a MaskRCNN: detect() on a list of images, and the config's
    DETECTION_MIN_CONFIDENCE."""

    def __init__(self, floor, results):
        self.config = type("Config", (), {"DETECTION_MIN_CONFIDENCE": floor})()
        self.results, self.images = results, []

    def detect(self, images):
        self.images.append(images)
        return [self.results]


def test_a_model_head_detects_on_the_image_shown():
    a, b = StubModel(0.05, result(A, [0.9, 0.6, 0.3])), StubModel(0.1, result(B, [0.8, 0.4]))
    state = ViewerState(scene(), {"a": a, "b": b})
    assert state.score_floor == 0.1  # every head shows all it detects from here up
    state.panels()
    assert len(a.images) == 1 and len(a.images[0]) == 1
    np.testing.assert_array_equal(a.images[0][0], np.full((SIZE, SIZE, 3), GRAY))
