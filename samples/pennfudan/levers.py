"""What lifts Penn-Fudan from random initialisation: each change judged over seeds.

    python samples/pennfudan/levers.py --levers group_norm image_320 --heads fcn --seeds 3 \\
        --baseline results/pennfudan/compare.json

Each lever is the sample's default setting (``train.py``: 256 px, 30 epochs x 100 steps of
4 images, Copy-Paste on half the samples) with one change. It runs as its own head
comparison (``mrcnn.experiments.compare``, same data order, augmentation draws and initialisation
per
seed) and is judged seed by seed against the baseline runs of the same head and seed: the
paired difference cancels what a seed does to both, so its mean ± std says whether the
change beats the seed-to-seed noise.
``--baseline`` pairs against an earlier comparison with the default setting (e.g. the
``compare.json`` of ``train.py --seeds 3``), refused if its settings or the config its runs
recorded differ from the default setting; without it the ``baseline`` lever runs too.
``--resume`` keeps every finished run. Each lever's report goes to
``<out>/<lever>/pennfudan/``, the lever table to ``<out>/levers.md`` and ``levers.json``,
rewritten after each lever, with the rows that earlier calls wrote (one table per
baseline).

The levers (``LEVERS``), from *Rethinking ImageNet Pre-training* (He et al. 2019: GroupNorm
and longer schedules for training from scratch) and *Simple Copy-Paste* (Ghiasi et al.
2021: pasting objects between training images, wider scale jitter), plus the image size
and anchors this data set suggests: at 256 px the training pedestrians' sqrt(box area) is
29-127 px (5th-95th percentile, median 75), against anchors of 16-256 px.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))  # this sample's module
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # samples/samples_common.py

from pennfudan import (  # noqa: E402
    DEFAULT_ARGS,
    PennFudanConfig,
    pennfudan_dir,
    pennfudan_experiment,
)
from samples_common import prepare_sample  # noqa: E402

from mrcnn.data import augment  # noqa: E402
from mrcnn.experiments import compare  # noqa: E402
from mrcnn.weights.checkpoint_info import json_default  # noqa: E402
from mrcnn.weights.files import write_text_atomically  # noqa: E402


@dataclass(frozen=True)
class Lever:
    """One change to the default setting: ``mrcnn.experiments.compare`` options and/or config fields
    (objects such as an augmentation, which ``--set`` cannot spell)."""

    why: str
    args: tuple[str, ...] = ()
    config: dict[str, Any] = field(default_factory=dict)


LEVERS: dict[str, Lever] = {
    "baseline": Lever("the default setting"),
    "group_norm": Lever("GroupNorm in backbone, FPN and heads (He et al.)",
                        config={"NORM": "group"}),
    "image_320": Lever("320 px squares (x1.56 pixels)", args=("--image-size", "320")),
    # Judged on 2026-11-30 as "epochs_30" against 20, then the default: +0.025 ± 0.007 mask
    # AP, FCN, 3 seeds.
    "epochs_20": Lever("20 epochs, the schedule before 30 (what 10 more epochs are worth)",
                       args=("--epochs", "20")),
    "epochs_40": Lever("40 epochs, 1.33x the schedule (He et al.: longer from scratch)",
                       args=("--epochs", "40")),
    # Copy-Paste's large scale jitter is 0.1-2.0 at 1024 px; at 256 px that would shrink
    # the smallest pedestrians (29 px) to 3 px, so the range is narrowed to 0.5-2.0.
    "scale_jitter_wide": Lever("scale jitter 0.5-2.0 on every image (LSJ-like)",
                               config={"AUGMENTATION": augment.default_augmentation(
                                   scale=(0.5, 2.0), scale_p=1.0)}),
    # Judged on 2026-11-30 as a lever (then "copy_paste", before it became the default):
    # +0.054 ± 0.012 mask AP, FCN, 3 seeds.
    "no_copy_paste": Lever("without Simple Copy-Paste (Ghiasi et al.; the default pastes "
                           "on half the samples)", args=("--copy-paste", "0")),
    "anchors_20": Lever("anchors 20-320 px (x1.25; the median pedestrian is 75 px)",
                        config={"RPN_ANCHOR_SCALES": (20, 40, 80, 160, 320)}),
    "mask_every_roi": Lever("the mask head trained on every sampled RoI, as the classic "
                            "Keras code (the default: on the rows that can be positive)",
                            config={"MASK_HEAD_POSITIVES_ONLY": False}),
    "no_augmentation": Lever("no augmentation, Copy-Paste included (what it is worth)",
                             args=("--copy-paste", "0"), config={"AUGMENTATION": None}),
}

# Figures of the lever table: name in mrcnn.experiments.compare's summary.
FIGURES = ("mask AP", "mask AP50", "mask AP75", "Boundary AP", "Boundary IoU (TP)", "box AP")


def lever_settings(name: str, common: list[str], out: str):
    """The ``CompareSettings`` of lever ``name``: defaults, then the common options, then
    the lever's own (so a lever's change wins), its config fields added."""
    lever = LEVERS[name]
    settings = compare.parse_args(["--dataset", "pennfudan", *DEFAULT_ARGS, *common,
                                   *lever.args, "--out", os.path.join(out, name)])
    settings.config = {**settings.config, **lever.config}
    return settings


def lever_rows(name: str, report: dict, base_runs: list[dict], heads) -> list[dict]:
    """One row per head: mean ± std of each figure, training minutes, and the paired
    difference against ``base_runs``."""
    paired = compare.paired_between(base_runs, report["runs"], heads)
    rows = []
    for head in heads:
        summary = report["summary"].get(head)
        if summary is None:
            continue
        rows.append({"lever": name, "head": head, "why": LEVERS[name].why,
                     "seeds": sorted(r["seed"] for r in report["runs"] if r["head"] == head),
                     "train_min": summary["train s"]["mean"] / 60,
                     **{f: {"mean": summary[f]["mean"], "std": summary[f]["std"]}
                        for f in FIGURES},
                     "paired": {f: paired[head][f] for f in FIGURES}})
    return rows


def baseline_of(row: dict) -> str:
    """What a row was paired against; rows written before ``levers.json`` recorded it say so."""
    return row.get("baseline", "a baseline levers.json did not record")


def markdown(rows: list[dict]) -> str:
    """The lever tables, one per baseline: each figure as mean ± std, then its paired change
    vs the baseline."""
    head = ("| lever | head | seeds | " + " | ".join(FIGURES) + " | "
            + " | ".join(f"Δ {f}" for f in FIGURES) + " | train min |")
    lines = []
    for baseline in dict.fromkeys(map(baseline_of, rows)):
        lines += [f"Penn-Fudan levers, paired against {baseline} (Δ: lever − baseline per "
                  "seed, mean ± std)", "", head, "|" + " --- |" * (4 + 2 * len(FIGURES))]
        for row in rows:
            if baseline_of(row) != baseline:
                continue
            # A row written before a figure joined FIGURES shows n/a for it.
            stats = [f"{row[f]['mean']:.3f} ± {row[f]['std']:.3f}" if f in row else "n/a"
                     for f in FIGURES]
            deltas = [f"{row['paired'][f]['mean']:+.3f} ± {row['paired'][f]['std']:.3f}"
                      if row["paired"].get(f, {}).get("seeds") else "n/a" for f in FIGURES]
            lines.append(f"| {row['lever']} | {row['head']} | {len(row['seeds'])} | "
                         + " | ".join(stats + deltas) + f" | {row['train_min']:.1f} |")
        lines.append("")
    lines += [f"- `{name}`: {why}"
              for name, why in dict.fromkeys((r["lever"], r["why"]) for r in rows)]
    return "\n".join(lines) + "\n"


def parse_args(argv=None) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--levers", nargs="+", choices=sorted(LEVERS), required=True)
    parser.add_argument("--heads", nargs="+", default=["fcn"])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--baseline", help="compare.json of the default setting to pair with "
                        "(default: the baseline lever's runs, run if missing)")
    parser.add_argument("--out", default="results/levers")
    parser.add_argument("--resume", action="store_true", help="keep every finished run")
    args, rest = parser.parse_known_args(argv)  # the rest goes to mrcnn.experiments.compare
    return args, rest


def main(argv=None) -> list[dict]:
    args, rest = parse_args(prepare_sample("pennfudan", pennfudan_experiment, pennfudan_dir,
                                           argv))
    common = ["--heads", *args.heads, "--seeds", str(args.seeds), *rest]
    if args.resume:
        common.append("--resume")
    levers = list(dict.fromkeys(args.levers))
    if args.baseline:
        with open(args.baseline) as f:
            report = json.load(f)
        settings = lever_settings("baseline", common, args.out)
        what, hint = f"--baseline {args.baseline}", "pair with a run of the default setting"
        compare.check_same_settings(report, settings, what, hint,
                                    config_class=PennFudanConfig)
        # The runner's own fields (image size, steps) are settings: the class will do.
        compare.check_same_config(
            report["runs"],
            {head: compare.head_config(PennFudanConfig, head, settings) for head in args.heads},
            what, hint)
        base_runs, baseline = report["runs"], f"`{args.baseline}`"
    else:
        levers = ["baseline", *(name for name in levers if name != "baseline")]
        base_runs, baseline = None, "the baseline lever"
    rows: list[dict] = []
    earlier = earlier_rows(os.path.join(args.out, "levers.json"), levers, args.heads, baseline)
    for name in levers:
        print(f"\n##### lever {name}: {LEVERS[name].why}", flush=True)
        report = compare.run(lever_settings(name, common, args.out))
        if base_runs is None:
            base_runs = report["runs"]
        rows += [{**row, "baseline": baseline}
                 for row in lever_rows(name, report, base_runs, args.heads)]
        table = earlier + rows
        write_text_atomically(os.path.join(args.out, "levers.json"),
                              json.dumps(table, indent=2, default=json_default))
        write_text_atomically(os.path.join(args.out, "levers.md"), markdown(table))
    print("\n" + markdown(rows))
    return rows


def earlier_rows(path: str, levers: list[str], heads: list[str], baseline: str) -> list[dict]:
    """The rows an earlier call wrote to ``levers.json``, but those this call makes again
    (same lever, head and baseline): the table grows one call at a time, and rows paired
    with another baseline stay, in a table of their own."""
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [row for row in json.load(f) if not (baseline_of(row) == baseline
                                                     and row["lever"] in levers
                                                     and row["head"] in heads)]


if __name__ == "__main__":
    main()
