"""Markdown tables from the benchmarks' JSON files (the tables in bench/README.md).

    python bench/report.py inference.json train_step.json memory.json

Each file is recognised by its ``benchmark`` key; the tables are printed in the order given,
each after a line naming the machine, the date and the matmul peak of that run.
"""

from __future__ import annotations

import json
import sys
from typing import Any


def _table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _machine(result: dict[str, Any]) -> str:
    m = result["machine"]
    peak = result.get("matmul_peak", {})
    line = (f"{m['cpu_model']} ({', '.join(m['cpu_flags'])}), {m['usable_cores']} cores, "
            f"{m['memory_gib']} GiB; TF {m['tensorflow']}, Keras {m['keras']}; {m['date']}; "
            f"1-min load average when written {m['load_average_1min']}")
    if peak.get("gflops_per_s"):
        line += f"; matmul peak {peak['gflops_per_s']} GFLOP/s ({peak['size']}² fp32)"
    for p16 in result.get("matmul_peak_16bit", {}).values():
        line += f", {p16['gflops_per_s']} GFLOP/s ({p16['dtype']})"
    return line


def inference(result: dict[str, Any]) -> str:
    rows = []
    for r in result["results"]:
        for b in r.get("batches", []):
            s = b["split_ms"]
            rows.append([r["backbone"], r["image_size"], r["head"],
                         r.get("dtype_policy", "float32"), b["batch"], b["images_per_s"],
                         b["ms_per_image"],
                         f"{s['preprocess']} / {s['graph']} / {s['postprocess']}",
                         round(b["gflop_per_call"] / b["batch"], 1), b["achieved_gflops_per_s"],
                         b["fraction_of_matmul_peak"], r["peak_rss_mib"]])
    text = _table(["backbone", "size", "head", "policy", "batch", "images/s", "ms/image",
                   "pre / graph / post ms per call", "GFLOP/image", "GFLOP/s", "of peak",
                   "peak RSS MiB"], rows)
    heads = result.get("heads_xla", [])
    if heads:
        rows = [[h["backbone"], h["image_size"], h["head"], h["dtype_policy"], part,
                 h[part]["rois"], h[part].get("ms"), h[part].get("xla_ms", "fails"),
                 h[part].get("xla_speedup", "-")]
                for h in heads for part in ("box_head", "mask_head")]
        text += "\n\nHeads alone (`--xla`):\n\n" + _table(
            ["backbone", "size", "mask head", "policy", "part", "RoIs", "ms", "XLA ms",
             "XLA speed-up"], rows)
    return text


def train_step(result: dict[str, Any]) -> str:
    rows = [[r["config"], r["backbone"], r["image_size"], r["head"],
             r.get("dtype_policy", "float32"), r.get("norm", "batch"), r["batch"],
             r["fit"]["s_per_step"],
             r["fit"]["images_per_s"], r["cached"]["s_per_step"], r["pipeline"]["s_per_batch"],
             r["compute_fraction"], r["cached"].get("achieved_gflops_per_s", "-"),
             r["cached"].get("fraction_of_matmul_peak", "-"), r["first_step_s"],
             r["peak_rss_mib"]]
            for r in result["results"]]
    return _table(["config", "backbone", "size", "head", "policy", "norm", "batch",
                   "fit s/step",
                   "images/s", "cached s/step", "pipeline s/batch", "compute fraction",
                   "cached GFLOP/s", "of peak", "first step s", "peak RSS MiB"], rows)


def memory(result: dict[str, Any]) -> str:
    rows = [[r["calls"], r["rss_mib"]] for r in result["readings"]]
    return _table(["calls", "RSS MiB"], rows) + (
        f"\n\ngrowth {result['growth_percent']} % ({result['kib_per_call']} KiB per call) "
        f"between the last two readings; predict traces: {result['predict_traces']}")


RENDERERS = {"inference": inference, "train_step": train_step, "memory": memory}


def main(paths: list[str]) -> None:
    for path in paths:
        with open(path) as handle:
            result = json.load(handle)
        name = result["benchmark"]
        print(f"### {name} ({path})\n\n{_machine(result)}\n\n{RENDERERS[name](result)}\n")


if __name__ == "__main__":
    main(sys.argv[1:])
