"""Running a detector over a data set: the one detection loop every evaluation uses.

``model`` is anything with ``detect(list of [H, W, 3] images) -> list of result dicts``
(``rois``, ``class_ids``, ``scores``, ``masks``), e.g. a ``MaskRCNN`` in inference mode.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import numpy as np


def detect_batches(
    model: Any, dataset: Any, image_ids: Iterable[int] | None, batch_size: int, progress: bool
) -> Iterable[tuple[list[int], list[dict[str, np.ndarray]]]]:
    """Yield (image ids, detect results) per batch of ``batch_size`` images."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    image_ids = [int(i) for i in (dataset.image_ids if image_ids is None else image_ids)]
    for start in range(0, len(image_ids), batch_size):
        chunk = image_ids[start:start + batch_size]
        chunk_results = model.detect([dataset.load_image(i) for i in chunk])
        if len(chunk_results) != len(chunk):
            raise ValueError(f"model.detect returned {len(chunk_results)} results for "
                             f"{len(chunk)} images")
        if progress:
            print(f"\rdetected {start + len(chunk)}/{len(image_ids)} images", end="",
                  flush=True)
        yield chunk, chunk_results
    if progress and image_ids:
        print()


def detect_dataset(
    model: Any,
    dataset: Any,
    image_ids: Iterable[int] | None = None,
    batch_size: int = 8,
    progress: bool = True,
) -> dict[int, dict[str, np.ndarray]]:
    """``model.detect`` results {image_id: result} for ``image_ids`` (default all), in batches.

    Memory: each result holds full-size masks [H, W, N]; for large sets prefer
    ``evaluate_model_coco`` without ``return_results``, which keeps only RLEs.
    """
    results: dict[int, dict[str, np.ndarray]] = {}
    for chunk, chunk_results in detect_batches(model, dataset, image_ids, batch_size, progress):
        results.update(zip(chunk, chunk_results))
    return results


def timed_detect(model: Any, dataset: Any, image_ids: Iterable[int] | None = None,
                 batch_size: int = 8, progress: bool = True):
    """``(results, ms_per_image)``: detect on ``image_ids`` after one warm-up call (the
    first call traces the graph, which is not inference time); the time includes loading
    each image from ``dataset``."""
    image_ids = [int(i) for i in (dataset.image_ids if image_ids is None else image_ids)]
    if image_ids:
        model.detect([dataset.load_image(image_ids[0])])
    tic = time.perf_counter()
    results = detect_dataset(model, dataset, image_ids, batch_size, progress)
    return results, 1000.0 * (time.perf_counter() - tic) / max(len(image_ids), 1)
