"""The head comparison: fair initialisation across heads, and a smoke run's report."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from mrcnn.data import ShapesDataset
from mrcnn.data.catalog import register_dataset, remove_dataset
from mrcnn.experiments.compare import CompareSettings, markdown_table, parse_args, run
from mrcnn.experiments.run import train_head
from mrcnn.heads.mask import MASK_HEADS
from mrcnn.model import MaskRCNN
from tests.helpers import TinyConfig, fake_comparison, fake_metrics, tiny_config


def test_same_seed_gives_every_head_the_same_initial_network(tmp_path):
    weights = {}
    for head in sorted(MASK_HEADS):
        keras.utils.set_random_seed(7)
        model = MaskRCNN("training", tiny_config(MASK_HEAD=head), str(tmp_path)).keras_model
        weights[head] = {layer.name: layer.get_weights() for layer in model.layers
                         if layer.weights and not layer.name.startswith("mrcnn_mask")}
    for head in sorted(MASK_HEADS):
        assert weights[head].keys() == weights["fcn"].keys(), head
        for name in ("conv1", "res5b_branch2c", "fpn_p2", "rpn_conv_shared",
                     "mrcnn_class_logits"):
            for a, b in zip(weights["fcn"][name], weights[head][name]):
                np.testing.assert_array_equal(a, b, err_msg=f"{head}: {name}")


def tiny_experiment(settings, seed):
    train_set = ShapesDataset()
    train_set.load_shapes(8, 64, 64, seed=seed)
    train_set.prepare()
    val_set = ShapesDataset()
    val_set.load_shapes(settings.val_images, 64, 64, seed=10_000)
    val_set.prepare()
    return TinyConfig, train_set, val_set


@pytest.fixture
def tiny_registered():
    register_dataset("tiny", tiny_experiment)
    yield
    remove_dataset("tiny")


def test_smoke_run_writes_a_well_formed_report(tiny_registered, tmp_path, monkeypatch):
    """One command-line run of both heads: the report, its table and plots, and the
    --dtype-policy setting reaching every run (under mixed_bfloat16, which also shows
    the whole comparison works in 16 bits; the compare_heads notebook runs it in float32)."""
    import mrcnn.experiments.compare

    seen = []

    def recording_train_head(config, *args, **kwargs):
        seen.append((config.MASK_HEAD, config.DTYPE_POLICY))
        # Another run of the same name, started later in the same folder (a second
        # process): each run is scored with its own checkpoint, never that one's.
        decoy = tmp_path / "logs" / f"{config.NAME.lower()}29991231T235959"
        decoy.mkdir(parents=True)
        (decoy / f"mask_rcnn_{config.NAME.lower()}_0001.weights.h5").write_bytes(b"other")
        return train_head(config, *args, **kwargs)

    monkeypatch.setattr(mrcnn.experiments.compare, "train_head", recording_train_head)
    settings = parse_args(["--dataset", "tiny", "--heads", "fcn", "unet", "--seeds", "1",
                           "--epochs", "1", "--steps-per-epoch", "2", "--val-images", "3",
                           "--out", str(tmp_path / "results"), "--logs", str(tmp_path / "logs"),
                           "--verbose", "0", "--dtype-policy", "mixed_bfloat16"])
    run(settings)
    assert seen == [("fcn", "mixed_bfloat16"), ("unet", "mixed_bfloat16")]
    out = tmp_path / "results" / "tiny"
    report = json.loads((out / "compare.json").read_text())
    assert report["settings"]["dtype_policy"] == "mixed_bfloat16"
    assert [(r["head"], r["seed"]) for r in report["runs"]] == [("fcn", 0), ("unet", 0)]
    for r in report["runs"]:
        assert 0.0 <= r["segm"]["AP"] <= 1.0 and "AP90" in r["segm"]
        assert len(r["ap_vs_iou"]["AP"]) == 10
        assert len(r["history"]["total_loss"]) == 1
        assert r["ms_per_image"] > 0 and r["head_profile"]["flops_per_roi"] > 0
        assert "29991231" not in r["checkpoint"] and r["checkpoint"].endswith("_0001.weights.h5")
        # The config each run trained with is recorded (a later --resume checks it).
        assert (r["config"]["MASK_HEAD"], r["config"]["DTYPE_POLICY"]) == (
            r["head"], "mixed_bfloat16")
    fcn, unet = (report["summary"][h] for h in ("fcn", "unet"))
    assert unet["head params"]["mean"] > fcn["head params"]["mean"]
    assert set(fcn) == set(unet) and "Boundary IoU (TP)" in fcn
    table = (out / "compare.md").read_text()
    assert "| mask AP75 |" in table and "| fcn | unet |" in table
    assert "| unet − fcn |" in table
    paired = report["paired"]["unet"]["mask AP"]
    assert paired["seeds"] == [0] and paired["values"] == [
        report["runs"][1]["segm"]["AP"] - report["runs"][0]["segm"]["AP"]]
    assert [r["held_out_images"] for r in report["runs"]] == [3, 3]
    # The header counts the images evaluated, not the --val-images cap.
    report["settings"]["val_images"] = 50
    assert "3 held-out images" in markdown_table(report)
    for name in ("loss_curves.png", "ap_vs_iou.png", "boundary_iou_by_size.png"):
        assert (out / name).stat().st_size > 1000


def test_paired_differences_are_per_seed_and_skip_unpaired_seeds():
    from mrcnn.experiments.compare import paired_differences

    def record(head, seed, ap):
        return {"head": head, "seed": seed, "segm": {"AP": ap, "AP50": 0.5, "AP75": ap,
                                                      "AP90": 0.1},
                "bbox": {"AP": 0.5 - ap / 10}, "mask_quality": {"boundary_iou": ap / 2}}

    runs = [record("fcn", 0, 0.30), record("unet", 0, 0.34), record("fcn", 1, 0.20),
            record("unet", 1, 0.22), record("fcn", 2, 0.25)]  # seed 2 has no unet run
    paired = paired_differences(runs, ("fcn", "unet"))["unet"]
    np.testing.assert_allclose(paired["mask AP"]["values"], [0.04, 0.02])
    assert paired["mask AP"]["seeds"] == [0, 1]
    assert paired["mask AP"]["mean"] == pytest.approx(0.03)
    assert paired["mask AP"]["std"] == pytest.approx(0.01)
    assert paired["mask AP50"]["mean"] == 0.0
    assert paired["Boundary IoU (TP)"]["mean"] == pytest.approx(0.015)
    np.testing.assert_allclose(paired["box AP"]["values"], [-0.004, -0.002])


def test_unknown_dataset_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match=r"data set 'nope' is not registered \(registered: "
                                         r"\[.*'shapes'.*\]\); register it with "):
        run(CompareSettings(dataset="nope", out=str(tmp_path)))
    assert not (tmp_path / "nope").exists()


def test_unknown_head_fails_before_anything_trains(tmp_path, monkeypatch):
    import mrcnn.experiments.compare

    monkeypatch.setattr(mrcnn.experiments.compare, "train_head",
                        lambda *a, **k: pytest.fail("trained"))
    with pytest.raises(ValueError, match=r"unknown mask head\(s\) \['unte'\]"):
        run(CompareSettings(heads=("fcn", "unte"), out=str(tmp_path)))


@pytest.fixture
def fake_runs(tiny_registered, monkeypatch):
    """``compare.run`` with training and evaluation replaced by records whose AP encodes
    (seed, head), so resumption can be checked in a second; returns the calls made."""
    from mrcnn.experiments.run import TrainedHead

    calls = []

    def fake_train(config, train_set, val_set, epochs, seed, logs, **kwargs):
        calls.append((seed, config.MASK_HEAD))
        if len(calls) == fake_train.fail_at:
            raise KeyboardInterrupt
        return TrainedHead(config.MASK_HEAD, seed, "ckpt", 1, 1.0, {"total_loss": [1.0]})

    def fake_evaluate(detector, val_set):
        seed, head = calls[-1]
        return fake_metrics(seed / 10 + (0.05 if head == "unet" else 0.0))

    fake_train.fail_at = None
    fake_comparison(monkeypatch, fake_train, fake_evaluate)
    return calls, fake_train


def test_interrupted_comparison_keeps_its_runs_and_resumes(fake_runs, tmp_path):
    calls, fake_train = fake_runs
    settings = CompareSettings(dataset="tiny", seeds=2, out=str(tmp_path), verbose=0)
    fake_train.fail_at = 3  # interrupted while training seed 1, fcn
    with pytest.raises(KeyboardInterrupt):
        run(settings)
    report = json.loads((tmp_path / "tiny" / "compare.json").read_text())
    assert not report["complete"]
    assert [(r["seed"], r["head"]) for r in report["runs"]] == [(0, "fcn"), (0, "unet")]
    assert "partial: 2 of 4 runs" in (tmp_path / "tiny" / "compare.md").read_text()

    calls.clear()
    fake_train.fail_at = None
    report = run(CompareSettings(**{**settings.__dict__, "resume": True}))
    assert calls == [(1, "fcn"), (1, "unet")]  # only what was missing
    assert report["complete"]
    assert [(r["seed"], r["head"]) for r in report["runs"]] == [
        (0, "fcn"), (0, "unet"), (1, "fcn"), (1, "unet")]
    assert report["paired"]["unet"]["mask AP"]["values"] == pytest.approx([0.05, 0.05])
    assert report["summary"]["fcn"]["mask AP"]["values"] == pytest.approx([0.0, 0.1])


class RecordedTiny:
    """``tiny_experiment`` that says how to rebuild its data (as SpecData does)."""

    def __init__(self, record):
        self.data = record

    def __call__(self, settings, seed):
        return tiny_experiment(settings, seed)

    def record(self):
        return self.data


def test_the_report_records_the_data_and_resumes_only_on_the_same(fake_runs, tmp_path,
                                                                monkeypatch):
    from mrcnn.data import catalog

    record = {"spec": "labels:images:labels", "val": None, "holdout": 2, "check": "stop"}
    monkeypatch.setitem(catalog._CATALOG, "tiny", RecordedTiny(record))
    settings = CompareSettings(dataset="tiny", seeds=1, out=str(tmp_path), verbose=0)
    assert run(settings)["data"] == record
    assert json.loads((tmp_path / "tiny" / "compare.json").read_text())["data"] == record
    other = {**record, "holdout": 3}
    monkeypatch.setitem(catalog._CATALOG, "tiny", RecordedTiny(other))
    again = CompareSettings(**{**settings.__dict__, "seeds": 2, "resume": True})
    with pytest.raises(ValueError, match=r"cannot resume .*: it was run on other data "
                                         r"\(.*'holdout': 2.* -> .*'holdout': 3"):
        run(again)
    # A function that cannot say how to rebuild its data records nothing.
    monkeypatch.setitem(catalog._CATALOG, "tiny", tiny_experiment)
    assert "data" not in run(again)


def test_resume_refuses_a_report_made_with_other_settings(fake_runs, tmp_path):
    run(CompareSettings(dataset="tiny", seeds=1, epochs=2, out=str(tmp_path), verbose=0))
    with pytest.raises(ValueError, match=r"other settings \(epochs: 2 -> 3\)"):
        run(CompareSettings(dataset="tiny", seeds=1, epochs=3, out=str(tmp_path),
                            verbose=0, resume=True))


def test_pretrained_shared_layers_load_and_every_mask_head_starts_fresh(tmp_path):
    """--weights: the shared layers come from the file, the mask head and the
    class-specific layers keep the seed's random initialisation."""
    from mrcnn.experiments.run import shared_layers_from

    source = MaskRCNN("training", tiny_config(MASK_HEAD="fcn"), str(tmp_path))
    for layer in source.keras_model.layers:  # make the file's weights recognisable
        for variable in layer.weights:
            variable.assign(np.full(variable.shape, 0.5, variable.dtype))
    path = str(tmp_path / "pretrained.weights.h5")
    source.keras_model.save_weights(path)
    for head in ("fcn", "unet"):
        keras.utils.set_random_seed(3)
        model = MaskRCNN("training", tiny_config(MASK_HEAD=head), str(tmp_path))
        before = {layer.name: [w.copy() for w in layer.get_weights()]
                  for layer in model.keras_model.layers}
        record = shared_layers_from(model, path)
        assert "rpn_conv_shared" in record["loaded"] and "conv1" in record["loaded"]
        assert record["fresh"] and all(n.startswith("mrcnn_mask") for n in record["fresh"])
        assert not set(record["fresh"]) & set(record["loaded"])
        for name in ("conv1", "fpn_p2"):
            assert all((w == 0.5).all() for w in model.keras_model.get_layer(name).get_weights())
        for name in (*record["fresh"], "mrcnn_class_logits"):
            for now, then in zip(model.keras_model.get_layer(name).get_weights(), before[name]):
                np.testing.assert_array_equal(now, then, err_msg=name)


def test_report_says_how_the_runs_started():
    report = {"settings": {"dataset": "d", "seeds": 1, "epochs": 1, "steps_per_epoch": 1,
                           "heads": ["fcn"], "weights": "coco"},
              "wall_seconds": 60.0, "complete": True, "summary": {}, "paired": {},
              "runs": [{"seed": 0, "held_out_images": 3, "pretrained": {"loaded": ["a", "b"]}}]}
    assert "Shared layers start from `coco` (2 layers loaded); every mask head starts fresh" \
        in markdown_table(report)
    report["settings"]["weights"] = None
    assert "starts from random initialisation" in markdown_table(report)


def test_set_fields_reach_every_run_and_resume_only_with_the_same_fields(fake_runs, tmp_path,
                                                                        monkeypatch):
    import mrcnn.experiments.compare

    seen = []
    fake_train = mrcnn.experiments.compare.train_head

    def recording(config, *args, **kwargs):
        seen.append((config.MASK_HEAD, config.NORM, config.RPN_ANCHOR_SCALES))
        return fake_train(config, *args, **kwargs)

    monkeypatch.setattr(mrcnn.experiments.compare, "train_head", recording)
    argv = ["--dataset", "tiny", "--seeds", "1", "--out", str(tmp_path), "--verbose", "0",
            "--set", "NORM=group", "--set", "RPN_ANCHOR_SCALES = (4, 8, 16, 32, 64)"]
    run(parse_args(argv))
    scales = (4, 8, 16, 32, 64)
    assert seen == [("fcn", "group", scales), ("unet", "group", scales)]
    path = tmp_path / "tiny" / "compare.json"
    report = json.loads(path.read_text())
    assert report["settings"]["config"] == {"NORM": "group", "RPN_ANCHOR_SCALES": list(scales)}
    assert "`NORM = 'group'`" in (tmp_path / "tiny" / "compare.md").read_text()
    # The same fields resume (tuples come back from JSON as lists, the order of --set
    # options does not matter); others are refused.
    seen.clear()
    swapped = [*argv[:-4], *argv[-2:], *argv[-4:-2]]
    run(parse_args([*swapped, "--resume", "--seeds", "2"]))
    assert [s[0] for s in seen] == ["fcn", "unet"]
    with pytest.raises(ValueError, match=r"other settings \(config: "):
        run(parse_args([*argv[:-4], "--resume"]))
    # A report written before --set existed resumes without it.
    del report["settings"]["config"]
    path.write_text(json.dumps(report))
    run(parse_args([*argv[:-4], "--resume"]))


@pytest.mark.parametrize("item, message", [
    ("NROM=group", "TinyConfig has no field 'NROM'"),
    ("norm=group", "has no field 'norm'"),
    ("MASK_HEAD=unet", "an option sets it; use --heads"),
    ("IMAGE_MAX_DIM=320", "an option sets it; use --image-size"),
    ("MASK_HEAD_CONV_DIM=0", "MASK_HEAD_CONV_DIM = 0: must be a positive integer"),
])
def test_a_bad_set_field_fails_before_anything_trains(fake_runs, tmp_path, item, message):
    """Including a bad value for a head that trains second: every head's config is
    validated before the first trains."""
    calls, _ = fake_runs
    with pytest.raises(ValueError, match=message):
        run(parse_args(["--dataset", "tiny", "--heads", "unet", "fcn", "--out", str(tmp_path),
                        "--set", item]))
    assert calls == []
    with pytest.raises(SystemExit, match="expected FIELD=VALUE"):
        parse_args(["--set", "NORM"])


def test_callable_fields_are_recorded_by_import_path_or_repr_and_left_out_for_inference():
    from mrcnn.data import augment
    from mrcnn.experiments.compare import settings_from_report
    from mrcnn.weights.checkpoint_info import callable_name

    assert callable_name(augment.default_augmentation) == \
        "mrcnn.data.augment:default_augmentation"
    jitter = augment.default_augmentation(scale=(0.5, 2.0))
    assert callable_name(jitter) == repr(jitter) and "0x" not in repr(jitter)
    report = {"settings": {**CompareSettings(heads=("fcn", "unet")).__dict__,
                           "config": {"AUGMENTATION": repr(jitter), "NORM": "group"}}}
    settings = settings_from_report(json.loads(json.dumps(report)))
    assert settings.heads == ("fcn", "unet") and settings.config == {"NORM": "group"}


def test_copy_paste_wraps_every_runs_augmentation(fake_runs, tmp_path, monkeypatch):
    import mrcnn.experiments.compare
    from mrcnn.data.copy_paste import CopyPaste

    seen = []
    fake_train = mrcnn.experiments.compare.train_head

    def recording(config, *args, **kwargs):
        seen.append((config.AUGMENTATION, kwargs["augmentation"]))
        return fake_train(config, *args, **kwargs)

    monkeypatch.setattr(mrcnn.experiments.compare, "train_head", recording)
    report = run(parse_args(["--dataset", "tiny", "--seeds", "1", "--out", str(tmp_path),
                             "--copy-paste", "0.25", "--verbose", "0"]))
    assert len(seen) == 2
    for augmentation, given in seen:
        assert isinstance(augmentation, CopyPaste) and augmentation.p == 0.25
        assert augmentation.per_image is TinyConfig.AUGMENTATION and given is augmentation
    assert report["settings"]["copy_paste"] == 0.25
    assert "Simple Copy-Paste on 0.25 of the training samples" in markdown_table(report)


def test_resume_refuses_runs_whose_recorded_config_differs_from_todays():
    """A recorded field that differs now is named; the runner's own fields, derived ones,
    fields recorded by a lambda's address, and runs without a record are left aside."""
    from mrcnn.experiments.compare import check_same_config, config_record, head_config

    class Config(TinyConfig):
        AUGMENTATION = staticmethod(lambda image, masks, rng: (image, masks))

    settings = CompareSettings()
    record = config_record(head_config(Config, "fcn", settings))
    assert record["AUGMENTATION"].startswith("<function") and " at 0x" in record["AUGMENTATION"]
    runs = [{"head": "fcn", "seed": 0, "config": {**record, "AUGMENTATION": "<function x at 0x1>",
                                                  "IMAGE_MAX_DIM": 999, "IMAGE_SHAPE": [1]}},
            {"head": "fcn", "seed": 1}]
    check_same_config(runs, {"fcn": head_config(Config, "fcn", settings)}, "w", "h")
    Config.LEARNING_RATE = record["LEARNING_RATE"] * 2
    with pytest.raises(ValueError, match=r"^w: seed 0 of fcn trained with another config "
                                         r"\(LEARNING_RATE: 0\.001 -> 0\.002\); h$"):
        check_same_config(runs, {"fcn": head_config(Config, "fcn", settings)}, "w", "h")
