"""Memory benchmark: RSS after many ``detect`` calls on images of varying sizes.

One inference model (the shapes preset with ``DETECTION_MIN_CONFIDENCE`` 0, so every
call pastes masks) runs ``detect`` on one random image per call whose height and width
are drawn from ``[--min-side, --max-side]``; RSS (after ``gc.collect()``) is read after
each checkpoint count of calls (100, 500, 2000; ``--quick``: 20, 50, 100). A leak shows
as growth between the last two checkpoints (``growth_percent``, ``kib_per_call``).
"""

from __future__ import annotations

import argparse
import gc
import time
from typing import Any

import numpy as np
from common import (
    current_rss_mib,
    emit,
    log,
    machine_info,
    process_peak_rss_mib,
    rounded,
    stdout_to_stderr,
)

from mrcnn.config import Config
from mrcnn.data.shapes import ShapesConfig
from mrcnn.model import MaskRCNN


def make_config(args) -> Config:
    """The shapes preset, batch 1, every candidate kept."""
    fields = {"NAME": "bench_memory", "IMAGES_PER_GPU": 1, "DETECTION_MIN_CONFIDENCE": 0.0,
              "MASK_HEAD": args.head, "BACKBONE": args.backbone,
              "IMAGE_MIN_DIM": args.size, "IMAGE_MAX_DIM": args.size}
    return type("BenchMemoryConfig", (ShapesConfig,), fields)()


def rss_after_gc() -> float:
    gc.collect()
    return current_rss_mib()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoints", nargs="+", type=int, default=[100, 500, 2000],
                        help="call counts at which RSS is read (increasing)")
    parser.add_argument("--min-side", type=int, default=64)
    parser.add_argument("--max-side", type=int, default=512)
    parser.add_argument("--head", default="fcn")
    parser.add_argument("--backbone", default="resnet_light")
    parser.add_argument("--size", type=int, default=128, help="IMAGE_MAX_DIM of the model")
    parser.add_argument("--warmup", type=int, default=5, help="calls before the baseline")
    parser.add_argument("--quick", action="store_true",
                        help="smoke settings: checkpoints 20 50 100, images 32-160 px, 64 px model")
    args = parser.parse_args()
    if args.quick:
        args.checkpoints, args.min_side, args.max_side, args.size = [20, 50, 100], 32, 160, 64
    if sorted(args.checkpoints) != args.checkpoints or len(args.checkpoints) < 2:
        parser.error("--checkpoints needs at least two increasing counts")
    return args


def main() -> None:
    args = parse_args()
    with stdout_to_stderr():
        config = make_config(args)
        detector = MaskRCNN("inference", config, model_dir="logs")
        rng = np.random.default_rng(0)

        def call() -> int:
            h, w = rng.integers(args.min_side, args.max_side + 1, size=2)
            image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
            return len(detector.detect([image])[0]["class_ids"])

        for _ in range(args.warmup):
            call()
        baseline = rss_after_gc()
        log(f"baseline RSS {baseline} MiB")
        readings: list[dict[str, Any]] = []
        calls, detections, start = 0, 0, time.perf_counter()
        for checkpoint in args.checkpoints:
            while calls < checkpoint:
                detections += call()
                calls += 1
            readings.append({"calls": calls, "rss_mib": rss_after_gc(),
                             "elapsed_s": rounded(time.perf_counter() - start)})
            log(f"{calls} calls: RSS {readings[-1]['rss_mib']} MiB")
        before, last = readings[-2], readings[-1]
        traces = detector._predict_fn().experimental_get_tracing_count()
    emit({"benchmark": "memory", "quick": args.quick, "machine": machine_info(),
          "settings": {"backbone": args.backbone, "head": args.head, "model_size": args.size,
                       "image_sides": [args.min_side, args.max_side], "warmup": args.warmup,
                       "images_per_call": 1, "min_confidence": 0.0},
          "baseline_rss_mib": baseline, "readings": readings,
          "growth_percent": rounded(100 * (last["rss_mib"] - before["rss_mib"])
                                    / before["rss_mib"], 3),
          "kib_per_call": rounded(1024 * (last["rss_mib"] - before["rss_mib"])
                                  / (last["calls"] - before["calls"]), 3),
          "ms_per_call": rounded(1e3 * last["elapsed_s"] / last["calls"]),
          "detections_per_call": rounded(detections / calls, 3),
          "predict_traces": traces,
          "process_peak_rss_mib": process_peak_rss_mib()})


if __name__ == "__main__":
    main()
