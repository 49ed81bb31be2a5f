"""mrcnn.experiments.levers on hand-made reports: each lever's setting, its rows paired seed
by seed with the baseline, the tables per baseline, and the rows kept from earlier calls."""

from __future__ import annotations

import json

import pytest

from mrcnn.experiments import compare, levers
from mrcnn.experiments.levers import Lever, Study
from tests.helpers import fake_metrics

STUDY = Study("shapes", ("--seeds", "1", "--epochs", "4"), object,
              {"baseline": Lever("the default"),
               "longer": Lever("8 epochs", args=("--epochs", "8")),
               "group": Lever("GroupNorm", config={"NORM": "group"})},
              title="Toy levers")


def report_of(aps: dict[tuple[str, int], float], minutes: float = 2.0) -> dict:
    """A comparison report of runs whose every figure is ``aps[(head, seed)]``."""
    runs = [{"head": head, "seed": seed, "train_seconds": 60.0 * minutes, **fake_metrics(ap)}
            for (head, seed), ap in aps.items()]
    heads = list(dict.fromkeys(head for head, _ in aps))
    return {"runs": runs, "summary": compare.summarize(runs, heads)}


def test_a_lever_is_the_default_setting_with_its_change():
    settings = levers.lever_settings(STUDY, "longer", ["--heads", "fcn", "--epochs", "6"],
                                     "out")
    assert (settings.dataset, settings.epochs, settings.seeds) == ("shapes", 8, 1)
    assert settings.out == "out/longer" and settings.heads == ("fcn",)
    settings = levers.lever_settings(STUDY, "group", ["--set", "NORM=batch"], "out")
    assert settings.config == {"NORM": "group"} and settings.epochs == 4
    with pytest.raises(ValueError, match="need a 'baseline'"):
        Study("shapes", (), object, {"longer": Lever("x")})


def test_rows_are_paired_seed_by_seed_with_the_baseline():
    base = report_of({("fcn", 0): 0.30, ("fcn", 1): 0.20, ("fcn", 2): 0.25})
    lever = report_of({("fcn", 0): 0.33, ("fcn", 1): 0.21, ("unet", 0): 0.5}, minutes=3.0)
    rows = levers.lever_rows("group", "GroupNorm", lever, base["runs"], ["fcn", "unet", "x"])
    assert [(r["lever"], r["head"], r["seeds"]) for r in rows] == [
        ("group", "fcn", [0, 1]), ("group", "unet", [0])]  # no row for a head without runs
    fcn = rows[0]
    assert fcn["why"] == "GroupNorm" and fcn["train_min"] == pytest.approx(3.0)
    assert fcn["mask AP"]["mean"] == pytest.approx(0.27)
    paired = fcn["paired"]["mask AP"]
    assert paired["seeds"] == [0, 1] and paired["values"] == pytest.approx([0.03, 0.01])
    assert paired["mean"] == pytest.approx(0.02) and paired["std"] == pytest.approx(0.01)
    assert rows[1]["paired"]["mask AP"]["seeds"] == []  # the baseline has no unet run
    assert set(fcn["paired"]) == set(levers.FIGURES)


def test_the_table_has_one_part_per_baseline_and_says_what_each_lever_changes():
    base = report_of({("fcn", 0): 0.30, ("fcn", 1): 0.20})
    rows = [{**row, "baseline": "the baseline lever"}
            for name, aps in (("baseline", (0.30, 0.20)), ("longer", (0.34, 0.26)))
            for row in levers.lever_rows(name, STUDY.levers[name].why,
                                         report_of({("fcn", 0): aps[0], ("fcn", 1): aps[1]}),
                                         base["runs"], ["fcn"])]
    rows.append({**rows[1], "baseline": "`old/compare.json`", "lever": "group",
                 "why": "GroupNorm"})
    old = {k: v for k, v in rows[1].items() if k not in ("baseline", "box AP")}
    rows.append({**old, "lever": "older", "why": "before the baseline was recorded"})
    text = levers.markdown(rows, STUDY.title)
    parts = text.split("Toy levers, paired against ")
    assert [p.split(" (")[0] for p in parts[1:]] == [
        "the baseline lever", "`old/compare.json`", "a baseline levers.json did not record"]
    assert "| longer | fcn | 2 | 0.300 ± 0.040 |" in parts[1]
    assert "+0.050 ± 0.010" in parts[1] and "| group |" not in parts[1]
    assert "| group | fcn | 2 |" in parts[2]
    assert "n/a" in parts[3].split("| older |")[1]  # a figure the row predates
    assert text.endswith("- `baseline`: the default\n- `longer`: 8 epochs\n"
                         "- `group`: GroupNorm\n- `older`: before the baseline was recorded\n")


def test_earlier_rows_stay_unless_this_call_makes_them_again(tmp_path):
    path = tmp_path / "levers.json"
    assert levers.earlier_rows(str(path), ["longer"], ["fcn"], "b") == []
    table = [{"lever": "longer", "head": "fcn", "baseline": "b"},
             {"lever": "longer", "head": "unet", "baseline": "b"},
             {"lever": "longer", "head": "fcn", "baseline": "other"},
             {"lever": "group", "head": "fcn", "baseline": "b"},
             {"lever": "longer", "head": "fcn"}]
    path.write_text(json.dumps(table))
    kept = levers.earlier_rows(str(path), ["longer"], ["fcn"], "b")
    assert kept == table[1:]
