"""Inference benchmark: ``MaskRCNN.detect`` throughput, its phases, FLOPs and memory.

For every (backbone, image size, mask head) one inference model is built; each batch
size runs ``detect`` on that many images (``IMAGES_PER_GPU`` is the largest batch, so
``detect`` runs them as one batch). Time is split into preprocessing (image check +
``mold_inputs``), the graph (the compiled predict function, outputs fetched to numpy)
and postprocessing (``unmold_detections`` incl. mask pasting), mirroring ``detect``.

Weights are random; ``DETECTION_MIN_CONFIDENCE`` 0 keeps every candidate, so the
detection layer returns up to ``DETECTION_MAX_INSTANCES`` real detections (class id > 0).
The native graph (``GRAPH_OPS = "native"``, the default) runs the mask head on those rows
only, plus one zero row per call (``ValidDetectionRows``); a ``GRAPH_OPS = "xla"`` graph
runs it on all ``DETECTION_MAX_INSTANCES`` rows of every image, padding included.
Postprocessing pastes the real detections whose box is not empty after unmolding
(``detections_per_image``).

FLOPs counting rule (2 per multiply-add, conv / deconv / dense only; RoIAlign, NMS,
BatchNorm, activations and pasting are not counted): every call (node) of a layer in
the inference graph is counted with the shapes of that call, so the RPN layers shared
by P2..P6 count five times. Layers downstream of a ``PyramidROIAlign`` see
``[B * R, ...]`` tensors whose leading dimension is ``None``; their count is per RoI
and is multiplied by the RoIs actually run: ``POST_NMS_ROIS_INFERENCE`` per image for
the box head (``roi_align_classifier``), and for the mask head (``roi_align_mask``) the
rows it ran on in the timed call, counted from the graph's detections
(``mask_head_rois``; ``DETECTION_MAX_INSTANCES`` per image for an "xla" graph). The
model's ``flops`` gives the per-RoI counts and ``per_image_at_max_rois`` (the mask head
on ``DETECTION_MAX_INSTANCES`` rows); each batch's ``gflop_per_call`` uses the actual
rows. The counting is :func:`mrcnn.flops.flops_by_region`. ``fraction_of_matmul_peak``
is against the matmul peak in the policy's compute dtype (``peak_used``: float32, or
bfloat16 / float16 for the mixed policies).

``--xla`` also builds each model as a ``GRAPH_OPS = "xla"``, ``JIT_COMPILE = True`` twin
with the same weights (RoIAlign by gather, padded NMS, static shapes) and times its
``detect`` the same way; where XLA cannot compile it the result holds ``ok: false``, the
error and the unsupported ops instead of a time.
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
from mrcnn.graph import BOX_ROI_ALIGN, MASK_HEAD_REGIONS
from mrcnn.heads.box import build_box_head
from mrcnn.heads.mask import build_mask_head
from mrcnn.layers.normalization import Norm
from mrcnn.model import MaskRCNN
from mrcnn.precision import dtype_policy


# ----------------------------------------------------------------------------- configs
def make_config(backbone: str, size: int, head: str, max_batch: int, args,
                policy: str = "float32", **extra: Any) -> Config:
    """The benchmark's inference config; ``--quick`` builds on the shapes preset; ``extra``
    sets further fields (``GRAPH_OPS``, ``JIT_COMPILE`` for the ``--xla`` twin)."""
    base = ShapesConfig if args.quick else Config
    fields = {"NAME": f"bench_{backbone}_{size}_{head}", "BACKBONE": backbone,
              "IMAGE_MIN_DIM": size, "IMAGE_MAX_DIM": size, "MASK_HEAD": head,
              "DTYPE_POLICY": policy,
              "NUM_CLASSES": args.num_classes, "IMAGES_PER_GPU": max_batch,
              "DETECTION_MIN_CONFIDENCE": args.min_confidence,
              "DETECTION_MAX_INSTANCES": args.max_instances,
              # float32 means float32 here, also on CPUs with bfloat16 units (where a
              # float32 config may otherwise build mixed_bfloat16 inference models)
              "AUTO_BFLOAT16_INFERENCE": False, **extra}
    if args.post_nms_rois:
        fields["POST_NMS_ROIS_INFERENCE"] = args.post_nms_rois
    return type("BenchConfig", (base,), fields)()


# ----------------------------------------------------------------------------- FLOPs
def inference_flops(model: keras.Model, config: Config) -> dict[str, Any]:
    """FLOPs of one image through the inference graph, with the counting split; the mask
    head's rows are only known per call (:func:`mask_head_rows`), so ``per_image_at_max_rois``
    counts it on ``DETECTION_MAX_INSTANCES`` rows (what a ``GRAPH_OPS = "xla"`` graph runs)."""
    regions = flops_by_region(model)
    box_rois, max_rois = config.POST_NMS_ROIS_INFERENCE, config.DETECTION_MAX_INSTANCES
    flops = {
        "backbone_fpn_rpn": regions["image"],
        "box_head_per_roi": regions.get(BOX_ROI_ALIGN, 0), "box_head_rois": box_rois,
        "mask_head_per_roi": sum(regions.get(r, 0) for r in MASK_HEAD_REGIONS),
        "mask_head_max_rois": max_rois,
    }
    flops["per_image_at_max_rois"] = call_flops(flops, 1, max_rois)
    return flops


def call_flops(flops: dict[str, Any], batch: int, mask_rois: int) -> int:
    """FLOPs of one predict call on ``batch`` images whose mask head ran on ``mask_rois``
    rows in all."""
    per_image = flops["backbone_fpn_rpn"] + flops["box_head_per_roi"] * flops["box_head_rois"]
    return per_image * batch + flops["mask_head_per_roi"] * mask_rois


def mask_head_rows(config: Config, detections: np.ndarray) -> int:
    """Rows the mask head ran on in the predict call that returned ``detections``
    ``[B, D, 6]``: all ``B * D`` in a ``GRAPH_OPS = "xla"`` graph; in the native graph the
    real detections (class id > 0) plus the zero row ``ValidDetectionRows`` appends."""
    if config.GRAPH_OPS == "xla":
        return int(detections.shape[0] * detections.shape[1])
    return int(np.sum(detections[..., 4] > 0)) + 1


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
            "detections": [len(r["class_ids"]) for r in results],
            "mask_head_rows": mask_head_rows(detector.config, detections)}


def ms(seconds: float) -> float:
    return rounded(seconds * 1e3)


def batch_images(batch: int, side: int) -> list[np.ndarray]:
    """The ``batch`` random images of a batch size (the same for the ``--xla`` twin)."""
    rng = np.random.default_rng(batch)
    return [rng.integers(0, 256, (side, side, 3), dtype=np.uint8) for _ in range(batch)]


def time_detect(detector: MaskRCNN, flops: dict[str, Any], images: list[np.ndarray], args,
                peak: dict[str, Any], warmup: int) -> dict[str, Any]:
    """Time ``detect`` on ``images`` (one batch) and its phases; FLOPs with the mask head
    on the rows it actually ran on."""
    batch = len(images)
    whole = time_call(lambda: detector.detect(images), args.repeats, warmup)
    predict = detector._predict_fn()
    phases = [detect_phases(detector, predict, images) for _ in range(args.repeats)]
    split = {key: median([p[f"{key}_s"] for p in phases])
             for key in ("preprocess", "graph", "postprocess")}
    total_split = sum(split.values())
    detect_s = whole["median_s"]
    mask_rows = phases[-1]["mask_head_rows"]
    flops_call = call_flops(flops, batch, mask_rows)
    return {
        "images_per_s": rounded(batch / detect_s),
        "ms_per_image": ms(detect_s / batch),
        "detect_ms": {"median": ms(detect_s), "min": ms(whole["min_s"]),
                      "max": ms(whole["max_s"])},
        "split_ms": {key: ms(value) for key, value in split.items()},
        "split_fraction": {key: rounded(value / total_split, 3) for key, value in split.items()},
        "split_sum_over_detect": rounded(total_split / detect_s, 3),
        "detections_per_image": rounded(float(np.mean(phases[-1]["detections"])), 3),
        "mask_head_rois": rounded(mask_rows / batch),
        "gflop_per_call": rounded(flops_call / 1e9),
        "achieved_gflops_per_s": rounded(flops_call / detect_s / 1e9),
        "graph_gflops_per_s": rounded(flops_call / split["graph"] / 1e9),
        "fraction_of_matmul_peak": rounded(flops_call / detect_s / 1e9
                                           / peak["gflops_per_s"], 3),
        "peak_used": peak["dtype"],
    }


def run_batch(detector: MaskRCNN, flops: dict[str, Any], batch: int, args,
              peak: dict[str, Any]) -> dict[str, Any]:
    """Time ``detect`` and its phases on ``batch`` random images."""
    side = args.input_size or int(detector.config.IMAGE_MAX_DIM)
    result = {"batch": batch, "input_size": side,
              **time_detect(detector, flops, batch_images(batch, side), args, peak,
                            args.warmup)}
    log(f"    {result['ms_per_image']} ms/image, {result['images_per_s']} images/s, split "
        f"{result['split_ms']}, {result['achieved_gflops_per_s']} GFLOP/s")
    return result


def xla_twin(detector: MaskRCNN, backbone: str, size: int, head: str, args,
             policy: str) -> MaskRCNN:
    """The same model as a ``GRAPH_OPS = "xla"``, ``JIT_COMPILE = True`` graph, with
    ``detector``'s weights (copied layer by layer, by name)."""
    config = make_config(backbone, size, head, max(args.batches), args, policy,
                         GRAPH_OPS="xla", JIT_COMPILE=True)
    twin = MaskRCNN("inference", config, model_dir=args.model_dir)
    source = detector.keras_model
    if twin.keras_model.count_params() != source.count_params():
        raise ValueError("the xla graph's parameters differ from the native graph's")
    for layer in twin.keras_model.layers:
        if layer.weights:
            layer.set_weights(source.get_layer(layer.name).get_weights())
    return twin


def xla_failure(error: Exception) -> dict[str, Any]:
    """``ok: false``, the error and the ops XLA has no kernel for."""
    message = re.sub(r"\[_XlaMustCompile[^\]]*\]", "", str(error))
    return {"ok": False, "error": error_string(error, text=message),
            "unsupported_ops": sorted(set(re.findall(r"No registered '(\w+)' OpKernel",
                                                     message)))}


def run_xla(twin: MaskRCNN, flops: dict[str, Any], native: dict[str, Any], args,
            peak: dict[str, Any]) -> dict[str, Any]:
    """``detect`` of the ``--xla`` twin on the images of the ``native`` batch result, timed
    as the native one (the first call, which compiles for this batch shape, apart), or
    the error that prevented it."""
    images = batch_images(native["batch"], native["input_size"])
    try:
        start = time.perf_counter()
        twin.detect(images)
        first = time.perf_counter() - start
    except Exception as error:  # an op without an XLA kernel
        return xla_failure(error)
    result = {"ok": True, "first_call_s": rounded(first),
              **time_detect(twin, flops, images, args, peak, max(args.warmup - 1, 0))}
    result["speedup_over_native"] = rounded(native["ms_per_image"] / result["ms_per_image"], 3)
    log(f"    xla: {result['ms_per_image']} ms/image ({result['speedup_over_native']}x "
        f"native), split {result['split_ms']}")
    return result


def run_model(backbone: str, size: int, head: str, args, peak: dict[str, Any],
              policy: str = "float32") -> dict[str, Any]:
    """Build one inference model and time every batch size on it (only count its FLOPs
    with ``--flops-only``); with ``--xla`` then its XLA twin on the same batches."""
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
    batches = []
    for batch in args.batches:
        log(f"  {backbone} {size} {head} batch {batch}")
        batches.append(run_batch(detector, flops, batch, args, peak))
    result.update({"first_call_s": rounded(first_call_s), "batches": batches,
                   "rss_before_mib": rss_before, "rss_after_mib": current_rss_mib(),
                   "peak_rss_mib": peak_rss_mib()})
    if args.xla:
        log(f"  {backbone} {size} {head}: xla twin (GRAPH_OPS 'xla', JIT_COMPILE)")
        reset_peak_rss()
        try:
            twin = xla_twin(detector, backbone, size, head, args, policy)
        except Exception as error:  # report, as a failed compilation
            failure = xla_failure(error)
            for native in batches:
                native["xla"] = failure
        else:
            for native in batches:
                native["xla"] = run_xla(twin, flops, native, args, peak)
        result["xla_peak_rss_mib"] = peak_rss_mib()
    return result


def head_comparison(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each other head over the FCN: ratios of ms/image and FLOPs where both ran (the FLOPs
    of the timed calls; with ``--flops-only``, at ``DETECTION_MAX_INSTANCES`` mask rows).
    A row names its ``head``; its keys carry the head's name (``unet_over_fcn_time``, ...)."""
    rows = []
    by_key = {(r["backbone"], r["image_size"], r["dtype_policy"], r["head"]): r
              for r in results}
    for (backbone, size, policy, head), other in by_key.items():
        fcn = by_key.get((backbone, size, policy, "fcn"))
        if head == "fcn" or fcn is None:
            continue
        common = {"backbone": backbone, "image_size": size, "dtype_policy": policy,
                  "head": head}
        if "batches" not in fcn:
            rows.append({**common, f"{head}_over_fcn_flops": rounded(
                other["flops"]["per_image_at_max_rois"]
                / fcn["flops"]["per_image_at_max_rois"], 3)})
        for fb, ob in zip(fcn.get("batches", []), other.get("batches", [])):
            rows.append({**common, "batch": fb["batch"], "fcn_ms_per_image": fb["ms_per_image"],
                         f"{head}_ms_per_image": ob["ms_per_image"],
                         f"{head}_over_fcn_time": rounded(ob["ms_per_image"]
                                                          / fb["ms_per_image"], 3),
                         f"{head}_over_fcn_flops": rounded(ob["gflop_per_call"]
                                                           / fb["gflop_per_call"], 3)})
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
                                                 Norm.of(config)))
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
    parser.add_argument("--batches", nargs="+", type=int, default=None,
                        help="batch sizes (default 1 4; --quick: 1 2)")
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
                        help="also time each model's GRAPH_OPS='xla', JIT_COMPILE=True "
                             "twin (same weights)")
    parser.add_argument("--flops-only", action="store_true",
                        help="build the models and count FLOPs; no timing, no matmul peak")
    parser.add_argument("--matmul-size", type=int, default=None)
    parser.add_argument("--model-dir", default="logs")
    args = parser.parse_args()
    if args.headline:
        args.backbones, args.sizes, args.batches = ["resnet50"], [640], [1]
    if args.quick:
        args.backbones, args.sizes = ["resnet_light"], [128]
        args.batches = args.batches or [1, 2]
        args.num_classes, args.max_instances = 4, 20
        args.repeats, args.warmup = min(args.repeats, 3), min(args.warmup, 1)
    args.batches = args.batches or [1, 4]
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
                                                 peak_16.get(policy, peak), policy))
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
