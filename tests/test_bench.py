"""bench/ scripts: each ``--quick`` run prints one well-formed JSON object with the
documented keys (timings are not checked)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
import report  # noqa: E402  (bench/report.py)

from tests.helpers import HANG_GUARD_S  # noqa: E402

MACHINE_KEYS = {"cpu_model", "logical_cores", "usable_cores", "tensorflow", "keras", "date"}


def run_script(name: str, *args: str, timeout: float = HANG_GUARD_S) -> dict:
    """Run ``bench/<name> --quick *args``; its stdout must be exactly one JSON object."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / name), "--quick", *args],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1, f"stdout must be one JSON line, got {proc.stdout[:2000]!r}"
    result = json.loads(lines[0])
    assert isinstance(result, dict) and result["quick"] is True
    assert MACHINE_KEYS <= set(result["machine"])
    return result


def check_peak(peak: dict) -> None:
    assert {"size", "gflops_per_s", "median_ms", "repeats"} <= set(peak)
    assert peak["size"] == 1024 and peak["gflops_per_s"] > 0


def test_common_matmul_peak():
    result = run_script("common.py")
    assert result["benchmark"] == "matmul_peak"
    check_peak(result["matmul_peak"])
    assert result["peak_rss_mib"] >= result["rss_mib"] > 0


def check_report(result: dict, rows: int) -> None:
    """bench/report.py renders the result as a Markdown table of ``rows`` rows."""
    table = report.RENDERERS[result["benchmark"]](result)
    assert len([line for line in table.splitlines() if line.startswith("| ")]) >= rows + 2
    assert report._machine(result).startswith(result["machine"]["cpu_model"])


def check_call_flops(batch: dict, fixed: int, mask_per_roi: int, peak: dict) -> None:
    """The FLOPs of a timed call use the mask head rows it ran on, and the fraction of
    peak is against the matmul peak of the policy's compute dtype."""
    want = (fixed + mask_per_roi * batch["mask_head_rois"]) * batch["batch"] / 1e9
    assert batch["gflop_per_call"] == pytest.approx(want, rel=2e-3)
    assert batch["peak_used"] == peak["dtype"]
    assert batch["fraction_of_matmul_peak"] == pytest.approx(
        batch["achieved_gflops_per_s"] / peak["gflops_per_s"], rel=1e-2)


def test_inference_quick_with_bfloat16():
    result = run_script("inference.py", "--batches", "2", "--dtype-policies", "float32",
                        "mixed_bfloat16")
    assert result["benchmark"] == "inference"
    check_peak(result["matmul_peak"])
    assert result["matmul_peak_16bit"]["mixed_bfloat16"]["dtype"] == "bfloat16"
    assert {(r["backbone"], r["image_size"], r["head"], r["dtype_policy"])
            for r in result["results"]} == {
        ("resnet_light", 128, head, policy) for head in ("fcn", "unet")
        for policy in ("float32", "mixed_bfloat16")}
    peaks = {"float32": result["matmul_peak"], **result["matmul_peak_16bit"]}
    for model in result["results"]:
        assert {"parameters", "build_s", "first_call_s", "peak_rss_mib"} <= set(model)
        flops = model["flops"]
        fixed = flops["backbone_fpn_rpn"] + flops["box_head_per_roi"] * flops["box_head_rois"]
        max_rois = flops["mask_head_max_rois"]
        assert max_rois == model["detection_max_instances"] == 20
        assert flops["per_image_at_max_rois"] == fixed + flops["mask_head_per_roi"] * max_rois
        peak = peaks[model["dtype_policy"]]
        assert [b["batch"] for b in model["batches"]] == [2]
        for batch in model["batches"]:
            assert {"images_per_s", "ms_per_image", "detect_ms", "detections_per_image",
                    "achieved_gflops_per_s", "fraction_of_matmul_peak"} <= set(batch)
            assert set(batch["split_ms"]) == {"preprocess", "graph", "postprocess"}
            # the native graph's mask head: the real detections plus one zero row per call
            assert (batch["detections_per_image"] <= batch["mask_head_rois"] - 1 / batch["batch"]
                    <= max_rois)
            check_call_flops(batch, fixed, flops["mask_head_per_roi"], peak)
    assert len(result["head_comparison"]) == 2  # per policy
    assert {"unet_over_fcn_time", "unet_over_fcn_flops"} <= set(result["head_comparison"][0])
    assert len(result["precision_comparison"]) == 2  # per head, bf16 over fp32
    assert all(row["time_over_float32"] > 0 for row in result["precision_comparison"])
    assert "heads_xla" not in result or not result["heads_xla"]  # only with --xla
    check_report(result, rows=4)


def test_inference_quick_xla_twin():
    """``--xla``: the GRAPH_OPS "xla" twin compiles; its mask head runs on every row."""
    result = run_script("inference.py", "--xla", "--heads", "fcn", "--batches", "2",
                        "--dtype-policies", "float32")
    (model,) = result["results"]
    flops = model["flops"]
    fixed = flops["backbone_fpn_rpn"] + flops["box_head_per_roi"] * flops["box_head_rois"]
    assert "xla_peak_rss_mib" in model and model["batches"]
    for batch in model["batches"]:
        xla = batch["xla"]
        assert xla["ok"], xla
        assert xla["mask_head_rois"] == flops["mask_head_max_rois"]
        assert xla["ms_per_image"] > 0 and xla["speedup_over_native"] > 0
        check_call_flops({**xla, "batch": batch["batch"]}, fixed, flops["mask_head_per_roi"],
                         result["matmul_peak"])
    (heads,) = result["heads_xla"]  # the box and mask heads alone, jit_compile off and on
    for part in ("box_head", "mask_head"):
        assert heads[part]["ms"] > 0 and ("xla_ms" in heads[part] or heads[part]["xla_error"])


def test_interleave_quick():
    result = run_script("interleave.py", "--sizes", "128", "--rounds", "2", "--warmup", "0",
                        "--variants", "float32", "mixed_bfloat16")
    (size,) = result["sizes"]
    assert size["baseline"] == "float32" and size["rounds"] == 2
    base, mixed = size["results"]
    assert base["time_over_baseline"]["median"] == 1.0
    assert mixed["config"] == {"DTYPE_POLICY": "mixed_bfloat16"}
    assert mixed["time_over_baseline"]["median"] > 0 and mixed["ms_per_call"]["min"] > 0
    (same,) = base["agreement_with_baseline"]
    assert same["detections"] > 0 and same["matched"] == 1.0
    assert same["score_diff_median"] == 0 and same["mask_iou_median"] == 1.0
    (other,) = mixed["agreement_with_baseline"]
    assert 0 <= other["matched"] <= 1 and 0 <= other["box_iou_median"] <= 1


def test_train_step_quick():
    # One config: --quick shrinks the ResNet-50 one to the same tiny network anyway.
    result = run_script("train_step.py", "--heads", "fcn", "--configs", "shapes",
                        "--mask-rows", "positives")
    assert result["benchmark"] == "train_step"
    assert [(r["config"], r["head"], r["mask_rows"]) for r in result["results"]] == [
        ("shapes", "fcn", "positives")]
    for variant in result["results"]:
        for part in ("fit", "cached"):
            assert {"s_per_step", "images_per_s"} <= set(variant[part])
        assert {"s_per_batch", "images_per_s"} <= set(variant["pipeline"])
        assert {"compute_fraction", "first_step_s", "peak_rss_mib"} <= set(variant)
        flops = variant["flops"]
        # The training graph's mask region is exactly the head alone, once per RoI row.
        assert flops["mask_head_per_roi"] == flops["mask_head_alone_per_roi"] > 0
        assert flops["backbone_fpn_rpn"] > flops["box_head_per_roi"] > 0
        # --quick samples 16 RoIs an image; the mask head runs on the 5 that can be positive.
        assert (flops["rois_per_image"], flops["mask_rows_per_image"]) == (16, 5)
        for part in ("fit", "cached"):
            assert variant[part]["peak_used"] == "float32"
            assert variant[part]["achieved_gflops_per_s"] == pytest.approx(
                flops["train_step_estimate"] / variant[part]["s_per_step"] / 1e9, rel=1e-3)
    check_report(result, rows=1)


def test_comparisons_pair_runs_that_differ_in_one_setting():
    sys.path.insert(0, str(ROOT / "bench"))
    import train_step

    args = train_step.argparse.Namespace(quick=True, warmup=1, steps=3, r50_batch=2)
    assert train_step.make_config("shapes", "fcn", args, norm="group").NORM == "group"

    assert train_step.make_config("shapes", "unet", args, mask_size=56).MASK_SHAPE == [56, 56]

    def run(norm, policy, seconds, mask_size="28x28"):
        return {"config": "shapes", "head": "fcn", "norm": norm, "dtype_policy": policy,
                "mask_rows": "positives", "mask_size": mask_size,
                "cached": {"s_per_step": seconds}}

    runs = [run("batch", "float32", 2.0), run("group", "float32", 2.5),
            run("group", "mixed_bfloat16", 1.0), run("batch", "float32", 3.0, "56x56")]
    assert train_step.cached_comparison(runs, "norm", "batch") == [
        {"config": "shapes", "head": "fcn", "norm": "group", "dtype_policy": "float32",
         "mask_rows": "positives", "mask_size": "28x28", "batch_s_per_step": 2.0,
         "s_per_step": 2.5, "time_over_batch": 1.25}]
    (row,) = train_step.cached_comparison(runs, "dtype_policy", "float32")
    assert row["dtype_policy"] == "mixed_bfloat16" and row["time_over_float32"] == 0.4
    (row,) = train_step.cached_comparison(runs, "mask_size", "28x28")
    assert row["mask_size"] == "56x56" and row["time_over_28x28"] == 1.5


def test_step_profile_assigns_every_layer_and_op_to_its_region():
    import step_profile

    from mrcnn.graph import build_graph
    from tests.helpers import tiny_config

    model = build_graph("training", tiny_config())
    regions = step_profile.layer_regions(model)
    assert set(regions) == {layer.name for layer in model.layers}
    assert {regions[n] for n in ("mrcnn_mask_conv1", "mrcnn_mask", "mrcnn_mask_deconv")} == {
        "mask_head"}
    assert regions["mrcnn_class_logits"] == regions["mrcnn_bbox_fc"] == "box_head"
    assert (regions["roi_align_mask"], regions["proposal_targets"], regions["fpn_p2"],
            regions["rpn_conv_shared"], regions["mrcnn_mask_loss"]) == (
        "roi_align", "roi_targets", "fpn", "rpn", "losses")
    assert regions["conv1"] == "backbone"
    name = model.name
    assert step_profile.region_of_op(
        f"gradient_tape/{name}_1/mrcnn_mask_conv1_1/convolution/Conv2DBackpropFilter"
        ":Conv2DBackpropFilter", name, regions) == ("mask_head", "backward")
    assert step_profile.region_of_op(f"{name}_1/rpn_targets_1/Minimum:Minimum", name,
                                     regions) == ("rpn_targets", "forward")
    assert step_profile.region_of_op("adam_w/AssignSubVariableOp_3:AssignSubVariableOp", name,
                                     regions) == ("optimizer_other", "forward")
    assert not step_profile.OP_EVENT.fullmatch("ExecutorState::Process")


def test_memory_quick():
    result = run_script("memory.py")
    assert result["benchmark"] == "memory"
    assert [r["calls"] for r in result["readings"]] == [20, 50, 100]
    assert all(r["rss_mib"] > 0 for r in result["readings"])
    assert {"growth_percent", "kib_per_call", "predict_traces"} <= set(result)
    check_report(result, rows=3)

