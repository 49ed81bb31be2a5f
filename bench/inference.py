"""Inference benchmark: ``MaskRCNN.detect`` throughput, its phases, FLOPs and memory.

For every (backbone, image size, mask head) one inference model is built; each batch
size runs ``detect`` on that many images (``IMAGES_PER_GPU`` is the largest batch, so
``detect`` runs them as one batch). Time is split into preprocessing (image check +
``mold_inputs``), the graph (the compiled predict function, outputs fetched to numpy)
and postprocessing (``unmold_detections`` incl. mask pasting), mirroring ``detect``.

Weights are random; ``DETECTION_MIN_CONFIDENCE`` 0 keeps every candidate so the
detection layer returns ``DETECTION_MAX_INSTANCES`` boxes and the mask head runs on all
of them (it always runs on all rows, padding included; postprocessing pastes only the
real detections, reported as ``detections_per_image``).

FLOPs counting rule (2 per multiply-add, conv / deconv / dense only; RoIAlign, NMS,
BatchNorm, activations and pasting are not counted): every call (node) of a layer in
the inference graph is counted with the shapes of that call, so the RPN layers shared
by P2..P6 count five times. Layers downstream of a ``PyramidROIAlign`` see
``[B * R, ...]`` tensors whose leading dimension is ``None``; their count is per RoI
and is multiplied by the RoIs actually run: ``POST_NMS_ROIS_INFERENCE`` for the box
head (``roi_align_classifier``), ``DETECTION_MAX_INSTANCES`` for the mask head
(``roi_align_mask``). The counting is :func:`mrcnn.flops.flops_by_region`.

``--xla`` also calls the predict function with ``jit_compile=True``; where XLA cannot
compile the graph (on CPU: no kernel for CombinedNonMaxSuppression, CropAndResize) the
result holds ``ok: false``, the error and the unsupported ops instead of a time.
"""

from __future__ import annotations

import argparse
import re
import time
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from common import (
    current_rss_mib,
    emit,
    error_string,
    log,
    machine_info,
    matmul_peak,
    median,
    peak_rss_mib,
    process_peak_rss_mib,
    release,
    reset_peak_rss,
    rounded,
    stdout_to_stderr,
    time_call,
)

from mrcnn.config import Config
from mrcnn.data.shapes import ShapesConfig
from mrcnn.flops import flops_by_region
from mrcnn.heads.box import build_box_head
from mrcnn.heads.mask import build_mask_head
from mrcnn.model import MaskRCNN
from mrcnn.precision import dtype_policy

BOX_REGION = "roi_align_classifier"
MASK_REGION = "roi_align_mask"


# ----------------------------------------------------------------------------- configs
def make_config(backbone: str, size: int, head: str, max_batch: int, args,
                policy: str = "float32") -> Config:
    """The benchmark's inference config; ``--quick`` builds on the shapes preset."""
    base = ShapesConfig if args.quick else Config
    fields = {"NAME": f"bench_{backbone}_{size}_{head}", "BACKBONE": backbone,
              "IMAGE_MIN_DIM": size, "IMAGE_MAX_DIM": size, "MASK_HEAD": head,
              "DTYPE_POLICY": policy,
              "NUM_CLASSES": args.num_classes, "IMAGES_PER_GPU": max_batch,
              "DETECTION_MIN_CONFIDENCE": args.min_confidence,
              "DETECTION_MAX_INSTANCES": args.max_instances}
    if args.post_nms_rois:
        fields["POST_NMS_ROIS_INFERENCE"] = args.post_nms_rois
    return type("BenchConfig", (base,), fields)()


# ----------------------------------------------------------------------------- FLOPs
def inference_flops(model: keras.Model, config: Config) -> dict[str, Any]:
    """FLOPs of one image through the inference graph, with the counting split."""
    regions = flops_by_region(model)
    box_rois, mask_rois = config.POST_NMS_ROIS_INFERENCE, config.DETECTION_MAX_INSTANCES
    per_image = (regions["image"] + regions.get(BOX_REGION, 0) * box_rois
                 + regions.get(MASK_REGION, 0) * mask_rois)
    return {
        "backbone_fpn_rpn": regions["image"],
        "box_head_per_roi": regions.get(BOX_REGION, 0), "box_head_rois": box_rois,
        "mask_head_per_roi": regions.get(MASK_REGION, 0), "mask_head_rois": mask_rois,
        "per_image": per_image,
    }


# ----------------------------------------------------------------------------- timing
def detect_phases(detector: MaskRCNN, predict, images: list[np.ndarray]) -> dict[str, Any]:
    """One ``detect`` of a single batch, timed phase by phase (mirrors ``MaskRCNN.detect``)."""
    t0 = time.perf_counter()
    checked = [detector._check_image(i, image) for i, image in enumerate(images)]
    molded = [detector.mold_inputs([image]) for image in checked]
    batch = tf.constant(np.concatenate([m[0] for m in molded]))
    metas = tf.constant(np.concatenate([m[1] for m in molded]))
    t1 = time.perf_counter()
    out = predict(batch, metas)
    detections = out["detections"].numpy()
    masks = out["mrcnn_mask"].numpy()
    t2 = time.perf_counter()
    results = [detector.unmold_detections(detections[k], masks[k], checked[k].shape,
                                          molded[k][0].shape[1:], molded[k][2][0])
               for k in range(len(checked))]
    t3 = time.perf_counter()
    return {"preprocess_s": t1 - t0, "graph_s": t2 - t1, "postprocess_s": t3 - t2,
            "detections": [len(r["class_ids"]) for r in results]}


def xla_predict(detector: MaskRCNN):
    """The predict function of ``MaskRCNN._predict_fn`` with ``jit_compile=True``."""
    model, config = detector.keras_model, detector.config
    signature = [tf.TensorSpec([None, None, None, config.IMAGE_CHANNEL_COUNT], tf.float32),
                 tf.TensorSpec([None, config.IMAGE_META_SIZE], tf.float32)]

    @tf.function(input_signature=signature, autograph=False, jit_compile=True)
    def predict(images, metas):
        return model([images, metas], training=False)

    return predict


def ms(seconds: float) -> float:
    return rounded(seconds * 1e3)


def run_batch(detector: MaskRCNN, flops: dict[str, Any], batch: int, args,
              peak_gflops: float, xla_fn) -> dict[str, Any]:
    """Time ``detect`` and its phases on ``batch`` random images."""
    rng = np.random.default_rng(batch)
    side = args.input_size or int(detector.config.IMAGE_MAX_DIM)
    images = [rng.integers(0, 256, (side, side, 3), dtype=np.uint8) for _ in range(batch)]
    whole = time_call(lambda: detector.detect(images), args.repeats, args.warmup)
    predict = detector._predict_fn()
    phases = [detect_phases(detector, predict, images) for _ in range(args.repeats)]
    split = {key: median([p[f"{key}_s"] for p in phases])
             for key in ("preprocess", "graph", "postprocess")}
    total_split = sum(split.values())
    detect_s = whole["median_s"]
    flops_call = flops["per_image"] * batch
    result = {
        "batch": batch,
        "input_size": side,
        "images_per_s": rounded(batch / detect_s),
        "ms_per_image": ms(detect_s / batch),
        "detect_ms": {"median": ms(detect_s), "min": ms(whole["min_s"]),
                      "max": ms(whole["max_s"])},
        "split_ms": {key: ms(value) for key, value in split.items()},
        "split_fraction": {key: rounded(value / total_split, 3) for key, value in split.items()},
        "split_sum_over_detect": rounded(total_split / detect_s, 3),
        "detections_per_image": rounded(float(np.mean(phases[-1]["detections"])), 3),
        "gflop_per_call": rounded(flops_call / 1e9),
        "achieved_gflops_per_s": rounded(flops_call / detect_s / 1e9),
        "graph_gflops_per_s": rounded(flops_call / split["graph"] / 1e9),
        "fraction_of_matmul_peak": rounded(flops_call / detect_s / 1e9 / peak_gflops, 3),
    }
    log(f"    {result['ms_per_image']} ms/image, {result['images_per_s']} images/s, split "
        f"{result['split_ms']}, {result['achieved_gflops_per_s']} GFLOP/s")
    if xla_fn is not None:
        result["xla"] = run_xla(xla_fn, detector, images, args)
    return result


def run_xla(xla_fn, detector: MaskRCNN, images: list[np.ndarray], args) -> dict[str, Any]:
    """Graph time with ``jit_compile=True``, or the error that prevented it."""
    molded = [detector.mold_inputs([image]) for image in images]
    batch = tf.constant(np.concatenate([m[0] for m in molded]))
    metas = tf.constant(np.concatenate([m[1] for m in molded]))
    try:
        start = time.perf_counter()
        xla_fn(batch, metas)["detections"].numpy()
        first = time.perf_counter() - start
    except Exception as error:  # an op without an XLA kernel (NMS, CropAndResize on CPU)
        message = re.sub(r"\[_XlaMustCompile[^\]]*\]", "", str(error))
        return {"ok": False, "error": error_string(error, text=message),
                "unsupported_ops": sorted(set(re.findall(r"No registered '(\w+)' OpKernel",
                                                         message)))}
    timing = time_call(lambda: xla_fn(batch, metas)["detections"].numpy(), args.repeats,
                       max(args.warmup - 1, 0))
    return {"ok": True, "first_call_s": rounded(first), "graph_ms": ms(timing["median_s"])}


def run_model(backbone: str, size: int, head: str, args, peak_gflops: float,
              policy: str = "float32") -> dict[str, Any]:
    """Build one inference model and time every batch size on it (only count its FLOPs
    with ``--flops-only``)."""
    config = make_config(backbone, size, head, max(args.batches), args, policy)
    reset_peak_rss()
    rss_before = current_rss_mib()
    start = time.perf_counter()
    detector = MaskRCNN("inference", config, model_dir=args.model_dir)
    build_s = time.perf_counter() - start
    flops = inference_flops(detector.keras_model, config)
    result = {
        "backbone": backbone, "image_size": size, "head": head, "dtype_policy": policy,
        "num_classes": config.NUM_CLASSES,
        "post_nms_rois": config.POST_NMS_ROIS_INFERENCE,
        "detection_max_instances": config.DETECTION_MAX_INSTANCES,
        "detection_min_confidence": config.DETECTION_MIN_CONFIDENCE,
        "parameters": detector.keras_model.count_params(),
        "build_s": rounded(build_s), "flops": flops,
    }
    if args.flops_only:
        return result
    image = np.zeros((size, size, 3), np.uint8)
    start = time.perf_counter()
    detector.detect([image])  # traces the predict function
    first_call_s = time.perf_counter() - start
    xla_fn = xla_predict(detector) if args.xla else None
    batches = []
    for batch in args.batches:
        log(f"  {backbone} {size} {head} batch {batch}")
        batches.append(run_batch(detector, flops, batch, args, peak_gflops, xla_fn))
    result.update({"first_call_s": rounded(first_call_s), "batches": batches,
                   "rss_before_mib": rss_before, "rss_after_mib": current_rss_mib(),
                   "peak_rss_mib": peak_rss_mib()})
    return result


def head_comparison(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each other head over the FCN: ratios of ms/image and FLOPs where both ran. A row
    names its ``head``; its keys carry the head's name (``unet_over_fcn_time``, ...)."""
    rows = []
    by_key = {(r["backbone"], r["image_size"], r["dtype_policy"], r["head"]): r
              for r in results}
    for (backbone, size, policy, head), other in by_key.items():
        fcn = by_key.get((backbone, size, policy, "fcn"))
        if head == "fcn" or fcn is None:
            continue
        common = {"backbone": backbone, "image_size": size, "dtype_policy": policy,
                  "head": head}
        flops = {f"{head}_over_fcn_flops": rounded(other["flops"]["per_image"]
                                                   / fcn["flops"]["per_image"], 3)}
        if "batches" not in fcn:
            rows.append({**common, **flops})
        for fb, ob in zip(fcn.get("batches", []), other.get("batches", [])):
            rows.append({**common, "batch": fb["batch"], "fcn_ms_per_image": fb["ms_per_image"],
                         f"{head}_ms_per_image": ob["ms_per_image"],
                         f"{head}_over_fcn_time": rounded(ob["ms_per_image"]
                                                          / fb["ms_per_image"], 3),
                         **flops})
    return rows


def precision_comparison(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """ms/image of each mixed policy over float32 for the same model and batch."""
    rows = []
    base = {(r["backbone"], r["image_size"], r["head"]): r for r in results
            if r["dtype_policy"] == "float32" and "batches" in r}
    for r in results:
        ref = base.get((r["backbone"], r["image_size"], r["head"]))
        if r["dtype_policy"] == "float32" or ref is None or "batches" not in r:
            continue
        for rb, fb in zip(r["batches"], ref["batches"]):
            rows.append({"backbone": r["backbone"], "image_size": r["image_size"],
                         "head": r["head"], "batch": rb["batch"],
                         "dtype_policy": r["dtype_policy"],
                         "float32_ms_per_image": fb["ms_per_image"],
                         "ms_per_image": rb["ms_per_image"],
                         "time_over_float32": rounded(rb["ms_per_image"] / fb["ms_per_image"],
                                                      3)})
    return rows


def head_xla(config: Config, rois: int, args) -> dict[str, Any]:
    """The box head (on ``POST_NMS_ROIS_INFERENCE`` RoIs) and the mask head (on ``rois``)
    alone, on random RoIAlign features, with and without ``jit_compile``: these contain
    no NMS or CropAndResize, so XLA can compile them on the CPU."""
    depth = config.TOP_DOWN_PYRAMID_SIZE
    with dtype_policy(config.DTYPE_POLICY):
        pooled = keras.Input((config.POOL_SIZE, config.POOL_SIZE, depth))
        box = keras.Model(pooled, build_box_head(pooled, config.NUM_CLASSES,
                                                 config.FPN_CLASSIF_FC_LAYERS_SIZE,
                                                 config.TRAIN_BN))
        pooled = keras.Input((config.MASK_POOL_SIZE, config.MASK_POOL_SIZE, depth))
        mask = keras.Model(pooled, build_mask_head(pooled, config))
    rng = np.random.default_rng(0)
    out = {}
    for name, model, count in (("box_head", box, config.POST_NMS_ROIS_INFERENCE),
                               ("mask_head", mask, rois)):
        shape = (count,) + tuple(model.inputs[0].shape[1:])
        features = tf.constant(rng.standard_normal(shape, dtype=np.float32))
        times = {}
        for jit in (False, True):
            fn = tf.function(lambda x, m=model: m(x, training=False), jit_compile=jit)
            try:
                timing = time_call(lambda f=fn, x=features: tf.nest.map_structure(
                    lambda t: t.numpy(), f(x)), args.repeats, args.warmup + 1)
                times["xla_ms" if jit else "ms"] = ms(timing["median_s"])
            except Exception as error:  # report, as for the whole graph
                times["xla_error"] = error_string(error)
        if "xla_ms" in times:
            times["xla_speedup"] = rounded(times["ms"] / times["xla_ms"], 3)
        out[name] = {"rois": count, **times}
    return out


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbones", nargs="+", default=["resnet50", "resnet101"])
    parser.add_argument("--sizes", nargs="+", type=int, default=[512, 640, 1024])
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 4])
    parser.add_argument("--heads", nargs="+", default=["fcn", "unet"])
    parser.add_argument("--headline", action="store_true",
                        help="the issue's headline: resnet50, 640x640, batch 1, fcn vs unet")
    parser.add_argument("--quick", action="store_true",
                        help="smoke settings: resnet_light light preset at 128, batch 1 and 2")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls (median)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed calls before timing")
    parser.add_argument("--num-classes", type=int, default=81, help="incl. background")
    parser.add_argument("--min-confidence", type=float, default=0.0)
    parser.add_argument("--max-instances", type=int, default=100)
    parser.add_argument("--post-nms-rois", type=int, default=None,
                        help="POST_NMS_ROIS_INFERENCE (default: the config's)")
    parser.add_argument("--input-size", type=int, default=None,
                        help="side of the input images (default: the model's size)")
    parser.add_argument("--dtype-policies", nargs="+", default=["float32"],
                        help="Config.DTYPE_POLICY values to compare (float32, "
                             "mixed_bfloat16, mixed_float16)")
    parser.add_argument("--xla", action="store_true",
                        help="also try the predict function with jit_compile=True")
    parser.add_argument("--flops-only", action="store_true",
                        help="build the models and count FLOPs; no timing, no matmul peak")
    parser.add_argument("--matmul-size", type=int, default=None)
    parser.add_argument("--model-dir", default="logs")
    args = parser.parse_args()
    if args.headline:
        args.backbones, args.sizes, args.batches = ["resnet50"], [640], [1]
    if args.quick:
        args.backbones, args.sizes, args.batches = ["resnet_light"], [128], [1, 2]
        args.num_classes, args.max_instances = 4, 20
        args.repeats, args.warmup = min(args.repeats, 3), min(args.warmup, 1)
    args.matmul_size = args.matmul_size or (1024 if args.quick else 4096)
    return args


def main() -> None:
    args = parse_args()
    with stdout_to_stderr():
        peak = {"gflops_per_s": 0.0, "skipped": "--flops-only"}
        if not args.flops_only:
            log(f"matmul peak ({args.matmul_size}x{args.matmul_size})")
            peak = matmul_peak(args.matmul_size, repeats=3 if args.quick else 10)
            log(f"  {peak['gflops_per_s']} GFLOP/s")
        peak_16 = {policy: matmul_peak(args.matmul_size, repeats=3 if args.quick else 10,
                                       dtype=policy.removeprefix("mixed_"))
                   for policy in args.dtype_policies
                   if policy != "float32" and not args.flops_only}
        results, heads = [], []
        for backbone in args.backbones:
            for size in args.sizes:
                for policy in args.dtype_policies:
                    for head in args.heads:
                        log(f"{backbone} {size}x{size} {head} {policy}: build")
                        results.append(run_model(backbone, size, head, args,
                                                 peak["gflops_per_s"], policy))
                        if args.xla:
                            config = make_config(backbone, size, head, 1, args, policy)
                            log(f"  {head} heads alone, jit_compile off/on")
                            heads.append({"backbone": backbone, "image_size": size,
                                          "head": head, "dtype_policy": policy,
                                          **head_xla(config, args.max_instances, args)})
                        release()
    emit({"benchmark": "inference", "quick": args.quick, "headline": args.headline,
          "flops_only": args.flops_only,
          "machine": machine_info(), "matmul_peak": peak,
          "matmul_peak_16bit": peak_16,
          "settings": {"repeats": args.repeats, "warmup": args.warmup, "xla": args.xla,
                       "timing": "median of repeats after warmup, seconds per detect call"},
          "results": results, "head_comparison": head_comparison(results),
          "precision_comparison": precision_comparison(results), "heads_xla": heads,
          "process_peak_rss_mib": process_peak_rss_mib()})


if __name__ == "__main__":
    main()
