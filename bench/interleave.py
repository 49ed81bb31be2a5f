"""Interleaved inference benchmark: several variants loaded at once, their calls alternated.

A machine whose speed changes from minute to minute (shared hosts run 4-8x slower when
busy) makes timings taken one variant after another incomparable. Here every variant
(float32, ``mixed_bfloat16``, the XLA graph, ...) is built once with the same weights,
warmed up (XLA compiles on the first call), then each round calls every variant's
``detect`` once on the same images, in an order rotated from round to round. Each
variant's time is compared with the baseline's *in the same round*: the median of those
per-round ratios is the figure to read (``time_over_baseline``); absolute times are
only comparable within one run.

Outputs also record how far each variant's detections are from the baseline's on the
first call (each baseline detection matched to the variant's of the same class with the
highest box IoU: the fraction matched at IoU 0.9, score and mask IoU of the matches), so
a speed-up that changes results shows it.

    python bench/interleave.py --sizes 640 1024 --variants float32 mixed_bfloat16 xla
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import keras
import numpy as np
from common import emit, log, machine_info, median, rounded, stdout_to_stderr

from mrcnn.config import Config
from mrcnn.data.shapes import ShapesConfig
from mrcnn.evaluation.ap import compute_overlaps
from mrcnn.model import MaskRCNN

# Config fields of each variant, over the benchmark's base config.
VARIANTS: dict[str, dict[str, Any]] = {
    "float32": {"AUTO_BFLOAT16_INFERENCE": False},
    "mixed_bfloat16": {"DTYPE_POLICY": "mixed_bfloat16"},
    "mixed_float16": {"DTYPE_POLICY": "mixed_float16"},
    "default": {},  # float32 config; bfloat16 where mrcnn.precision.inference_policy says
    "xla": {"GRAPH_OPS": "xla", "JIT_COMPILE": True, "AUTO_BFLOAT16_INFERENCE": False},
    # the static-shape graph without compiling
    "xla_ops_no_jit": {"GRAPH_OPS": "xla", "AUTO_BFLOAT16_INFERENCE": False},
    "xla_bfloat16": {"GRAPH_OPS": "xla", "JIT_COMPILE": True, "DTYPE_POLICY": "mixed_bfloat16"},
}


def make_config(size: int, variant: str, args) -> Config:
    """The benchmark's config for ``variant`` at ``size`` (``--quick``: shapes preset)."""
    base = ShapesConfig if args.quick else Config
    fields = {"NAME": f"interleave_{variant}", "BACKBONE": args.backbone,
              "IMAGE_MIN_DIM": size, "IMAGE_MAX_DIM": size, "MASK_HEAD": args.head,
              "NUM_CLASSES": args.num_classes, "IMAGES_PER_GPU": 1,
              "DETECTION_MIN_CONFIDENCE": args.min_confidence,
              "DETECTION_MAX_INSTANCES": args.max_instances, **VARIANTS[variant]}
    return type("InterleaveConfig", (base,), fields)()


def agreement(result: dict, reference: dict, min_iou: float = 0.9) -> dict[str, Any]:
    """How ``result`` (one image's detect output) differs from ``reference``: each
    reference detection is matched to the result's detection of the same class with the
    highest box IoU (random weights give near-tied scores, so ranks are not compared)."""
    out: dict[str, Any] = {"detections": len(result["class_ids"]),
                           "reference_detections": len(reference["class_ids"])}
    if not len(result["class_ids"]) or not len(reference["class_ids"]):
        return out
    iou = compute_overlaps(reference["rois"], result["rois"])
    iou[reference["class_ids"][:, None] != result["class_ids"][None, :]] = 0.0
    best, match = iou.max(axis=1), iou.argmax(axis=1)
    found = best >= min_iou
    out.update({"matched_at_iou": min_iou, "matched": rounded(float(found.mean())),
                "box_iou_median": rounded(float(np.median(best)))})
    if found.any():
        ref_masks = reference["masks"][..., found]
        masks = result["masks"][..., match[found]]
        inter = np.logical_and(masks, ref_masks).sum(axis=(0, 1))
        union = np.logical_or(masks, ref_masks).sum(axis=(0, 1))
        out.update({
            "score_diff_median": rounded(float(np.median(np.abs(
                result["scores"][match[found]] - reference["scores"][found])))),
            "mask_iou_median": rounded(float(np.median(inter / np.maximum(union, 1)))),
        })
    return out


def run_size(size: int, args, images: list[np.ndarray]) -> dict[str, Any]:
    """Build every variant at ``size`` with one set of weights, warm up, alternate."""
    keras.utils.set_random_seed(0)
    detectors: dict[str, MaskRCNN] = {}
    weights = None
    for variant in args.variants:
        log(f"{size}px: building {variant}")
        detector = MaskRCNN("inference", make_config(size, variant, args), args.model_dir)
        if weights is None:
            weights = detector.keras_model.get_weights()
        else:  # mixed policies keep float32 variables: the same numbers load everywhere
            detector.keras_model.set_weights(weights)
        detectors[variant] = detector
    first: dict[str, Any] = {}
    outputs: dict[str, list[dict]] = {}
    for variant, detector in detectors.items():
        start = time.perf_counter()
        outputs[variant] = detector.detect(images)  # traces; XLA compiles here
        first[variant] = rounded(time.perf_counter() - start)
        for _ in range(args.warmup):
            detector.detect(images)
    times: dict[str, list[float]] = {v: [] for v in detectors}
    names = list(detectors)
    for r in range(args.rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for variant in order:
            start = time.perf_counter()
            detectors[variant].detect(images)
            times[variant].append(time.perf_counter() - start)
        log(f"{size}px round {r + 1}/{args.rounds}: "
            + ", ".join(f"{v} {times[v][-1] * 1e3:.0f} ms" for v in names))
    baseline = names[0]
    results = []
    for variant in names:
        ratios = [t / b for t, b in zip(times[variant], times[baseline])]
        results.append({
            "variant": variant, "config": VARIANTS[variant],
            "first_call_s": first[variant],
            "ms_per_call": {"median": rounded(median(times[variant]) * 1e3),
                            "min": rounded(min(times[variant]) * 1e3),
                            "max": rounded(max(times[variant]) * 1e3)},
            "time_over_baseline": {"median": rounded(median(ratios)),
                                   "min": rounded(min(ratios)), "max": rounded(max(ratios))},
            "agreement_with_baseline": [agreement(o, ref) for o, ref in
                                        zip(outputs[variant], outputs[baseline])],
        })
    return {"image_size": size, "baseline": baseline, "images_per_call": len(images),
            "rounds": args.rounds, "results": results}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", nargs="+", type=int, default=[640, 1024])
    parser.add_argument("--variants", nargs="+", default=["float32", "mixed_bfloat16", "xla"],
                        choices=sorted(VARIANTS), help="the first one is the baseline")
    parser.add_argument("--backbone", default="resnet50")
    parser.add_argument("--head", default="fcn")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1, help="untimed calls after the first")
    parser.add_argument("--num-classes", type=int, default=81, help="incl. background")
    parser.add_argument("--min-confidence", type=float, default=0.0)
    parser.add_argument("--max-instances", type=int, default=100)
    parser.add_argument("--quick", action="store_true",
                        help="shapes preset (light backbone), for tests")
    parser.add_argument("--model-dir", default="logs")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    rng = np.random.default_rng(0)
    report: dict[str, Any] = {"benchmark": "interleave", "quick": args.quick,
                              "machine": machine_info(),
                              "settings": {k: v for k, v in vars(args).items()
                                           if k != "model_dir"}, "sizes": []}
    with stdout_to_stderr():
        for size in args.sizes:
            images = [rng.integers(0, 256, size=(size, size, 3), dtype=np.uint8)]
            report["sizes"].append(run_size(size, args, images))
            keras.backend.clear_session()
    emit(report)


if __name__ == "__main__":
    main()
