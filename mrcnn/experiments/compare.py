"""A fair, repeatable comparison of mask heads on one data set.

    python -m mrcnn.experiments.compare --dataset shapes --heads fcn unet --seeds 3 --out results/

For each seed, every head trains with the same data order, backbone initialisation and
schedule (only the mask head differs, see :mod:`mrcnn.experiments.run`), then is evaluated on
the same held-out images: COCO bbox/segm AP (AP, AP50, AP75, AP90, APs/m/l, AR100),
mask AP against the IoU threshold, mask IoU and Boundary IoU of true positives by object
size, and the VOC-style per-image mAP@0.5. Each head's parameters, FLOPs per RoI and
inference time per image are measured in the same run.

``--set FIELD=VALUE`` (repeatable) sets a config field for every run, e.g. ``--set
NORM=group --set RPN_ANCHOR_SCALES="(16, 32, 64, 128, 256)"``: VALUE is a Python literal
(or else a string). The fields are part of the settings the report records.

``--copy-paste P`` wraps every run's augmentation in Simple Copy-Paste
(:class:`mrcnn.data.augment.CopyPaste`) applied to a fraction P of the training samples.

``--weights coco|imagenet|PATH`` starts every head's shared layers (backbone, FPN, RPN,
box head) from the same pretrained file and each mask head from random initialisation;
the report says so. The report is rewritten after every run; ``--resume`` keeps the
finished runs of an interrupted comparison.

``--dataset`` names a data set of the catalog (:mod:`mrcnn.data.catalog`: ``shapes``, or
one a sample or ``mrcnn compare --dataset SPEC`` registered).

Writes ``<out>/<dataset>/compare.json`` (every figure per head per seed, and mean ± std;
``data``: how to rebuild the data, where the data set can say), ``compare.md`` (the table)
and plots (``loss_curves.png``, ``ap_vs_iou.png``, ``boundary_iou_by_size.png``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from dataclasses import asdict

import numpy as np

from mrcnn.config import DERIVED_FIELDS
from mrcnn.data.catalog import get_dataset, registered_datasets
from mrcnn.evaluation.evaluate import evaluate_run
from mrcnn.experiments.config_overrides import check_config_fields, with_fields
from mrcnn.experiments.run import load_detector, train_head
from mrcnn.experiments.settings import CompareSettings, add_runner_arguments, settings_from_args
from mrcnn.flops import mask_head_profile
from mrcnn.heads.mask import check_heads
from mrcnn.weights.checkpoint_info import json_default
from mrcnn.weights.files import write_text_atomically

# Settings that may differ between an interrupted comparison and the one resuming it.
RESUMABLE_CHANGES = ("seeds", "heads", "out", "logs", "verbose", "resume")


def previous_runs(settings: CompareSettings, path: str,
                  data: dict | None = None) -> tuple[list[dict], float]:
    """Finished runs (and their wall seconds) of an interrupted comparison at ``path`` that
    ``settings`` also plans; ``ValueError`` when it was run with other settings, or on
    other data than the ``data`` record says (where both record it)."""
    if not os.path.exists(path):
        return [], 0.0
    with open(path) as f:
        report = json.load(f)
    check_same_settings(report, settings, f"cannot resume {path}",
                        "use another --out or drop --resume")
    if data is not None and report.get("data") not in (None, data):
        raise ValueError(f"cannot resume {path}: it was run on other data ({report['data']} "
                         f"-> {data}); use another --out or drop --resume")
    runs = [r for r in report["runs"]
            if r["head"] in settings.heads and r["seed"] < settings.seeds]
    return runs, float(report.get("wall_seconds", 0.0))


def check_same_settings(report: dict, settings: CompareSettings, what: str, hint: str,
                        config_class=None) -> None:
    """Raise ``ValueError`` when ``report`` was run with other settings than ``settings``
    (apart from seeds, heads and where the output goes).

    With ``config_class``, a ``--set`` field equal to that class's own value counts as not
    set, on both sides: a field the class has since taken as its default still matches.
    Whether the class's other defaults are still those of the report's runs is
    :func:`check_same_config`'s question."""
    old, new, default = report["settings"], asdict(settings), asdict(CompareSettings())
    if config_class is not None:
        old = {**old, "config": fields_off_default(old.get("config", {}), config_class)}
        new = {**new, "config": fields_off_default(new["config"], config_class)}
    changed = sorted(k for k in new if k not in RESUMABLE_CHANGES
                     and not _json_equal(old.get(k, default[k]), new[k]))
    if changed:
        raise ValueError(f"{what}: it was run with other settings ("
                         + ", ".join(f"{k}: {old.get(k, default[k])!r} -> {new[k]!r}"
                                     for k in changed)
                         + f"); {hint}")


def check_same_config(runs: list[dict], configs: dict, what: str, hint: str) -> None:
    """Raise ``ValueError`` when a run of ``runs`` trained with another value of a config
    field than ``configs[head]`` (the config its head would train with now) has: a class
    default changed since, say. Fields the runner sets from its options (compared as
    settings), fields derived from others, and runs or fields a report did not record (runs
    before 2026-11-30 carry no ``config``; a lambda is recorded by its address, which
    another process does not share) are left aside."""
    skip = RUNNER_FIELDS.keys() | set(DERIVED_FIELDS)

    def recorded(value) -> bool:
        return not (isinstance(value, str) and " at 0x" in value)

    now = {head: config_record(config) for head, config in configs.items()}
    for run in runs:
        if run.get("config") is None or run["head"] not in now:
            continue
        old, new = run["config"], now[run["head"]]
        changed = sorted(k for k in old.keys() & new.keys() - skip
                         if old[k] != new[k] and recorded(old[k]) and recorded(new[k]))
        if changed:
            raise ValueError(f"{what}: seed {run['seed']} of {run['head']} trained with "
                             "another config (" + ", ".join(f"{k}: {old[k]!r} -> {new[k]!r}"
                                                            for k in changed) + f"); {hint}")


def config_record(config) -> dict:
    """Every field of ``config`` as a run's record in compare.json keeps it (``config``)."""
    return json.loads(json.dumps(config.to_dict(), default=json_default))


def fields_off_default(fields: dict, config_class) -> dict:
    """The fields of ``fields`` whose value differs from ``config_class``'s own."""
    return {k: v for k, v in fields.items()
            if not (hasattr(config_class, k) and _json_equal(getattr(config_class, k), v))}


def _json_equal(a, b) -> bool:
    """Equality of two settings values as compare.json stores them (tuples as lists)."""
    return (json.dumps(a, default=json_default, sort_keys=True)
            == json.dumps(b, default=json_default, sort_keys=True))


# Fields the runner (or the experiment, from the runner's options) sets for each run.
RUNNER_FIELDS = {"MASK_HEAD": "--heads", "NAME": "the data set and head",
                 "DTYPE_POLICY": "--dtype-policy", "IMAGE_MIN_DIM": "--image-size",
                 "IMAGE_MAX_DIM": "--image-size", "STEPS_PER_EPOCH": "--steps-per-epoch"}


def head_config(config_class, head: str, settings: CompareSettings):
    """The config a run of ``head`` trains with: the experiment's config class with the
    ``--set`` fields, the head, a name of its own, ``--dtype-policy`` and ``--copy-paste``
    (its augmentation wrapped in Simple Copy-Paste)."""
    fields = {**settings.config, "MASK_HEAD": head, "NAME": f"{config_class.NAME}_{head}"}
    if settings.dtype_policy:
        fields["DTYPE_POLICY"] = settings.dtype_policy
    return with_fields(config_class, fields, settings.copy_paste,
                       f"{config_class.__name__}_{head}")()


def data_record(experiment) -> dict | None:
    """How to rebuild a data-set function's data (its ``record()``), None where it cannot
    say (see :mod:`mrcnn.data.catalog`)."""
    record = getattr(experiment, "record", None)
    return record() if callable(record) else None


def write_report(settings: CompareSettings, runs: list[dict], wall_seconds: float,
                 out_dir: str, data: dict | None = None) -> dict:
    """Write ``compare.json`` and ``compare.md`` atomically for the runs so far; ``data``:
    the data set's record (:func:`data_record`)."""
    report = {"settings": asdict(settings), **({"data": data} if data is not None else {}),
              "wall_seconds": wall_seconds,
              "complete": len(runs) == settings.seeds * len(settings.heads),
              "runs": runs, "summary": summarize(runs, settings.heads),
              "paired": paired_differences(runs, settings.heads)}
    write_text_atomically(os.path.join(out_dir, "compare.json"),
                          json.dumps(report, indent=2, default=json_default))
    write_text_atomically(os.path.join(out_dir, "compare.md"), markdown_table(report))
    return report


def run(settings: CompareSettings) -> dict:
    """Train and evaluate every head for every seed; write and return the report.

    The data set is the catalog's function named ``settings.dataset``
    (:func:`mrcnn.data.catalog.get_dataset`). The report is rewritten after every run, so
    an interrupted comparison keeps what it finished; ``settings.resume`` skips the runs an
    earlier report already holds.
    """
    experiment = get_dataset(settings.dataset)
    data = data_record(experiment)
    check_heads(settings.heads)
    out_dir = os.path.join(settings.out, settings.dataset)
    os.makedirs(out_dir, exist_ok=True)
    runs, wall_before = [], 0.0
    if settings.resume:
        runs, wall_before = previous_runs(settings, os.path.join(out_dir, "compare.json"),
                                          data)
        if runs:
            print(f"resuming: {len(runs)} finished run(s) kept from {out_dir}", flush=True)
    done = {(r["seed"], r["head"]) for r in runs}
    tic = time.perf_counter()
    for seed in range(settings.seeds):
        if all((seed, head) in done for head in settings.heads):
            continue
        config_class, train_set, val_set = experiment(settings, seed)
        check_config_fields(config_class, settings.config, RUNNER_FIELDS)
        # Every head's config is validated before the first trains.
        configs = {head: head_config(config_class, head, settings) for head in settings.heads}
        check_same_config(runs, configs, f"cannot resume {out_dir}",
                          "use another --out or drop --resume")
        for head in settings.heads:
            if (seed, head) in done:
                continue
            config = configs[head]
            print(f"\n=== seed {seed}, head {head} ===", flush=True)
            trained = train_head(config, train_set, val_set, settings.epochs, seed,
                                 settings.logs, augmentation=config.AUGMENTATION,
                                 verbose=settings.verbose, weights=settings.weights)
            detector = load_detector(config, trained.checkpoint, settings.logs)
            metrics = evaluate_run(detector, val_set)
            runs.append({**asdict(trained), **metrics, "head_profile": mask_head_profile(config),
                         "config": config_record(config)})
            write_report(settings, runs, wall_before + time.perf_counter() - tic, out_dir,
                         data)
            print(f"seed {seed} {head}: segm AP {metrics['segm']['AP']:.3f}, "
                  f"AP50 {metrics['segm']['AP50']:.3f}, AP75 {metrics['segm']['AP75']:.3f}, "
                  f"Boundary IoU {metrics['mask_quality']['boundary_iou']:.3f}", flush=True)
    report = write_report(settings, runs, wall_before + time.perf_counter() - tic, out_dir,
                          data)
    plot_report(report, out_dir)
    print("\n" + markdown_table(report))
    return report


# Figures summarised as mean ± std over seeds: name -> path into a run record.
SUMMARY_FIELDS = {
    "mask AP": ("segm", "AP"), "mask AP50": ("segm", "AP50"), "mask AP75": ("segm", "AP75"),
    "mask AP90": ("segm", "AP90"), "box AP": ("bbox", "AP"), "mask AR100": ("segm", "AR100"),
    "Boundary AP": ("boundary", "AP"), "Boundary AP75": ("boundary", "AP75"),
    "Boundary AP90": ("boundary", "AP90"),
    "VOC mAP@0.5": ("voc", "mAP50"), "mask IoU (TP)": ("mask_quality", "mask_iou"),
    "Boundary IoU (TP)": ("mask_quality", "boundary_iou"),
    "Boundary IoU small": ("mask_quality", "small", "boundary_iou"),
    "Boundary IoU medium": ("mask_quality", "medium", "boundary_iou"),
    "Boundary IoU large": ("mask_quality", "large", "boundary_iou"),
    "head params": ("head_profile", "parameters"),
    "head GFLOPs/RoI": ("head_profile", "flops_per_roi"),
    "model params": ("parameters",), "ms/image": ("ms_per_image",),
    "train s": ("train_seconds",),
}


def _lookup(record: dict, path: tuple[str, ...]) -> float:
    """The figure at ``path`` of a run record; NaN where the record predates it."""
    value = record
    for key in path:
        if key not in value:
            return math.nan
        value = value[key]
    value = float(value)
    return value / 1e9 if path == ("head_profile", "flops_per_roi") else value


def summarize(runs: list[dict], heads) -> dict:
    """``{head: {figure: {"mean", "std", "values"}}}`` over seeds (NaNs ignored)."""
    summary = {}
    for head in heads:
        records = [r for r in runs if r["head"] == head]
        summary[head] = {}
        for name, path in SUMMARY_FIELDS.items():
            values = [_lookup(r, path) for r in records]
            finite = [v for v in values if math.isfinite(v)]
            summary[head][name] = {
                "mean": float(np.mean(finite)) if finite else float("nan"),
                "std": float(np.std(finite)) if finite else float("nan"),
                "values": values}
    return summary


# Figures whose per-seed difference between heads decides the comparison; box AP (the
# same box head for every mask head) tells a gain in the masks from one in detection.
PAIRED_FIELDS = ("mask AP", "mask AP50", "mask AP75", "mask AP90", "Boundary AP",
                 "Boundary AP75", "Boundary IoU (TP)", "box AP")


def paired_differences(runs: list[dict], heads) -> dict:
    """``{head: {figure: {"mean", "std", "values"}}}`` of ``head - heads[0]`` per seed.

    Both heads of a seed train on the same data from the same initial shared layers, so
    their difference cancels what the seed does to both: its spread over seeds says
    whether a gap between heads is larger than the noise (the std of each head alone
    also carries the seed's effect on both). Seeds one of the heads lacks are skipped.
    """
    baseline = heads[0]
    by_seed = {(r["head"], r["seed"]): r for r in runs}
    paired = {}
    for head in heads[1:]:
        seeds = sorted(seed for h, seed in by_seed if h == head and (baseline, seed) in by_seed)
        paired[head] = {}
        for name in PAIRED_FIELDS:
            path = SUMMARY_FIELDS[name]
            values = [_lookup(by_seed[(head, seed)], path) - _lookup(by_seed[(baseline, seed)],
                                                                      path) for seed in seeds]
            finite = [v for v in values if math.isfinite(v)]
            paired[head][name] = {
                "mean": float(np.mean(finite)) if finite else float("nan"),
                "std": float(np.std(finite)) if finite else float("nan"),
                "values": values, "seeds": seeds}
    return paired


def paired_between(base_runs: list[dict], runs: list[dict], heads) -> dict:
    """``{head: {figure: {"mean", "std", "values", "seeds"}}}`` of ``runs - base_runs``
    per (head, seed): a change to the setting (a config field, the image size, the
    schedule) judged seed by seed against the runs without it, as heads are judged
    against each other by :func:`paired_differences`."""
    out = {}
    for head in heads:
        tagged = ([{**r, "head": "base"} for r in base_runs if r["head"] == head]
                  + [{**r, "head": "changed"} for r in runs if r["head"] == head])
        out[head] = paired_differences(tagged, ("base", "changed"))["changed"]
    return out


def _initialisation_note(report: dict) -> list[str]:
    """The header lines saying which ``--set`` fields and Copy-Paste every run used and
    how the runs started (pretrained shared layers or not)."""
    fields = report["settings"].get("config") or {}
    lines = ["", "Config fields set for every run: " + ", ".join(
        f"`{k} = {v!r}`" for k, v in fields.items())] if fields else []
    if report["settings"].get("copy_paste"):
        lines += ["", f"Simple Copy-Paste on {report['settings']['copy_paste']:g} of the "
                  "training samples."]
    weights = report["settings"].get("weights")
    if not weights:
        return [*lines, "", "Every layer of every head starts from random initialisation."]
    loaded = sorted({len((r.get("pretrained") or {}).get("loaded", [])) for r in report["runs"]})
    return [*lines, "", f"Shared layers start from `{weights}` "
            f"({'/'.join(map(str, loaded))} layers loaded); every mask head starts fresh "
            "(random initialisation), so the heads differ only in the mask head."]


def markdown_table(report: dict) -> str:
    """The summary as a Markdown table, one column per head, ``mean ± std``."""
    summary = report["summary"]
    heads = list(summary)
    s = report["settings"]
    held_out = sorted({r["held_out_images"] for r in report["runs"]})
    seeds = len({r["seed"] for r in report["runs"]})
    partial = "" if report.get("complete", True) else (
        f" (partial: {len(report['runs'])} of {s['seeds'] * len(s['heads'])} runs)")
    lines = [f"{s['dataset']}: {seeds} seed(s){partial}, {s['epochs']} epochs x "
             f"{s['steps_per_epoch']} steps, {'/'.join(map(str, held_out))} held-out images, "
             f"wall {report['wall_seconds'] / 60:.1f} min", *_initialisation_note(report), "",
             "| figure | " + " | ".join(heads) + " |",
             "| --- | " + " | ".join("---" for _ in heads) + " |"]
    for name in SUMMARY_FIELDS:
        cells = []
        for head in heads:
            stat = summary[head][name]
            if not math.isfinite(stat["mean"]):
                cells.append("n/a")
            elif name in ("head params", "model params"):
                cells.append(f"{stat['mean']:,.0f}")
            else:
                digits = 1 if name in ("ms/image", "train s") else 3
                cells.append(f"{stat['mean']:.{digits}f} ± {stat['std']:.{digits}f}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    paired = report.get("paired") or {}
    if paired:
        base = heads[0]
        lines += ["", f"Paired difference per seed (head − {base}), mean ± std over seeds:", "",
                  "| figure | " + " | ".join(f"{h} − {base}" for h in paired) + " |",
                  "| --- | " + " | ".join("---" for _ in paired) + " |"]
        for name in PAIRED_FIELDS:
            cells = []
            for head in paired:
                stat = paired[head][name]
                cells.append(f"{stat['mean']:+.3f} ± {stat['std']:.3f}"
                             if math.isfinite(stat["mean"]) else "n/a")
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot_report(report: dict, out_dir: str) -> list[str]:
    """Loss curves per head, mask AP against IoU threshold, Boundary IoU by object size."""
    import matplotlib
    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    runs, heads = report["runs"], list(report["summary"])
    colors = dict(zip(heads, ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple"]))
    paths = []

    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    for r in runs:
        ax.plot(range(1, len(r["history"]["total_loss"]) + 1), r["history"]["total_loss"],
                color=colors[r["head"]], alpha=0.8, label=f"{r['head']} seed {r['seed']}")
    ax.set(xlabel="epoch", ylabel="training loss (total)", title="Training loss per head")
    ax.legend(fontsize=7)
    paths.append(_save(fig, out_dir, "loss_curves.png"))

    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    for head in heads:
        curves = np.array([r["ap_vs_iou"]["AP"] for r in runs if r["head"] == head])
        iou = runs[0]["ap_vs_iou"]["iou"]
        ax.errorbar(iou, curves.mean(0), yerr=curves.std(0), label=head, color=colors[head],
                    marker="o", capsize=3)
    ax.set(xlabel="IoU threshold", ylabel="mask AP", title="Mask AP against IoU threshold")
    ax.legend()
    paths.append(_save(fig, out_dir, "ap_vs_iou.png"))

    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    sizes = ["small", "medium", "large"]
    width = 0.8 / max(len(heads), 1)
    for k, head in enumerate(heads):
        stats = [report["summary"][head][f"Boundary IoU {s}"] for s in sizes]
        means = [st["mean"] if math.isfinite(st["mean"]) else 0.0 for st in stats]
        stds = [st["std"] if math.isfinite(st["std"]) else 0.0 for st in stats]
        ax.bar(np.arange(3) + k * width, means, width, yerr=stds, label=head, color=colors[head],
               capsize=3)
    ax.set_xticks(np.arange(3) + width * (len(heads) - 1) / 2, sizes)
    ax.set(ylabel="Boundary IoU of true positives", title="Boundary IoU by object size")
    ax.legend()
    paths.append(_save(fig, out_dir, "boundary_iou_by_size.png"))
    return paths


def _save(fig, out_dir: str, name: str) -> str:
    path = os.path.join(out_dir, name)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return path


def settings_from_report(report: dict) -> CompareSettings:
    """The settings a ``compare.json`` was run with, as :func:`head_config` takes them for
    inference: ``AUGMENTATION`` (recorded by name, training only) is left out."""
    saved = report["settings"]
    config = {k: v for k, v in (saved.get("config") or {}).items() if k != "AUGMENTATION"}
    return CompareSettings(**{**saved, "heads": tuple(saved["heads"]), "config": config})


def parse_args(argv=None) -> CompareSettings:
    """Settings from ``python -m mrcnn.experiments.compare`` options (``--dataset``: a name
    registered in :mod:`mrcnn.data.catalog`)."""
    defaults = CompareSettings()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default=defaults.dataset, choices=registered_datasets())
    add_runner_arguments(parser, defaults)
    args = parser.parse_args(argv)
    return settings_from_args(args, args.dataset)


def main(argv=None) -> dict:
    return run(parse_args(argv))


if __name__ == "__main__":
    main()
