"""Shared helpers of the benchmarks: timing, matmul peak, memory, machine info, JSON output.

Every benchmark script prints exactly one JSON object to stdout; progress and library
chatter go to stderr (:func:`stdout_to_stderr`).
"""

from __future__ import annotations

import contextlib
import datetime
import gc
import json
import os
import platform
import resource
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402

MIB = 2 ** 20


def log(message: str) -> None:
    """Progress line on stderr."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """Send Python-level prints (Keras, library code) to stderr so stdout stays JSON only."""
    with contextlib.redirect_stdout(sys.stderr):
        yield


def emit(result: dict[str, Any]) -> None:
    """Print ``result`` as one JSON object on stdout (NaN/Inf are an error)."""
    sys.stdout.write(json.dumps(result, allow_nan=False, default=_jsonable) + "\n")
    sys.stdout.flush()


def _jsonable(value: Any) -> Any:
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def rounded(value: float, digits: int = 4) -> float:
    """``value`` rounded to ``digits`` significant digits (readable JSON)."""
    return float(f"{value:.{digits}g}")


# ----------------------------------------------------------------------------- timing
def time_call(fn: Callable[[], Any], repeats: int, warmup: int = 1) -> dict[str, Any]:
    """Run ``fn`` ``warmup`` times untimed, then ``repeats`` times; seconds per call.

    Returns ``median_s``, ``min_s``, ``max_s``, ``repeats`` and ``warmup``.
    """
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return {"median_s": statistics.median(times), "min_s": min(times), "max_s": max(times),
            "repeats": repeats, "warmup": warmup}


def median(values: list[float]) -> float:
    """Median of a non-empty list."""
    return statistics.median(values)


# ----------------------------------------------------------------------------- matmul peak
def matmul_peak(size: int = 4096, repeats: int = 5, warmup: int = 2,
                dtype: str = "float32") -> dict[str, Any]:
    """``tf.linalg.matmul`` of two ``size x size`` matrices of ``dtype``: median GFLOP/s
    (2 n^3)."""
    a = tf.random.normal([size, size], dtype=tf.float32, seed=1)
    b = tf.random.normal([size, size], dtype=tf.float32, seed=2)
    a, b = tf.cast(a, dtype), tf.cast(b, dtype)
    matmul = tf.function(tf.linalg.matmul)
    timing = time_call(lambda: matmul(a, b).numpy(), repeats, warmup)
    flops = 2.0 * size ** 3
    return {"size": size, "dtype": dtype, "gflops_per_s": rounded(flops / timing["median_s"]
                                                                   / 1e9),
            "median_ms": rounded(timing["median_s"] * 1e3), "repeats": repeats,
            "warmup": warmup}


# ----------------------------------------------------------------------------- memory
def current_rss_mib() -> float:
    """Resident set size now, from ``/proc/self/statm`` (MiB)."""
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return round(pages * os.sysconf("SC_PAGE_SIZE") / MIB, 2)


_MAX_PEAK_MIB = 0.0  # the largest peak seen, across resets


def peak_rss_mib() -> float:
    """Peak resident set size (``getrusage`` ``ru_maxrss``, KiB on Linux) in MiB: since the
    process started, or since the last successful :func:`reset_peak_rss` (at least the
    current RSS: the kernel updates the peak lazily)."""
    global _MAX_PEAK_MIB
    peak = max(round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 2),
               current_rss_mib())
    _MAX_PEAK_MIB = max(_MAX_PEAK_MIB, peak)
    return peak


def process_peak_rss_mib() -> float:
    """Peak RSS of the whole process, resets included (MiB)."""
    return max(_MAX_PEAK_MIB, peak_rss_mib())


def reset_peak_rss() -> bool:
    """Reset the peak RSS to the current RSS (Linux >= 4.0: ``5 > /proc/self/clear_refs``),
    so that :func:`peak_rss_mib` measures one variant; False where not supported."""
    peak_rss_mib()
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
        return True
    except OSError:
        return False


def release() -> None:
    """Free the models of a finished variant (Keras session, Python garbage)."""
    import keras

    keras.backend.clear_session()
    gc.collect()


# ----------------------------------------------------------------------------- machine
def machine_info() -> dict[str, Any]:
    """CPU model, cores, library versions and the date of the run."""
    import keras
    import numpy as np

    model = platform.processor() or "unknown"
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    flags: list[str] = []
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("flags"):
                    flags = sorted(f for f in line.split(":", 1)[1].split()
                                   if f.startswith(("avx512f", "avx512_bf16", "amx")))
                    break
    total_mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return {
        "cpu_model": model,
        "cpu_flags": flags,
        "logical_cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)),
        "memory_gib": rounded(total_mem / 2 ** 30, 3),
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
        "tf_intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
        "tf_inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "load_average_1min": rounded(os.getloadavg()[0], 3),
    }


def error_string(error: BaseException, limit: int = 300, text: str | None = None) -> str:
    """``"TypeName: first line of the message"`` (or of ``text``), at most ``limit`` chars."""
    lines = [line.strip() for line in (text or str(error)).splitlines() if line.strip()]
    text = f"{type(error).__name__}: {lines[0] if lines else ''}"
    return text if len(text) <= limit else text[:limit - 3] + "..."


def main() -> None:
    """``python bench/common.py [--quick]``: the matmul peak and machine info as JSON."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--quick", action="store_true", help="1024x1024 matmul")
    parser.add_argument("--size", type=int, default=None, help="matrix size (default 4096)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    size = args.size or (1024 if args.quick else 4096)
    with stdout_to_stderr():
        peak = matmul_peak(size, args.repeats)
    emit({"benchmark": "matmul_peak", "quick": args.quick, "machine": machine_info(),
          "matmul_peak": peak, "peak_rss_mib": process_peak_rss_mib(),
          "rss_mib": current_rss_mib()})


if __name__ == "__main__":
    main()
