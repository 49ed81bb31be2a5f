"""Mask pasting benchmark: the box-only ``paste_masks`` vs the former dense one.

``N`` (100) random 28x28 masks with realistic boxes (height and width each log-uniform
between ``--box-range`` (1/32 and 3/4) of the image side, centres uniform over the
image, so some cross the border; fixed seed) are pasted into square images of each
``--sizes`` (640, 1024) by

* ``dense``: the former implementation (``tests/twins.py``, the tests' reference):
  ``crop_and_resize`` of every mask over the whole image plus ``[N, H, W]`` in-box tests;
* ``box_only``: :func:`mrcnn.ops.masks.paste_masks`, which resamples each mask over its
  box's rows and column tiles only.

Both are timed called eagerly with numpy inputs (as ``MaskRCNN.unmold_detections`` does)
and inside a ``tf.function`` with dynamic shapes (as the exported serving function does).
Calls alternate (dense, box-only, dense, ...) so that the machine's minute-to-minute
speed changes hit both alike; the medians are reported with their ratio.

Memory: ``TF_CPU_ALLOCATOR_USE_BFC=true`` (set before TensorFlow is imported) makes the
CPU allocator count bytes, so ``tf.config.experimental.get_memory_info("CPU:0")`` works:
``peak_mib`` is the allocator's peak during one call minus what was allocated before it
(inputs), i.e. the temporaries plus the ``[N, H, W]`` bool output (``output_mib``).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ["TF_CPU_ALLOCATOR_USE_BFC"] = "true"  # allocator statistics on CPU (see above)
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repo root, for tests.twins

import time  # noqa: E402

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from common import MIB, emit, log, machine_info, median, rounded, stdout_to_stderr  # noqa: E402

from mrcnn.ops.masks import paste_masks  # noqa: E402
from tests.twins import dense_paste_masks  # noqa: E402  (the former implementation)


def make_inputs(n: int, side: int, box_range, seed: int = 0):
    """``[n, 28, 28]`` smooth random masks and ``[n, 4]`` boxes on a ``side``-square image,
    their sides log-uniform in ``box_range`` (fractions of ``side``)."""
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(size=(n, 7, 7))
    masks = np.kron(coarse, np.ones((4, 4))) + rng.normal(scale=0.05, size=(n, 28, 28))
    sizes = side * np.exp(rng.uniform(np.log(box_range[0]), np.log(box_range[1]), (n, 2)))
    centres = rng.uniform(0, side, (n, 2))
    boxes = np.concatenate([centres - sizes / 2, centres + sizes / 2], axis=1)
    return masks.astype(np.float32), boxes.astype(np.float32)


def graph_variant(fn):
    """``fn`` traced once with dynamic N and image size (the serving function's case)."""
    return tf.function(lambda m, b, s: fn(m, b, (s[0], s[1])), input_signature=[
        tf.TensorSpec([None, 28, 28], tf.float32), tf.TensorSpec([None, 4], tf.float32),
        tf.TensorSpec([2], tf.int32)])


def peak_mib(call) -> float:
    """Allocator peak during ``call()`` above the bytes allocated before it (MiB)."""
    before = tf.config.experimental.get_memory_info("CPU:0")["current"]
    tf.config.experimental.reset_memory_stats("CPU:0")
    result = call()
    peak = tf.config.experimental.get_memory_info("CPU:0")["peak"]
    del result
    return (peak - before) / MIB


def bench_size(side: int, n: int, repeats: int, box_range) -> dict:
    masks, boxes = make_inputs(n, side, box_range)
    shape = (side, side)
    variants = {"dense": dense_paste_masks, "box_only": paste_masks}
    graphs = {name: graph_variant(fn) for name, fn in variants.items()}
    tensors = (tf.constant(masks), tf.constant(boxes), tf.constant(shape, tf.int32))
    calls = {}
    for name, fn in variants.items():
        calls[("eager", name)] = lambda fn=fn: fn(masks, boxes, shape)
        calls[("graph", name)] = lambda g=graphs[name]: g(*tensors)
    # First calls (tracing) untimed; the outputs must agree exactly.
    first = {key: call().numpy() for key, call in calls.items()}
    identical = all(np.array_equal(first[("eager", "dense")], out) for out in first.values())
    on_pixels = int(first[("eager", "dense")].sum())
    del first
    times = {key: [] for key in calls}
    for _ in range(repeats):  # interleaved: dense, box_only, dense, box_only ...
        for key, call in calls.items():
            start = time.perf_counter()
            call().numpy()
            times[key].append(time.perf_counter() - start)
    memory = {key: median([peak_mib(call) for _ in range(3)]) for key, call in calls.items()}
    result = {"image_size": side, "masks": n, "repeats": repeats, "identical": identical,
              "on_pixels": on_pixels, "output_mib": rounded(n * side * side / MIB),
              "box_area_fraction": rounded(float(np.mean(
                  np.prod(np.clip(boxes[:, 2:], 0, side) - np.clip(boxes[:, :2], 0, side),
                          axis=1))) / side ** 2, 3)}
    for mode in ("eager", "graph"):
        row = {}
        for name in variants:
            row[name] = {"median_ms": rounded(1e3 * median(times[(mode, name)])),
                         "min_ms": rounded(1e3 * min(times[(mode, name)])),
                         "peak_mib": rounded(memory[(mode, name)])}
        row["speedup"] = rounded(row["dense"]["median_ms"] / row["box_only"]["median_ms"], 3)
        row["memory_ratio"] = rounded(row["dense"]["peak_mib"] / row["box_only"]["peak_mib"], 3)
        result[mode] = row
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", type=int, default=[640, 1024])
    parser.add_argument("--masks", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=11, help="timed calls per variant")
    parser.add_argument("--box-range", nargs=2, type=float, default=[1 / 32, 3 / 4],
                        help="least and largest box side, fractions of the image side")
    parser.add_argument("--quick", action="store_true", help="smoke settings: 256 px, 3 repeats")
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.repeats = [256], 3
    start = time.perf_counter()
    results = []
    with stdout_to_stderr():
        for side in args.sizes:
            log(f"paste {args.masks} masks into {side}x{side}")
            results.append(bench_size(side, args.masks, args.repeats, args.box_range))
    emit({"benchmark": "paste_masks", "quick": args.quick, "machine": machine_info(),
          "box_range": [rounded(f) for f in args.box_range],
          "memory_method": "TF_CPU_ALLOCATOR_USE_BFC=true + tf.config.experimental."
                           "get_memory_info('CPU:0') peak minus bytes allocated before the call",
          "results": results, "wall_s": rounded(time.perf_counter() - start, 3)})


if __name__ == "__main__":
    main()
