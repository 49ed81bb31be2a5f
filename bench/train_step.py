"""Training benchmark: seconds per step, images/s and the input-pipeline / compute split.

For each config (the shapes preset, the real-photo preset and a 512x512 ResNet-50 config,
on shapes images)
and each mask head, in one process:

- ``pipeline``: iterating ``build_dataset`` alone (batches/s, nothing else running);
- ``fit``: ``MaskRCNN.train`` for ``warmup + steps`` steps (``layers="all"``, with its
  checkpoint and TensorBoard callbacks), timed between consecutive batch ends after the
  first ``warmup`` steps (the first traces the step);
- ``cached``: the same compiled train step on one cached batch (``train_on_batch``, no
  input pipeline), timed after every variant has trained: ``steps`` rounds that call each
  variant once in turn, so the variants share whatever load the machine has (a variant
  timed alone first or last would not). ``precision_comparison`` and ``norm_comparison``
  compare these. All variants' models stay in memory until then (``rss_after_mib`` grows
  from variant to variant).

``compute_fraction`` = cached step / fit step: near 1 means the step is compute-bound;
lower means the pipeline (which shares the CPU cores with the step) costs the rest.

``mask_rows``: ``positives`` runs the training graph's mask head on the rows that can be
positive (``Config.MASK_HEAD_POSITIVES_ONLY``, the default), ``all`` on every sampled RoI
(the classic graph); before the cached rounds a ``positives`` variant takes the weights of
its ``all`` twin, so the two step the same weights on the same batch.
``mask_rows_comparison`` compares them.

``mask_size``: ``28x28`` (the heads' default) or ``56x56`` (``MASK_UPSAMPLING = 4``: what the
bigger masks cost a training step, per head); ``mask_size_comparison`` compares them.

``flops``: the training graph's forward FLOPs per image (:func:`mrcnn.flops.flops_by_region`:
backbone, FPN and RPN on the image, the box head on all ``TRAIN_ROIS_PER_IMAGE`` rows and
the mask head on the rows it runs on) and the step's estimate, 3 x forward x batch (the
backward pass costs about twice the forward). ``fit`` and ``cached`` give the achieved
GFLOP/s and ``fraction_of_matmul_peak``, against the matmul peak in the policy's compute
dtype (``peak_used``).
"""

from __future__ import annotations

import argparse
import itertools
import tempfile
import time
from typing import Any

import keras
from common import (
    current_rss_mib,
    emit,
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
)

from mrcnn.config import Config, LightConfig
from mrcnn.data.shapes import ShapesConfig, ShapesDataset
from mrcnn.engine.input_pipeline import build_dataset
from mrcnn.flops import flops_by_region, mask_head_profile
from mrcnn.graph import BOX_ROI_ALIGN, MASK_HEAD_REGIONS, mask_training_rows
from mrcnn.heads.mask import mask_head_settings
from mrcnn.model import MaskRCNN
from mrcnn.presets import RealDataConfig

CONFIGS = ("shapes", "real_data", "resnet50_512")


class StepTimer(keras.callbacks.Callback):
    """Wall time between consecutive training batch ends (the first from train begin)."""

    def __init__(self) -> None:
        super().__init__()
        self.steps: list[float] = []
        self._last = 0.0

    def on_train_begin(self, logs=None):
        self._last = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        float((logs or {}).get("total_loss", 0.0))  # wait for the step's result
        now = time.perf_counter()
        self.steps.append(now - self._last)
        self._last = now


def training_flops(model: MaskRCNN) -> dict[str, Any]:
    """Forward FLOPs of one image through the training graph and the step's estimate."""
    config = model.config
    regions = flops_by_region(model.keras_model)
    rois, mask_rows = config.TRAIN_ROIS_PER_IMAGE, mask_training_rows(config)
    flops = {"backbone_fpn_rpn": regions["image"],
             "box_head_per_roi": regions.get(BOX_ROI_ALIGN, 0),
             "mask_head_per_roi": sum(regions.get(r, 0) for r in MASK_HEAD_REGIONS),
             "rois_per_image": rois,
             "mask_rows_per_image": mask_rows}
    flops["forward_per_image"] = (flops["backbone_fpn_rpn"] + rois * flops["box_head_per_roi"]
                                  + mask_rows * flops["mask_head_per_roi"])
    # Cross-check of the region split: the mask head built on its own.
    flops["mask_head_alone_per_roi"] = mask_head_profile(config)["flops_per_roi"]
    flops["train_step_estimate"] = 3 * flops["forward_per_image"] * config.BATCH_SIZE
    return flops


def throughput(step_flops: int, seconds: float, peak: dict[str, Any]) -> dict[str, Any]:
    """Achieved GFLOP/s of a step and its fraction of the matmul peak."""
    achieved = step_flops / seconds / 1e9
    return {"achieved_gflops_per_s": rounded(achieved),
            "fraction_of_matmul_peak": rounded(achieved / peak["gflops_per_s"], 3),
            "peak_used": peak["dtype"]}


def make_config(name: str, head: str, args, policy: str = "float32",
                norm: str = "batch", mask_rows: str = "positives",
                mask_size: int = 28) -> Config:
    """``shapes``: the shapes preset (128 px, resnet_light, batch 8); ``real_data``: the
    real-photo preset the Penn-Fudan and balloon samples train with (256 px, resnet_light,
    batch 4, 32 RoIs an image); ``resnet50_512``:
    ResNet-50-FPN with the library defaults at 512x512, batch ``--r50-batch``.
    ``--quick`` keeps each base (so both code paths run) but shrinks it to 64 px,
    resnet_light, narrow layers (any head: at least LightConfig's widths), batch 2."""
    fields: dict[str, Any] = {"NAME": f"bench_{name}_{head}", "MASK_HEAD": head,
                              "DTYPE_POLICY": policy, "NORM": norm,
                              "MASK_HEAD_POSITIVES_ONLY": mask_rows == "positives",
                              "MASK_UPSAMPLING": mask_size // Config.MASK_POOL_SIZE,
                              "STEPS_PER_EPOCH": args.warmup + args.steps}
    if name == "shapes":
        base: type[Config] = ShapesConfig
    elif name == "real_data":
        base = RealDataConfig
        fields.update(NUM_CLASSES=ShapesConfig.NUM_CLASSES)
    else:
        base = Config
        fields.update(BACKBONE="resnet50", IMAGE_MIN_DIM=512, IMAGE_MAX_DIM=512,
                      NUM_CLASSES=ShapesConfig.NUM_CLASSES, IMAGES_PER_GPU=args.r50_batch)
    if args.quick:
        # Every head at least as narrow as the light preset makes it; FCN and U-Net narrower.
        fields.update({name: getattr(LightConfig, name) for name in mask_head_settings()
                       if name in vars(LightConfig)})
        fields.update(BACKBONE="resnet_light", IMAGES_PER_GPU=2, IMAGE_MIN_DIM=64,
                      IMAGE_MAX_DIM=64, TOP_DOWN_PYRAMID_SIZE=32, RPN_CONV_DIM=32,
                      PRE_NMS_LIMIT=256, POST_NMS_ROIS_TRAINING=64, POST_NMS_ROIS_INFERENCE=32,
                      TRAIN_ROIS_PER_IMAGE=16,
                      FPN_CLASSIF_FC_LAYERS_SIZE=32, MASK_HEAD_CONV_DIM=16,
                      UNET_SKIP_FILTERS=(16, 16), UNET_BOTTLENECK_FILTERS=(16, 32, 16),
                      UNET_UP14_FILTERS=(16, 8), UNET_UP28_FILTERS=(16, 16))
    return type(f"Bench_{name}", (base,), fields)()


def shapes_data(config: Config, count: int) -> ShapesDataset:
    """``count`` shapes images at the config's image size."""
    dataset = ShapesDataset()
    size = int(config.IMAGE_MAX_DIM)
    dataset.load_shapes(count, size, size, seed=0)
    dataset.prepare()
    return dataset


def time_pipeline(dataset: ShapesDataset, config: Config, args) -> dict[str, Any]:
    """Batches/s of the tf.data input pipeline iterated on its own."""
    iterator = iter(build_dataset(dataset, config, shuffle=True, seed=0))
    for _ in range(args.warmup):
        next(iterator)
    times = []
    start = time.perf_counter()
    for _ in range(args.steps):
        t0 = time.perf_counter()
        next(iterator)
        times.append(time.perf_counter() - t0)
    total = time.perf_counter() - start
    return {"s_per_batch": rounded(total / args.steps),
            "median_s_per_batch": rounded(median(times)),
            "images_per_s": rounded(config.BATCH_SIZE * args.steps / total)}


def run_variant(name: str, head: str, args, peak: dict[str, Any],
                policy: str = "float32", norm: str = "batch",
                mask_rows: str = "positives", mask_size: int = 28) -> dict[str, Any]:
    """Pipeline alone, fit end-to-end and the cached step for one config, head, dtype
    policy, normalisation, mask rows and mask size; ``peak``: the matmul peak in the
    policy's compute dtype."""
    config = make_config(name, head, args, policy, norm, mask_rows, mask_size)
    dataset = shapes_data(config, args.images)
    reset_peak_rss()
    rss_before = current_rss_mib()
    log(f"{name} {head}: pipeline")
    pipeline = time_pipeline(dataset, config, args)
    log(f"{name} {head}: fit ({args.warmup} + {args.steps} steps)")
    timer = StepTimer()
    with tempfile.TemporaryDirectory() as model_dir:
        start = time.perf_counter()
        model = MaskRCNN("training", config, model_dir=model_dir)
        build_s = time.perf_counter() - start
        start = time.perf_counter()
        model.train(dataset, None, learning_rate=config.LEARNING_RATE, epochs=1, layers="all",
                    custom_callbacks=[timer], verbose=0)
        train_s = time.perf_counter() - start
    fit_steps = timer.steps[args.warmup:]
    fit_s = median(fit_steps)
    flops = training_flops(model)
    batch = next(iter(build_dataset(dataset, config, shuffle=False)))
    log(f"  fit {fit_s:.4g} s/step, pipeline {pipeline['s_per_batch']} s/batch")
    result = {
        "config": name, "head": head, "dtype_policy": policy, "mask_rows": mask_rows,
        "mask_size": "x".join(map(str, config.MASK_SHAPE)),
        "backbone": config.BACKBONE,
        "image_size": int(config.IMAGE_MAX_DIM), "batch": config.BATCH_SIZE,
        "base_config": type(config).__mro__[1].__name__, "optimizer": config.OPTIMIZER,
        "norm": config.NORM, "train_bn": config.TRAIN_BN, "use_mini_mask": config.USE_MINI_MASK,
        "train_rois_per_image": config.TRAIN_ROIS_PER_IMAGE,
        "parameters": model.keras_model.count_params(),
        "build_s": rounded(build_s),
        "first_step_s": rounded(timer.steps[0]),
        "train_call_s": rounded(train_s),
        "flops": flops,
        "fit": {"s_per_step": rounded(fit_s), "min_s_per_step": rounded(min(fit_steps)),
                "images_per_s": rounded(config.BATCH_SIZE / fit_s), "steps": len(fit_steps),
                **throughput(flops["train_step_estimate"], fit_s, peak)},
        "pipeline": pipeline,
        "pipeline_over_fit_step": rounded(pipeline["s_per_batch"] / fit_s, 3),
        "rss_before_mib": rss_before, "rss_after_mib": current_rss_mib(),
        "peak_rss_mib": peak_rss_mib(),
    }
    return result, (model.keras_model, batch, peak)


def time_cached_interleaved(variants: list, args) -> None:
    """The ``cached`` figures of every variant: its compiled train step on its one cached
    batch (``train_on_batch``, so no input pipeline runs), ``warmup`` untimed calls each,
    then ``steps`` rounds that call every variant once in turn, so a change in the
    machine's load reaches all variants alike. Fills ``result["cached"]`` and
    ``compute_fraction``."""
    for _, (keras_model, batch, _) in variants:
        for _ in range(args.warmup):
            keras_model.train_on_batch(batch)
    times: list[list[float]] = [[] for _ in variants]
    for _ in range(args.steps):
        for i, (_, (keras_model, batch, _)) in enumerate(variants):
            start = time.perf_counter()
            logs = keras_model.train_on_batch(batch, return_dict=True)
            float(logs["total_loss"])  # wait for the step's result
            times[i].append(time.perf_counter() - start)
    for (result, (_, _, peak)), steps in zip(variants, times):
        cached_s = median(steps)
        result["cached"] = {"s_per_step": rounded(cached_s), "min_s_per_step": rounded(min(steps)),
                            "images_per_s": rounded(result["batch"] / cached_s),
                            "steps": len(steps), "interleaved_with": len(variants) - 1,
                            **throughput(result["flops"]["train_step_estimate"], cached_s, peak)}
        result["compute_fraction"] = rounded(cached_s / result["fit"]["s_per_step"], 3)
        log(" ".join(str(result[k]) for k in VARIANT_KEYS) + f": cached {cached_s:.4g} s/step")


# What identifies a variant; a comparison pairs variants that differ in one of these.
VARIANT_KEYS = ("config", "head", "dtype_policy", "norm", "mask_rows", "mask_size")


def share_weights(variants: list) -> None:
    """Each ``positives`` variant takes the weights of the ``all`` variant that differs from
    it in ``mask_rows`` alone (the two graphs have the same weights)."""
    others = [k for k in VARIANT_KEYS if k != "mask_rows"]
    every_row = {tuple(r[k] for k in others): model for r, (model, _, _) in variants
                 if r["mask_rows"] == "all"}
    for result, (model, _, _) in variants:
        twin = every_row.get(tuple(result[k] for k in others))
        if result["mask_rows"] == "positives" and twin is not None:
            model.set_weights(twin.get_weights())


def cached_comparison(results: list[dict[str, Any]], key: str,
                      base: str) -> list[dict[str, Any]]:
    """Cached (compute-only) step time of each variant whose ``key`` is not ``base`` over
    that of the variant that differs from it in ``key`` alone."""
    others = [k for k in VARIANT_KEYS if k != key]
    reference = {tuple(r[k] for k in others): r for r in results if r[key] == base}
    rows = []
    for r in results:
        ref = reference.get(tuple(r[k] for k in others))
        if r[key] != base and ref is not None:
            rows.append({**{k: r[k] for k in VARIANT_KEYS},
                         f"{base}_s_per_step": ref["cached"]["s_per_step"],
                         "s_per_step": r["cached"]["s_per_step"],
                         f"time_over_{base}": rounded(r["cached"]["s_per_step"]
                                                     / ref["cached"]["s_per_step"], 3)})
    return rows


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="+", choices=CONFIGS, default=list(CONFIGS))
    parser.add_argument("--heads", nargs="+", default=["fcn", "unet"])
    parser.add_argument("--steps", type=int, default=10, help="timed steps (median)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps before timing")
    parser.add_argument("--r50-batch", type=int, default=2, help="images per step at 512 px")
    parser.add_argument("--images", type=int, default=64, help="shapes images generated")
    parser.add_argument("--dtype-policies", nargs="+", default=["float32"],
                        help="Config.DTYPE_POLICY values to compare")
    parser.add_argument("--norms", nargs="+", default=["batch"], choices=["batch", "group"],
                        help="Config.NORM values to compare")
    parser.add_argument("--mask-rows", nargs="+", default=["all", "positives"],
                        choices=["all", "positives"],
                        help="the training mask head on every sampled RoI or the positives")
    parser.add_argument("--mask-sizes", nargs="+", type=int, default=[28], choices=[28, 56],
                        help="predicted mask sides to compare (56: MASK_UPSAMPLING 4)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke settings: 64 px, narrow resnet_light, 3 steps")
    args = parser.parse_args()
    if args.quick:
        args.steps, args.warmup, args.images = min(args.steps, 3), min(args.warmup, 1), 8
    return args


def main() -> None:
    args = parse_args()
    with stdout_to_stderr():
        size, repeats = (1024, 3) if args.quick else (4096, 10)
        peak = matmul_peak(size, repeats=repeats)
        peaks = {policy: (peak if policy == "float32" else matmul_peak(
            size, repeats=repeats, dtype=policy.removeprefix("mixed_")))
            for policy in args.dtype_policies}
        variants = []  # (result, (model, cached batch, peak)): kept for the cached rounds
        for name, policy, head, norm, rows, size in itertools.product(
                args.configs, args.dtype_policies, args.heads, args.norms, args.mask_rows,
                args.mask_sizes):
            log(f"{name} {head} {policy} {norm} {rows} {size}x{size}")
            variants.append(run_variant(name, head, args, peaks[policy], policy, norm, rows,
                                        size))
        share_weights(variants)
        log(f"cached steps, {len(variants)} variant(s) interleaved")
        time_cached_interleaved(variants, args)
        results = [result for result, _ in variants]
        variants.clear()
        release()
    emit({"benchmark": "train_step", "quick": args.quick, "machine": machine_info(),
          "matmul_peak": peak,
          "matmul_peak_16bit": {p: v for p, v in peaks.items() if p != "float32"},
          "settings": {"steps": args.steps, "warmup": args.warmup, "layers": "all",
                       "timing": "median seconds per step after warmup"},
          "results": results,
          "precision_comparison": cached_comparison(results, "dtype_policy", "float32"),
          "norm_comparison": cached_comparison(results, "norm", "batch"),
          "mask_rows_comparison": cached_comparison(results, "mask_rows", "all"),
          "mask_size_comparison": cached_comparison(results, "mask_size", "28x28"),
          "process_peak_rss_mib": process_peak_rss_mib()})


if __name__ == "__main__":
    main()
