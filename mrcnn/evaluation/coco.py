"""COCO-style evaluation (AP, AP50, AP75, APs/m/l, AR) of any ``Dataset`` with pycocotools.

Ids: a COCO image id is the data set's internal image id and a COCO category id is its
internal class id (BG, id 0, is left out). Annotation ids start at 1, because COCOeval
reads a matched annotation id of 0 as "no match".

Two pycocotools behaviours are worked around:
  * ``COCO.loadRes([])`` fails, so an empty detection list is evaluated against an empty
    result set (AP 0 wherever there is ground truth, -1 in area ranges without any).
  * ``loadRes`` sets the "area" of a result that has a "bbox" to the box area, and area
    decides small/medium/large for unmatched detections, in mask evaluation too; as in
    detectron2, mask evaluation drops "bbox" so that the mask area is used.

Typical use (one detect pass feeding COCO AP and mask quality)::

    out = evaluate_model_coco(model, dataset, return_results=True)
    out["segm"]["AP"], out["bbox"]["AP75"]
    summarize_mask_quality(mask_quality_from_results(dataset, out["results"]))
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

# The COCO json of ground truth and of detect results is data-layer code; imported here
# for evaluate_model_coco and as part of this module's (and mrcnn.evaluation's) API.
from mrcnn.data.coco_format import dataset_to_coco, detections_to_coco, encode_mask  # noqa: F401
from mrcnn.evaluation.boundary_ap import BoundaryCOCOeval
from mrcnn.evaluation.detect import detect_batches

STAT_NAMES = ("AP", "AP50", "AP75", "APs", "APm", "APl",
              "AR1", "AR10", "AR100", "ARs", "ARm", "ARl")
# "boundary": Boundary AP (mrcnn.evaluation.boundary_ap), on the masks as "segm".
IOU_TYPES = ("segm", "bbox", "boundary")
AREA_RANGES = ("all", "small", "medium", "large")
MAX_DETS = (1, 10, 100)
COCO_IOU_GRID = np.linspace(0.5, 0.95, 10)


def load_coco(gt: COCO | Mapping[str, Any] | str | os.PathLike) -> COCO:
    """A pycocotools COCO from a COCO object (returned as is), a json dict or a json path."""
    if isinstance(gt, COCO):
        return gt
    if isinstance(gt, (str, os.PathLike)):
        with open(gt) as f:
            gt = json.load(f)
    if not isinstance(gt, Mapping) or "images" not in gt or "categories" not in gt:
        raise TypeError("load_coco: expected a COCO object, a COCO json dict (with 'images' and "
                        f"'categories') or a path to one, got {type(gt).__name__}")
    coco = COCO()
    coco.dataset = {"annotations": [], **copy.deepcopy(dict(gt))}
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


def evaluate_coco(
    gt: COCO | Mapping[str, Any] | str | os.PathLike,
    detections: Sequence[Mapping[str, Any]],
    iou_type: str = "segm",
    image_ids: Iterable[int] | None = None,
    verbose: bool = True,
    return_precision: bool = False,
) -> dict[str, Any]:
    """COCOeval of COCO result entries against ground truth.

    Args:
        gt: COCO object, COCO json dict (e.g. from ``dataset_to_coco``) or json path.
        detections: result entries (from ``detections_to_coco``); not modified.
        iou_type: "segm" (mask IoU), "bbox" or "boundary" (Boundary AP: min of mask IoU
            and Boundary IoU, :mod:`mrcnn.evaluation.boundary_ap`).
        image_ids: images to evaluate (default: all images in gt).
        verbose: print pycocotools' progress and the 12-line summary table.
        return_precision: also return "precision" [T=10, R=101, K, A=4, M=3] (IoU thresholds,
            recall points, categories, area ranges, maxDets), for ``ap_at_iou`` / ``ap_vs_iou``.

    Returns:
        {"AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm",
        "ARl"} as floats (-1.0 where a range has no ground truth, as in pycocotools),
        plus "precision" when asked.
    """
    coco_eval = run_cocoeval(gt, detections, iou_type, image_ids, verbose)
    stats = {name: float(value) for name, value in zip(STAT_NAMES, coco_eval.stats)}
    if return_precision:
        stats["precision"] = coco_eval.eval["precision"]
    return stats


def run_cocoeval(
    gt: COCO | Mapping[str, Any] | str | os.PathLike,
    detections: Sequence[Mapping[str, Any]],
    iou_type: str = "segm",
    image_ids: Iterable[int] | None = None,
    verbose: bool = False,
) -> COCOeval:
    """Evaluated, accumulated and summarized COCOeval (see ``evaluate_coco`` for arguments)."""
    if iou_type not in IOU_TYPES:
        raise ValueError(f"evaluate_coco: iou_type must be one of {IOU_TYPES}, got {iou_type!r}")
    coco_gt = load_coco(gt)
    known = set(coco_gt.getImgIds())
    unknown = sorted({int(d["image_id"]) for d in detections} - known)
    if unknown:
        raise ValueError(f"evaluate_coco: detections for image ids {unknown[:10]} that are not "
                         f"in the ground truth ({len(known)} images)")
    on_masks = iou_type in ("segm", "boundary")
    drop = "bbox" if on_masks else "segmentation"
    entries = [{k: v for k, v in d.items() if k not in (drop, "id", "area", "iscrowd")}
               for d in detections]
    if on_masks and any("segmentation" not in d for d in entries):
        raise ValueError(f"evaluate_coco: iou_type {iou_type!r} needs a 'segmentation' in "
                         "every detection")
    if iou_type == "bbox" and any("bbox" not in d for d in entries):
        raise ValueError("evaluate_coco: iou_type 'bbox' needs a 'bbox' in every detection")
    if on_masks:
        _check_mask_sizes(coco_gt, entries)

    out = sys.stdout if verbose else io.StringIO()
    with contextlib.redirect_stdout(out):
        coco_dt = coco_gt.loadRes(entries) if entries else _empty_results(coco_gt)
        coco_eval = (BoundaryCOCOeval(coco_gt, coco_dt) if iou_type == "boundary"
                     else COCOeval(coco_gt, coco_dt, iouType=iou_type))
        if image_ids is not None:
            image_ids = sorted(int(i) for i in image_ids)
            missing = sorted(set(image_ids) - known)
            if missing:
                raise ValueError(f"evaluate_coco: image ids {missing[:10]} are not in the "
                                 "ground truth")
            coco_eval.params.imgIds = image_ids
        coco_eval.evaluate()
        coco_eval.accumulate()
        coco_eval.summarize()
    return coco_eval


def ap_at_iou(
    evaluation: COCOeval | Mapping[str, Any] | np.ndarray,
    iou: float,
    area: str = "all",
    max_dets: int = 100,
) -> float:
    """AP at one IoU threshold of the COCO grid 0.50:0.05:0.95 (so AP90 too).

    ``evaluation`` is a COCOeval after ``accumulate()``, a dict from ``evaluate_coco(...,
    return_precision=True)``, or its "precision" array [T, R, K, A, M] (default parameters).
    Returns the mean precision over recall points and categories, -1.0 without ground truth.
    """
    precision, thresholds, areas, max_dets_grid = _precision_grid(evaluation)
    matches = np.flatnonzero(np.isclose(thresholds, iou, atol=1e-6))
    if len(matches) == 0:
        raise ValueError(f"ap_at_iou: IoU {iou} is not on the evaluated grid "
                         f"{[round(float(t), 2) for t in thresholds]}")
    p = precision[matches[0], :, :, _index(areas, area, "area"),
                  _index(max_dets_grid, max_dets, "max_dets")]
    valid = p[p > -1]
    return float(valid.mean()) if valid.size else -1.0


def ap_vs_iou(
    evaluation: COCOeval | Mapping[str, Any] | np.ndarray,
    area: str = "all",
    max_dets: int = 100,
) -> tuple[np.ndarray, np.ndarray]:
    """(IoU thresholds [T], AP at each [T]) for plotting; see ``ap_at_iou``."""
    thresholds = _precision_grid(evaluation)[1]
    aps = np.array([ap_at_iou(evaluation, float(t), area, max_dets) for t in thresholds])
    return np.asarray(thresholds, dtype=np.float64), aps


def evaluate_model_coco(
    model: Any,
    dataset: Any,
    image_ids: Iterable[int] | None = None,
    batch_size: int = 8,
    progress: bool = True,
    results: Mapping[int, Mapping[str, np.ndarray]] | None = None,
    return_results: bool = False,
    verbose: bool = True,
    return_precision: bool = False,
) -> dict[str, Any]:
    """Detect on ``image_ids`` of ``dataset`` (default all) and run mask and box COCO evaluation.

    Args:
        model: anything with ``detect(list of [H, W, 3] images) -> list of result dicts``;
            unused when ``results`` is given.
        results: precomputed {image_id: detect result}; then no detection runs and
            ``image_ids`` defaults to its keys.
        return_results: also return the raw results under "results" (full-size masks:
            memory grows with the number of images).
        progress: print a running image counter; verbose: print pycocotools' tables.
        return_precision: add "precision" arrays to each (see ``evaluate_coco``).

    Returns:
        {"segm": stats, "bbox": stats, "boundary": stats} (stats as ``evaluate_coco``;
        "boundary" is Boundary AP), and "results" if asked.
    """
    if results is not None:
        image_ids = list(results) if image_ids is None else [int(i) for i in image_ids]
        missing = [i for i in image_ids if i not in results]
        if missing:
            raise KeyError(f"evaluate_model_coco: results lack image ids {missing[:10]}")
        kept = {i: results[i] for i in image_ids}
        detections = [d for i in image_ids for d in detections_to_coco(i, results[i])]
    else:
        image_ids = [int(i) for i in (dataset.image_ids if image_ids is None else image_ids)]
        kept, detections = {}, []
        for chunk, chunk_results in detect_batches(model, dataset, image_ids, batch_size,
                                                    progress):
            for image_id, result in zip(chunk, chunk_results):
                detections.extend(detections_to_coco(image_id, result))
                if return_results:
                    kept[image_id] = result
    gt = load_coco(dataset_to_coco(dataset, image_ids))
    out: dict[str, Any] = {
        iou_type: evaluate_coco(gt, detections, iou_type, image_ids, verbose, return_precision)
        for iou_type in IOU_TYPES
    }
    if return_results:
        out["results"] = kept
    return out


def _check_mask_sizes(coco_gt: COCO, entries: Sequence[Mapping[str, Any]]) -> None:
    """ValueError when an RLE segmentation's size differs from its image's height/width."""
    for d in entries:
        segmentation = d["segmentation"]
        if not isinstance(segmentation, Mapping) or "size" not in segmentation:
            continue
        image = coco_gt.imgs[int(d["image_id"])]
        expected = [int(image["height"]), int(image["width"])]
        if [int(v) for v in segmentation["size"]] != expected:
            raise ValueError(
                f"evaluate_coco: a detection on image {d['image_id']} has a mask of size "
                f"{list(segmentation['size'])}, the image is {expected} (height, width)")


def _empty_results(coco_gt: COCO) -> COCO:
    """A result COCO with no detections (what ``loadRes([])`` would give if it worked)."""
    coco_dt = COCO()
    coco_dt.dataset = {"images": list(coco_gt.dataset["images"]),
                       "categories": copy.deepcopy(coco_gt.dataset["categories"]),
                       "annotations": []}
    coco_dt.createIndex()
    return coco_dt


def _precision_grid(
    evaluation: COCOeval | Mapping[str, Any] | np.ndarray,
) -> tuple[np.ndarray, np.ndarray, Sequence[str], Sequence[int]]:
    """(precision [T, R, K, A, M], IoU thresholds [T], area labels [A], maxDets [M])."""
    if isinstance(evaluation, COCOeval):
        if "precision" not in evaluation.eval:
            raise ValueError("ap_at_iou: run COCOeval.accumulate() first")
        params = evaluation.params
        return (evaluation.eval["precision"], np.asarray(params.iouThrs), params.areaRngLbl,
                params.maxDets)
    if isinstance(evaluation, Mapping):
        if "precision" not in evaluation:
            raise KeyError("ap_at_iou: the stats dict has no 'precision'; call evaluate_coco "
                           "(or evaluate_model_coco) with return_precision=True")
        evaluation = evaluation["precision"]
    precision = np.asarray(evaluation)
    if precision.ndim != 5 or precision.shape[0] != len(COCO_IOU_GRID) \
            or precision.shape[3:] != (len(AREA_RANGES), len(MAX_DETS)):
        raise ValueError(f"ap_at_iou: expected a precision array [10, R, K, 4, 3] from default "
                         f"COCOeval parameters, got shape {precision.shape}")
    return precision, COCO_IOU_GRID, AREA_RANGES, MAX_DETS


def _index(options: Sequence[Any], value: Any, name: str) -> int:
    """Position of ``value`` in ``options``, or ValueError listing them."""
    options = list(options)
    if value not in options:
        raise ValueError(f"ap_at_iou: {name} must be one of {options}, got {value!r}")
    return options.index(value)
