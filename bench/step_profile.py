"""Where a training step's time goes: the TF profiler's op times, summed by region.

For each mask head and mask-row setting, the compiled train step of the real-photo preset
(``train_step.py --configs real_data``: 256 px, resnet_light, batch 4, on shapes images) runs
``--steps`` times on one cached batch under ``tf.profiler``; every op event of the step's
executor threads is assigned to the layer whose name scope it carries, and each layer to
a region of the paper's figure:

- ``backbone``, ``fpn``, ``rpn`` (its convs on P2..P6), ``anchors_proposals`` (anchors and
  the proposal layer's decoding and NMS), ``rpn_targets``, ``roi_targets`` (RoI sampling
  and mask targets), ``roi_align`` (both RoIAlign layers), ``box_head`` and ``mask_head``
  (every layer downstream of their RoIAlign), ``losses``;
- ``optimizer_other``: ops outside the model's scope (the optimizer's update, gradient
  clipping, the step's bookkeeping).

Forward and backward (``gradient_tape/``) are reported apart. The op times are the
executor threads' wall time per op (two executor threads can run ops at once, and an op
spreads its work over the intra-op pool), so a region's share of the summed op time is
what the table compares, beside the step's own wall time.
"""

from __future__ import annotations

import argparse
import glob
import os
import re
import tempfile
import time
from collections import defaultdict
from typing import Any

import keras
import tensorflow as tf
from common import emit, log, machine_info, median, rounded, stdout_to_stderr
from tensorflow.tsl.profiler.protobuf import xplane_pb2
from train_step import make_config, shapes_data

from mrcnn.engine.input_pipeline import build_dataset
from mrcnn.graph import BOX_ROI_ALIGN, MASK_HEAD_REGIONS
from mrcnn.layers import LossLayer, PyramidROIAlign
from mrcnn.model import MaskRCNN

OWN_REGIONS = {"anchors": "anchors_proposals", "ROI": "anchors_proposals",
               "rpn_targets": "rpn_targets", "proposal_targets": "roi_targets",
               "mask_rois": "roi_targets"}
HEADS = {BOX_ROI_ALIGN: "box_head", **{name: "mask_head" for name in MASK_HEAD_REGIONS}}
OP_EVENT = re.compile(r"[^:]+:\w+")  # "<scope>/<op name>:<op type>"


def layer_regions(model: keras.Model) -> dict[str, str]:
    """``{layer name: region}`` for every layer of the training graph (see the module doc);
    a layer belongs to the head whose RoIAlign feeds its first input."""
    nodes = [node for depth in sorted(model._nodes_by_depth, reverse=True)
             for node in model._nodes_by_depth[depth]]  # inputs first
    region_of_node: dict[int, str] = {}
    regions: dict[str, str] = {}
    for node in nodes:
        layer = node.operation
        parent_region = None
        if node.input_tensors:
            parent, index, _ = node.input_tensors[0]._keras_history
            parent_region = region_of_node.get(id(parent._inbound_nodes[index]))
        if isinstance(layer, PyramidROIAlign):
            region, downstream = "roi_align", HEADS[layer.name]
        elif isinstance(layer, LossLayer):
            region = downstream = "losses"
        elif layer.name in OWN_REGIONS:
            region = downstream = OWN_REGIONS[layer.name]
        elif parent_region in HEADS.values():
            region = downstream = parent_region
        elif layer.name.startswith("fpn_"):
            region = downstream = "fpn"
        elif layer.name.startswith("rpn_"):
            region = downstream = "rpn"
        elif isinstance(layer, keras.layers.InputLayer):
            region = downstream = "inputs"
        else:
            region = downstream = "backbone"
        regions[layer.name] = region
        region_of_node[id(node)] = downstream
    return regions


def op_times(logdir: str) -> dict[str, int]:
    """Summed duration (ps) of each op name on the executor threads of the profile."""
    path = glob.glob(os.path.join(logdir, "**", "*.xplane.pb"), recursive=True)[0]
    space = xplane_pb2.XSpace()
    with open(path, "rb") as f:
        space.ParseFromString(f.read())
    totals: dict[str, int] = defaultdict(int)
    for plane in space.planes:
        for line in plane.lines:
            if not line.name.startswith("tf_Compute"):
                continue
            for event in line.events:
                name = plane.event_metadata[event.metadata_id].name
                if OP_EVENT.fullmatch(name):  # not the executor's wrappers ("Class::Method")
                    totals[name] += event.duration_ps
    return totals


def region_of_op(op: str, model_name: str, regions: dict[str, str]) -> tuple[str, str]:
    """``(region, "forward" | "backward")`` of an op name such as
    ``gradient_tape/mask_rcnn_training_1/mrcnn_mask_conv1_1/convolution/...``."""
    direction = "backward" if op.startswith("gradient_tape/") else "forward"
    parts = op.removeprefix("gradient_tape/").split("/")
    if len(parts) < 3 or not re.fullmatch(re.escape(model_name) + r"(_\d+)?", parts[0]):
        return "optimizer_other", direction
    scope = parts[1]
    layer = scope if scope in regions else re.sub(r"_\d+$", "", scope)
    return regions.get(layer, "optimizer_other"), direction


def profile_variant(head: str, mask_rows: str, args) -> dict[str, Any]:
    """Profile ``args.steps`` cached train steps of one head and mask-row setting."""
    config = make_config("real_data", head, args, mask_rows=mask_rows)
    dataset = shapes_data(config, 16)
    with tempfile.TemporaryDirectory() as model_dir:
        model = MaskRCNN("training", config, model_dir=model_dir)
        model.train(dataset, None, learning_rate=config.LEARNING_RATE, epochs=1, layers="all",
                    verbose=0)
    keras_model = model.keras_model
    batch = next(iter(build_dataset(dataset, config, shuffle=False)))
    for _ in range(args.warmup):
        keras_model.train_on_batch(batch)
    walls = []
    with tempfile.TemporaryDirectory() as logdir:
        tf.profiler.experimental.start(logdir)
        for _ in range(args.steps):
            start = time.perf_counter()
            float(keras_model.train_on_batch(batch, return_dict=True)["total_loss"])
            walls.append(time.perf_counter() - start)
        tf.profiler.experimental.stop()
        ops = op_times(logdir)
    regions = layer_regions(keras_model)
    by_region: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for op, ps in ops.items():
        region, direction = region_of_op(op, keras_model.name, regions)
        by_region[region][direction] += ps / 1e12 / args.steps
    total = sum(sum(d.values()) for d in by_region.values())
    table = {region: {"forward_s": rounded(d["forward"]), "backward_s": rounded(d["backward"]),
                      "share": rounded((d["forward"] + d["backward"]) / total, 3)}
             for region, d in sorted(by_region.items(), key=lambda kv: -sum(kv[1].values()))}
    top_ops = sorted(ops.items(), key=lambda kv: -kv[1])[:args.top]
    log(f"{head} {mask_rows}: {median(walls):.3g} s/step; "
        + ", ".join(f"{r} {v['share']:.0%}" for r, v in table.items()))
    return {"head": head, "mask_rows": mask_rows, "step_s": rounded(median(walls)),
            "op_time_per_step_s": rounded(total), "regions": table,
            "top_ops": [{"op": op, "s_per_step": rounded(ps / 1e12 / args.steps)}
                        for op, ps in top_ops]}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--heads", nargs="+", default=["fcn", "unet"])
    parser.add_argument("--mask-rows", nargs="+", default=["positives"],
                        choices=["all", "positives"])
    parser.add_argument("--steps", type=int, default=5, help="profiled steps")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps before")
    parser.add_argument("--top", type=int, default=12, help="the slowest ops listed")
    parser.add_argument("--quick", action="store_true", help="64 px narrow smoke settings")
    args = parser.parse_args()
    args.r50_batch = 1  # make_config's field for the config this script does not use
    if args.quick:
        args.steps, args.warmup = 1, 1
    return args


def main() -> None:
    args = parse_args()
    with stdout_to_stderr():
        results = [profile_variant(head, rows, args)
                   for head in args.heads for rows in args.mask_rows]
    emit({"benchmark": "step_profile", "quick": args.quick, "machine": machine_info(),
          "settings": {"config": "real_data", "steps": args.steps, "warmup": args.warmup},
          "results": results})


if __name__ == "__main__":
    main()
