"""samples/pennfudan/levers.py: each lever's setting reaches its runs, and is judged seed by
seed against the baseline (training and evaluation replaced by records, so it runs in a
second and without the data), with the command line it has always had."""

from __future__ import annotations

import json

import pytest

import mrcnn.experiments.compare
from mrcnn.data import augment, public
from mrcnn.data.catalog import get_dataset, register_dataset
from mrcnn.data.copy_paste import CopyPaste
from mrcnn.experiments import levers as study_runner
from mrcnn.experiments.run import TrainedHead
from tests.helpers import fake_comparison, fake_metrics
from tests.samples import SAMPLES, sample_module

levers = sample_module("pennfudan_levers", SAMPLES / "pennfudan" / "levers.py")


@pytest.fixture
def fake_levers(monkeypatch, tmp_path):
    """Runs whose mask AP encodes (seed, setting): +0.02 with GroupNorm, -0.01 at 320 px."""
    seen = []

    def experiment(settings, seed):
        size = settings.image_size

        class Config(levers.PennFudanConfig):  # no model is built
            IMAGE_MIN_DIM = IMAGE_MAX_DIM = size
        return Config, None, None

    def train(config, train_set, val_set, epochs, seed, logs, **kwargs):
        seen.append({"seed": seed, "head": config.MASK_HEAD, "norm": config.NORM,
                     "size": int(config.IMAGE_MAX_DIM), "epochs": epochs,
                     "augmentation": kwargs["augmentation"]})
        return TrainedHead(config.MASK_HEAD, seed, "ckpt", 1, 60.0 * (seed + 1),
                           {"total_loss": [1.0]})

    def evaluate(detector, val_set):
        run = seen[-1]
        return fake_metrics(0.3 + run["seed"] / 100 + (0.02 if run["norm"] == "group" else 0.0)
                            - (0.01 if run["size"] == 320 else 0.0))

    # The data is "found" (an empty Penn-Fudan folder), the runs use the fake experiment.
    (tmp_path / "data" / "pennfudan" / "PennFudanPed" / "PNGImages").mkdir(parents=True)
    monkeypatch.setenv(public.DATA_ENV, str(tmp_path / "data"))
    public.set_data_root(None)
    fake_comparison(monkeypatch, train, evaluate)
    sample_data = get_dataset("pennfudan")
    register_dataset("pennfudan", experiment, replace=True)
    yield seen
    register_dataset("pennfudan", sample_data, replace=True)


def test_levers_run_their_change_and_are_paired_with_the_baseline(fake_levers, tmp_path):
    out = tmp_path / "levers"
    argv = ["--levers", "group_norm", "image_320", "scale_jitter_wide", "--seeds", "2",
            "--out", str(out), "--verbose", "0"]
    rows = levers.main(argv)
    # The baseline runs first, then each lever with its one change.
    settings = [(r["norm"], r["size"], r["epochs"]) for r in fake_levers]
    assert settings == [("batch", 256, 30)] * 2 + [("group", 256, 30)] * 2 + [
        ("batch", 320, 30)] * 2 + [("batch", 256, 30)] * 2
    # The sample's Copy-Paste wraps every lever's per-image augmentation.
    default, jitter = (fake_levers[i]["augmentation"] for i in (0, -1))
    assert isinstance(jitter, CopyPaste) and jitter.p == 0.5 == default.p
    assert isinstance(jitter.per_image, augment.Compose)
    assert "ScaleJitter(low=0.5, high=2.0)" in repr(jitter.per_image)
    assert repr(default.per_image) != repr(jitter.per_image)  # the sample's default
    by_lever = {r["lever"]: r for r in rows}
    assert list(by_lever) == ["baseline", "group_norm", "image_320", "scale_jitter_wide"]
    gn = by_lever["group_norm"]["paired"]["mask AP"]
    assert gn["seeds"] == [0, 1] and gn["values"] == pytest.approx([0.02, 0.02])
    assert by_lever["image_320"]["paired"]["mask AP"]["mean"] == pytest.approx(-0.01)
    assert by_lever["group_norm"]["mask AP"]["mean"] == pytest.approx(0.325)
    assert by_lever["baseline"]["train_min"] == pytest.approx(1.5)
    table = (out / "levers.md").read_text()
    assert "| group_norm | fcn | 2 | 0.325 ± 0.005" in table and "+0.020 ± 0.000" in table
    assert json.loads((out / "levers.json").read_text())[1]["lever"] == "group_norm"
    # Everything is kept on --resume: nothing trains again, the table is the same.
    fake_levers.clear()
    assert levers.main([*argv, "--resume"]) == rows and fake_levers == []
    # Another lever later: the table keeps the earlier levers' rows, and adds its own.
    levers.main(["--levers", "epochs_40", "--seeds", "2", "--out", str(out), "--verbose", "0",
                 "--resume"])
    assert [r["epochs"] for r in fake_levers] == [40, 40]
    # A lever can take the default's Copy-Paste away.
    fake_levers.clear()
    levers.main(["--levers", "no_copy_paste", "--seeds", "1", "--out", str(tmp_path / "n"),
                 "--verbose", "0"])
    pasting, without = (r["augmentation"] for r in fake_levers)  # baseline, the lever
    assert isinstance(pasting, CopyPaste) and not isinstance(without, CopyPaste)
    assert repr(without) == repr(pasting.per_image)
    table = json.loads((out / "levers.json").read_text())
    assert [r["lever"] for r in table] == ["group_norm", "image_320", "scale_jitter_wide",
                                           "baseline", "epochs_40"]
    assert "| image_320 | fcn | 2 |" in (out / "levers.md").read_text()
    # Another head for a lever keeps the lever's earlier rows; a row of a lever since
    # renamed keeps its own description.
    table[0]["lever"] = "renamed"
    (out / "levers.json").write_text(json.dumps(table))
    levers.main(["--levers", "epochs_40", "--heads", "unet", "--seeds", "2", "--out", str(out),
                 "--verbose", "0", "--resume"])
    table = json.loads((out / "levers.json").read_text())
    assert [(r["lever"], r["head"]) for r in table][-3:] == [
        ("epochs_40", "fcn"), ("baseline", "unet"), ("epochs_40", "unet")]
    assert f"- `renamed`: {levers.LEVERS['group_norm'].why}" in (out / "levers.md").read_text()


def test_levers_pair_with_a_given_baseline_only_if_it_has_the_default_setting(fake_levers,
                                                                             tmp_path,
                                                                             monkeypatch):
    base = mrcnn.experiments.compare.run(study_runner.lever_settings(
        levers.STUDY, "baseline", ["--heads", "fcn", "unet", "--seeds", "2", "--verbose", "0"],
        str(tmp_path / "verdict")))
    path = tmp_path / "verdict" / "baseline" / "pennfudan" / "compare.json"
    fake_levers.clear()
    rows = levers.main(["--levers", "group_norm", "--heads", "fcn", "unet", "--seeds", "2",
                        "--baseline", str(path), "--out", str(tmp_path / "l"),
                        "--verbose", "0"])
    assert [(r["seed"], r["head"], r["norm"]) for r in fake_levers] == [
        (0, "fcn", "group"), (0, "unet", "group"), (1, "fcn", "group"), (1, "unet", "group")]
    assert [(r["lever"], r["head"]) for r in rows] == [("group_norm", "fcn"),
                                                       ("group_norm", "unet")]
    assert rows[1]["paired"]["mask AP"]["values"] == pytest.approx([0.02, 0.02])
    assert base["complete"]
    with pytest.raises(ValueError, match=r"--baseline .* other settings \(epochs: 30 -> 20\)"):
        levers.main(["--levers", "group_norm", "--baseline", str(path), "--epochs", "20",
                     "--out", str(tmp_path / "l2"), "--verbose", "0"])
    # A --set field that PennFudanConfig has since taken as its default still matches;
    # any other value does not.
    report = json.loads(path.read_text())
    default = levers.PennFudanConfig.MAX_GT_INSTANCES
    for value in (default, default + 1):
        report["settings"]["config"] = {"MAX_GT_INSTANCES": value}
        path.write_text(json.dumps(report))
        again = ["--levers", "group_norm", "--heads", "fcn", "unet", "--seeds", "2",
                 "--baseline", str(path), "--out", str(tmp_path / "l"), "--resume",
                 "--verbose", "0"]
        if value == default:
            assert levers.main(again)[1]["paired"]["mask AP"]["values"] == pytest.approx(
                [0.02, 0.02])
        else:
            with pytest.raises(ValueError, match=r"config: \{'MAX_GT_INSTANCES': "):
                levers.main(again)
    # A class default changed since the baseline ran: its runs recorded their config, so
    # the pairing is refused, naming the field.
    report["settings"]["config"] = {}
    path.write_text(json.dumps(report))
    assert report["runs"][0]["config"]["DETECTION_MAX_INSTANCES"] == 20
    with monkeypatch.context() as patch, pytest.raises(
            ValueError, match=r"seed 0 of fcn trained with another config "
                              r"\(DETECTION_MAX_INSTANCES: 20 -> 30\)"):
        patch.setattr(levers.PennFudanConfig, "DETECTION_MAX_INSTANCES", 30)
        levers.main(again)
    # Levers paired with another baseline (here the baseline lever) join the table in a
    # table of their own; the rows paired with the given baseline stay.
    levers.main(["--levers", "image_320", "--seeds", "1", "--out", str(tmp_path / "l"),
                 "--verbose", "0"])
    table = json.loads((tmp_path / "l" / "levers.json").read_text())
    assert [(r["lever"], r["head"]) for r in table] == [
        ("group_norm", "fcn"), ("group_norm", "unet"), ("baseline", "fcn"), ("image_320", "fcn")]
    text = (tmp_path / "l" / "levers.md").read_text()
    assert text.index(f"paired against `{path}`") < text.index("| group_norm | unet |") < (
        text.index("paired against the baseline lever")) < text.index("| image_320 | fcn | 1 |")
    # A row written before levers.json recorded its baseline says so, in a table of its own.
    del table[0]["baseline"]
    text = study_runner.markdown(table, levers.STUDY.title)
    assert "Penn-Fudan levers, paired against a baseline levers.json did not record" in text
    assert "None" not in text
    # A seed added with --resume to runs made before a class default changed is refused.
    with monkeypatch.context() as patch, pytest.raises(
            ValueError, match=r"cannot resume .*baseline.* trained with another config"):
        patch.setattr(levers.PennFudanConfig, "DETECTION_MAX_INSTANCES", 30)
        levers.main(["--levers", "image_320", "--seeds", "2", "--out", str(tmp_path / "l"),
                     "--resume", "--verbose", "0"])
