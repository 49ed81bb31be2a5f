"""Levers: changes to a default setting, each judged over seeds against that setting.

A :class:`Study` names a registered data set (:mod:`mrcnn.data.catalog`), its default
setting (options of :mod:`mrcnn.experiments.compare`) and its levers (:class:`Lever`: more
options and/or config fields). Each lever runs as its own head comparison (same data order,
augmentation draws and initialisation per seed) and is judged seed by seed against the
baseline runs of the same head and seed: the paired difference cancels what a seed does to
both, so its mean ± std says whether the change beats the seed-to-seed noise.

``--baseline FILE`` pairs against an earlier comparison with the default setting, refused
if its settings or the config its runs recorded differ from the default setting; without
it the ``baseline`` lever runs too. ``--resume`` keeps every finished run. Each lever's
report goes to ``<out>/<lever>/<data set>/``, the lever table to ``<out>/levers.md`` and
``levers.json``, rewritten after each lever, with the rows that earlier calls wrote (one
table per baseline). ``samples/pennfudan/levers.py`` is a study.
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import dataclass, field
from typing import Any

from mrcnn.experiments import compare
from mrcnn.weights.checkpoint_info import json_default
from mrcnn.weights.files import write_text_atomically

# Figures of the lever table: names in mrcnn.experiments.compare's summary.
FIGURES = ("mask AP", "mask AP50", "mask AP75", "Boundary AP", "Boundary IoU (TP)", "box AP")


@dataclass(frozen=True)
class Lever:
    """One change to the default setting: :mod:`mrcnn.experiments.compare` options and/or
    config fields (objects such as an augmentation, which ``--set`` cannot spell)."""

    why: str
    args: tuple[str, ...] = ()
    config: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Study:
    """Levers on one data set: ``dataset`` (a name registered in :mod:`mrcnn.data.catalog`),
    ``defaults`` (the default setting: compare options), ``config_class`` (the config the
    default setting trains: a ``--baseline`` report is checked against it), ``levers``
    (``"baseline"``, the default setting itself, among them) and ``title`` (of the table)."""

    dataset: str
    defaults: tuple[str, ...]
    config_class: type
    levers: dict[str, Lever]
    title: str = "Levers"

    def __post_init__(self):
        if "baseline" not in self.levers:
            raise ValueError(f"study of {self.dataset!r}: its levers need a 'baseline' "
                             "(the default setting)")


def lever_settings(study: Study, name: str, common: list[str], out: str):
    """The ``CompareSettings`` of lever ``name``: the default setting, then the common
    options, then the lever's own (so a lever's change wins), its config fields added."""
    lever = study.levers[name]
    settings = compare.parse_args(["--dataset", study.dataset, *study.defaults, *common,
                                   *lever.args, "--out", os.path.join(out, name)])
    settings.config = {**settings.config, **lever.config}
    return settings


def lever_rows(name: str, why: str, report: dict, base_runs: list[dict], heads) -> list[dict]:
    """One row per head of lever ``name`` (``why``: what it changes): mean ± std of each
    figure, training minutes, and the paired difference against ``base_runs``."""
    paired = compare.paired_between(base_runs, report["runs"], heads)
    rows = []
    for head in heads:
        summary = report["summary"].get(head)
        if summary is None:
            continue
        rows.append({"lever": name, "head": head, "why": why,
                     "seeds": sorted(r["seed"] for r in report["runs"] if r["head"] == head),
                     "train_min": summary["train s"]["mean"] / 60,
                     **{f: {"mean": summary[f]["mean"], "std": summary[f]["std"]}
                        for f in FIGURES},
                     "paired": {f: paired[head][f] for f in FIGURES}})
    return rows


def baseline_of(row: dict) -> str:
    """What a row was paired against; rows written before ``levers.json`` recorded it say so."""
    return row.get("baseline", "a baseline levers.json did not record")


def markdown(rows: list[dict], title: str = "Levers") -> str:
    """The lever tables, one per baseline: each figure as mean ± std, then its paired change
    vs the baseline; then what each lever changes."""
    head = ("| lever | head | seeds | " + " | ".join(FIGURES) + " | "
            + " | ".join(f"Δ {f}" for f in FIGURES) + " | train min |")
    lines = []
    for baseline in dict.fromkeys(map(baseline_of, rows)):
        lines += [f"{title}, paired against {baseline} (Δ: lever − baseline per seed, "
                  "mean ± std)", "", head, "|" + " --- |" * (4 + 2 * len(FIGURES))]
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


def parse_args(study: Study, argv=None,
               description: str | None = None) -> tuple[argparse.Namespace, list[str]]:
    """The levers options, and the rest of ``argv`` (options of
    :mod:`mrcnn.experiments.compare`, given to every lever)."""
    parser = argparse.ArgumentParser(description=description or __doc__.split("\n\n")[0])
    parser.add_argument("--levers", nargs="+", choices=sorted(study.levers), required=True)
    parser.add_argument("--heads", nargs="+", default=["fcn"])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--baseline", help="compare.json of the default setting to pair with "
                        "(default: the baseline lever's runs, run if missing)")
    parser.add_argument("--out", default="results/levers")
    parser.add_argument("--resume", action="store_true", help="keep every finished run")
    return parser.parse_known_args(argv)


def baseline_runs(study: Study, path: str, common: list[str], out: str,
                  heads: list[str]) -> list[dict]:
    """The runs of the report at ``path``, refused (``ValueError``) unless it was run with
    the default setting and its runs recorded the config that setting trains with now."""
    with open(path) as f:
        report = json.load(f)
    settings = lever_settings(study, "baseline", common, out)
    what, hint = f"--baseline {path}", "pair with a run of the default setting"
    compare.check_same_settings(report, settings, what, hint, config_class=study.config_class)
    # The runner's own fields (image size, steps) are settings: the class will do.
    compare.check_same_config(
        report["runs"],
        {head: compare.head_config(study.config_class, head, settings) for head in heads},
        what, hint)
    return report["runs"]


def run(study: Study, args: argparse.Namespace, rest: list[str]) -> list[dict]:
    """Run the levers ``args`` name (:func:`parse_args`), ``rest`` given to every
    comparison; write ``<out>/levers.{json,md}`` after each lever; return this call's rows."""
    common = ["--heads", *args.heads, "--seeds", str(args.seeds), *rest]
    if args.resume:
        common.append("--resume")
    levers = list(dict.fromkeys(args.levers))
    if args.baseline:
        base_runs = baseline_runs(study, args.baseline, common, args.out, args.heads)
        baseline = f"`{args.baseline}`"
    else:
        levers = ["baseline", *(name for name in levers if name != "baseline")]
        base_runs, baseline = None, "the baseline lever"
    rows: list[dict] = []
    earlier = earlier_rows(os.path.join(args.out, "levers.json"), levers, args.heads, baseline)
    for name in levers:
        print(f"\n##### lever {name}: {study.levers[name].why}", flush=True)
        report = compare.run(lever_settings(study, name, common, args.out))
        if base_runs is None:
            base_runs = report["runs"]
        rows += [{**row, "baseline": baseline}
                 for row in lever_rows(name, study.levers[name].why, report, base_runs,
                                       args.heads)]
        table = earlier + rows
        write_text_atomically(os.path.join(args.out, "levers.json"),
                              json.dumps(table, indent=2, default=json_default))
        write_text_atomically(os.path.join(args.out, "levers.md"),
                              markdown(table, study.title))
    print("\n" + markdown(rows, study.title))
    return rows


def main(study: Study, argv=None, description: str | None = None) -> list[dict]:
    """:func:`parse_args` then :func:`run`."""
    args, rest = parse_args(study, argv, description)
    return run(study, args, rest)
