"""An interactive viewer for notebooks: a data set's images, ground truth and several heads'
detections side by side (ipywidgets).

    from mrcnn.viewer import Viewer
    Viewer.from_report("../results/pennfudan/compare.json")   # a `mrcnn compare` report
    Viewer(val_set, {"fcn": fcn_model, "unet": unet_model})   # models or detect results

Two layers:

* :class:`ViewerState` is the logic, plain NumPy and no widgets: which image, the score
  threshold, the selected instance and the pair of heads compared give the RGB arrays to
  draw (:meth:`ViewerState.panels`) and the table rows (:meth:`ViewerState.rows`). Tests
  drive it without a browser.
* :class:`Viewer` wires it to ipywidgets (imported when a widget is first built, so
  ``import mrcnn`` does not need them): an image slider, a score slider, an instance
  chooser, the pair of heads, the panels and the table.

Each head detects once per image with a low score floor (cached, masks kept as crops of
their boxes); the score slider only filters. Colours follow
:func:`mrcnn.visualize.compare_heads`: every ground-truth object has its own, a detection
takes that of the object it matches (mask IoU >= ``iou_threshold``, same class), grey
otherwise. Selecting an instance shows only it and what corresponds to it (its matched
object, and the other heads' detections matching that object), and the disagreement panel
then compares the two heads on that object alone.

Images are ``[H, W, 3]`` uint8 RGB, masks ``[H, W, N]`` bool, detect results dicts of
``rois`` ``[N, 4]``, ``class_ids`` ``[N]``, ``scores`` ``[N]``, ``masks`` ``[H, W, N]``.
"""

from __future__ import annotations

import itertools
import json
import os
import textwrap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from matplotlib import patches

from mrcnn.data.boxes_from_masks import extract_bboxes
from mrcnn.data.image_convert import to_rgb_uint8
from mrcnn.evaluation.boundary import COCO_DILATION_RATIO, boundary_iou
from mrcnn.evaluation.protocol import COCO_MAX_DETECTIONS, COCO_SCORE_FLOOR
from mrcnn.visualize import (
    GT_OUTLINE_COLOR,
    HEAD_A_COLOR,
    HEAD_B_COLOR,
    HeadDisagreement,
    annotate,
    blend_instances,
    display_images,
    grayscale,
    head_disagreement,
    instance_mask_ious,
    match_colors,
    random_colors,
)

GROUND_TRUTH = "ground truth"
DISAGREEMENT = "disagreement"
ALL = "all"  # the instance chooser's "no selection"

Selection = tuple[str, int]


# --------------------------------------------------------------------------- data
class ImageSet:
    """Images in memory with optional ground truth, read as the viewer reads a data set.

    ``images``: ``[H, W, 3]`` arrays; ``gt_masks`` / ``gt_class_ids``: per image ``[H, W, G]``
    and ``[G]`` (or None: no ground truth); ``names`` per image; ``class_names`` background
    first.
    """

    def __init__(self, images: Sequence[np.ndarray], gt_masks: Sequence[np.ndarray] | None = None,
                 gt_class_ids: Sequence[np.ndarray] | None = None,
                 names: Sequence[str] | None = None, class_names: Sequence[str] | None = None):
        self.images = [to_rgb_uint8(image, f"ImageSet image {i}") for i, image in enumerate(images)]
        n = len(self.images)
        if (gt_masks is None) != (gt_class_ids is None):
            raise ValueError("ImageSet: give both gt_masks and gt_class_ids, or neither")
        for what, values in (("gt_masks", gt_masks), ("gt_class_ids", gt_class_ids),
                             ("names", names)):
            if values is not None and len(values) != n:
                raise ValueError(f"ImageSet: {n} images but {len(values)} {what}")
        self.has_ground_truth = gt_masks is not None
        self.gt_masks = None if gt_masks is None else [np.asarray(m, bool) for m in gt_masks]
        self.gt_class_ids = None if gt_class_ids is None else [
            np.asarray(c, np.int32).reshape(-1) for c in gt_class_ids]
        for i in range(n if self.has_ground_truth else 0):
            masks, ids = self.gt_masks[i], self.gt_class_ids[i]
            if masks.ndim != 3 or masks.shape[:2] != self.images[i].shape[:2] \
                    or masks.shape[-1] != len(ids):
                raise ValueError(f"ImageSet image {i}: gt masks {masks.shape} and "
                                 f"{len(ids)} class ids do not fit the image "
                                 f"{self.images[i].shape[:2]}; expected [H, W, G] and [G]")
        self.names = [f"image {i}" for i in range(n)] if names is None else list(names)
        self.class_names = list(class_names) if class_names is not None else None
        self.image_ids = np.arange(n)

    def load_image(self, image_id: int) -> np.ndarray:
        return self.images[image_id]

    def load_mask(self, image_id: int) -> tuple[np.ndarray, np.ndarray]:
        if not self.has_ground_truth:
            raise ValueError("ImageSet: this set has no ground truth")
        return self.gt_masks[image_id], self.gt_class_ids[image_id]

    def image_reference(self, image_id: int) -> str:
        return self.names[image_id]


@dataclass(frozen=True)
class Detections:
    """One head's detections on one image, masks kept as crops of their tight boxes.

    ``rois`` ``[N, 4]``, ``class_ids`` ``[N]``, ``scores`` ``[N]``; ``mask_boxes``
    ``[N, 4]`` and ``crops`` (N arrays ``[y2 - y1, x2 - x1]``) rebuild ``[H, W, N]`` masks.
    """

    rois: np.ndarray
    class_ids: np.ndarray
    scores: np.ndarray
    mask_boxes: np.ndarray
    crops: tuple[np.ndarray, ...]
    shape: tuple[int, int]

    @classmethod
    def from_result(cls, result: Mapping[str, np.ndarray], shape: tuple[int, int],
                    where: str) -> Detections:
        """From a detect result for an image of ``shape`` ``(H, W)``."""
        missing = [k for k in ("rois", "class_ids", "scores", "masks") if k not in result]
        if missing:
            raise ValueError(f"{where}: the result lacks {missing}; expected a detect result "
                             "with rois, class_ids, scores and masks")
        rois = np.asarray(result["rois"]).reshape(-1, 4)
        class_ids = np.asarray(result["class_ids"]).reshape(-1).astype(np.int32)
        scores = np.asarray(result["scores"], np.float64).reshape(-1)
        masks = np.asarray(result["masks"])
        n = len(rois)
        if masks.ndim != 3 or masks.shape[:2] != tuple(shape) or masks.shape[-1] != n \
                or len(class_ids) != n or len(scores) != n:
            raise ValueError(f"{where}: rois {rois.shape}, class_ids {class_ids.shape}, scores "
                             f"{scores.shape} and masks {masks.shape} do not agree with each "
                             f"other or with the image {tuple(shape)}")
        masks = masks > 0.5 if masks.dtype.kind == "f" else masks.astype(bool)
        boxes = extract_bboxes(masks)
        crops = tuple(masks[y1:y2, x1:x2, i].copy() for i, (y1, x1, y2, x2) in enumerate(boxes))
        return cls(rois, class_ids, scores, boxes, crops, tuple(shape))

    def masks(self, indices: Sequence[int] | np.ndarray | None = None) -> np.ndarray:
        """``[H, W, len(indices)]`` bool masks of ``indices`` (default all)."""
        indices = np.arange(len(self.scores)) if indices is None else np.asarray(indices, int)
        out = np.zeros(tuple(self.shape) + (len(indices),), bool)
        for k, i in enumerate(indices):
            y1, x1, y2, x2 = self.mask_boxes[i]
            out[y1:y2, x1:x2, k] = self.crops[i]
        return out


@dataclass(frozen=True)
class Matches:
    """How one head's detections on one image relate to the reference objects.

    ``colors`` ``[N]``; ``matched`` ``[N]`` the reference object each matches (-1: none);
    ``mask_iou`` ``[N]`` best mask IoU against ground truth of its class, ``boundary_iou``
    ``[N]`` against the matched object (NaN: unmatched); both None without ground truth.
    """

    colors: list
    matched: np.ndarray
    mask_iou: np.ndarray | None
    boundary_iou: np.ndarray | None


@dataclass(frozen=True)
class InstanceRow:
    """One instance of the current image as the table lists it: ``panel`` (ground truth or
    a head), its ``index`` there, class, score (None for ground truth), the ground-truth
    object it matches (None: none), its best mask IoU against ground truth and Boundary
    IoU against the matched object (None where not defined), colour (RGB 0..1), and
    whether it is the selected instance."""

    panel: str
    index: int
    class_name: str
    score: float | None
    matched: int | None
    mask_iou: float | None
    boundary_iou: float | None
    color: tuple
    selected: bool


def _head_source(head: str, source: Any, num_images: int) -> Callable[[int, np.ndarray], Any]:
    """``fn(position, image) -> detect result`` for a model (``detect``), a callable of the
    image, or a sequence of precomputed results (one per image)."""
    if hasattr(source, "detect"):
        return lambda position, image: source.detect([image])[0]
    if callable(source):
        return lambda position, image: source(image)
    if isinstance(source, Sequence) and not isinstance(source, (str, bytes)):
        if len(source) != num_images:
            raise ValueError(f"head {head!r}: {len(source)} precomputed results for "
                             f"{num_images} images")
        return lambda position, image: source[position]
    raise TypeError(f"head {head!r}: expected a model with detect(), a callable of an image "
                    f"or a list of detect results, got {type(source).__name__}")


def _detection_floor(sources: Mapping[str, Any]) -> float:
    """The lowest threshold at which every model head shows all it detects: the highest
    ``DETECTION_MIN_CONFIDENCE`` among them (0 when no head is a model)."""
    floors = [float(s.config.DETECTION_MIN_CONFIDENCE) for s in sources.values()
              if hasattr(s, "detect") and hasattr(s, "config")]
    return max(floors, default=0.0)


def _image_name(dataset: Any, image_id: int) -> str:
    reference = ""
    if hasattr(dataset, "image_reference"):
        reference = str(dataset.image_reference(image_id) or "")
    if not reference:
        return f"image {image_id}"
    return os.path.splitext(os.path.basename(reference))[0] or reference


# --------------------------------------------------------------------------- the logic
class ViewerState:
    """What the viewer shows, as arrays and rows: no widgets.

    ``dataset``: ``image_ids``, ``load_image(id)`` and, for ground truth, ``load_mask(id)``
    (an mrcnn ``Dataset``, or :class:`ImageSet`). ``heads``: name -> a model (its
    ``detect`` runs once per image), a callable ``image -> result`` or a list of detect
    results, one per image. ``class_names`` background first (default the data set's or a
    model's). ``score_floor``: the lowest threshold the slider offers (default the highest
    ``DETECTION_MIN_CONFIDENCE`` of the model heads, else 0). ``notes``: text per head
    appended to its panel's title.
    """

    def __init__(self, dataset: Any, heads: Mapping[str, Any],
                 class_names: Sequence[str] | None = None, *, threshold: float = 0.5,
                 score_floor: float | None = None, iou_threshold: float = 0.5,
                 dilation_ratio: float = COCO_DILATION_RATIO, show_labels: bool = True,
                 notes: Mapping[str, str] | None = None):
        if not heads:
            raise ValueError("ViewerState: no heads; give at least one name -> model or results")
        reserved = {GROUND_TRUTH, DISAGREEMENT} & set(heads)
        if reserved:
            raise ValueError(f"ViewerState: {sorted(reserved)} cannot name a head (a panel's "
                             "name)")
        self.dataset = dataset
        self.image_ids = [int(i) for i in dataset.image_ids]
        if not self.image_ids:
            raise ValueError("ViewerState: the data set has no images")
        self.heads = list(heads)
        self.sources = dict(heads)  # as given: models, callables or lists of results
        self._sources = {h: _head_source(h, s, len(self.image_ids)) for h, s in heads.items()}
        self.has_ground_truth = (callable(getattr(dataset, "load_mask", None))
                                 and getattr(dataset, "has_ground_truth", True))
        self.class_names = list(class_names if class_names is not None else
                                getattr(dataset, "class_names", None)
                                or next((s.class_names for s in heads.values()
                                         if getattr(s, "class_names", None)), []))
        self.score_floor = float(_detection_floor(heads) if score_floor is None else score_floor)
        if not 0.0 <= self.score_floor <= 1.0:
            raise ValueError(f"ViewerState: score_floor must be in [0, 1], got {score_floor}")
        self.iou_threshold = float(iou_threshold)
        self.dilation_ratio = float(dilation_ratio)
        self.show_labels = bool(show_labels)
        self.notes = dict(notes or {})
        self.detect_calls = 0  # detections computed (once per image and head)
        self._detections: dict[tuple[str, int], Detections] = {}
        self._matches: dict[tuple[str, int], Matches] = {}
        self._current: dict[str, Any] = {}  # the current image, its ground truth, full masks
        self._position = 0
        self._threshold = 0.5
        self._selected: Selection | None = None
        self._pair = tuple(self.heads[:2]) if len(self.heads) >= 2 else None
        self.threshold = threshold

    # ------------------------------------------------------------------ the controls
    @property
    def num_images(self) -> int:
        return len(self.image_ids)

    @property
    def image(self) -> int:
        """Position of the shown image in ``image_ids`` (0 .. num_images - 1)."""
        return self._position

    @image.setter
    def image(self, position: int) -> None:
        position = int(position)
        if not 0 <= position < self.num_images:
            raise IndexError(f"image position {position} is outside 0..{self.num_images - 1}")
        if position != self._position:
            self._position = position
            self._selected = None
            self._current = {}

    @property
    def threshold(self) -> float:
        """Detections scoring at least this are shown (a selection it hides is cleared)."""
        return self._threshold

    @threshold.setter
    def threshold(self, value: float) -> None:
        value = float(value)
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"threshold must be in [0, 1], got {value}")
        self._threshold = value
        if self._selected is not None and self._selected[0] != GROUND_TRUTH \
                and self._selected[1] not in self.kept(self._selected[0]):
            self._selected = None

    @property
    def selected(self) -> Selection | None:
        """``(panel, index)``: a ground-truth object or a shown detection; None: all."""
        return self._selected

    def select(self, selection: Selection | None) -> None:
        """Show only ``(panel, index)`` and what corresponds to it; None shows everything."""
        if selection is None or selection == ALL:
            self._selected = None
            return
        panel, index = selection[0], int(selection[1])
        if panel == GROUND_TRUTH:
            if not self.has_ground_truth:
                raise ValueError("select: this data set has no ground truth")
            count = self.ground_truth()[0].shape[-1]
            if not 0 <= index < count:
                raise IndexError(f"select: ground-truth object {index} is outside 0..{count - 1}")
        elif panel in self.heads:
            if index not in self.kept(panel):
                raise IndexError(f"select: {panel} detection {index} is not shown at threshold "
                                 f"{self.threshold:.2f} (shown: {list(self.kept(panel))})")
        else:
            raise KeyError(f"select: no panel {panel!r}; panels: "
                           f"{[GROUND_TRUTH] * self.has_ground_truth + self.heads}")
        self._selected = (panel, index)

    @property
    def pair(self) -> tuple[str, str] | None:
        """The two heads of the disagreement panel (None with a single head)."""
        return self._pair

    @pair.setter
    def pair(self, value: tuple[str, str]) -> None:
        a, b = value
        if a == b or a not in self.heads or b not in self.heads:
            raise ValueError(f"pair {value!r} must name two different heads of {self.heads}")
        self._pair = (a, b)

    # ------------------------------------------------------------------ data of the image
    @property
    def image_id(self) -> int:
        return self.image_ids[self._position]

    @property
    def image_name(self) -> str:
        return _image_name(self.dataset, self.image_id)

    def load(self) -> np.ndarray:
        """The current image ``[H, W, 3]`` uint8."""
        if "image" not in self._current:
            self._current["image"] = to_rgb_uint8(self.dataset.load_image(self.image_id),
                                                  f"image {self.image_id}")
        return self._current["image"]

    def ground_truth(self) -> tuple[np.ndarray, np.ndarray]:
        """``([H, W, G] bool masks, [G] class ids)`` of the current image (G = 0 without)."""
        if "gt" not in self._current:
            hw = self.load().shape[:2]
            if self.has_ground_truth:
                masks, class_ids = self.dataset.load_mask(self.image_id)
                masks = np.asarray(masks) > 0.5 if np.asarray(masks).dtype.kind == "f" \
                    else np.asarray(masks, bool)
                class_ids = np.asarray(class_ids, np.int32).reshape(-1)
                keep = class_ids > 0  # crowd regions are no objects
                masks, class_ids = masks[..., keep], class_ids[keep]
            else:
                masks, class_ids = np.zeros(hw + (0,), bool), np.zeros(0, np.int32)
            self._current["gt"] = (masks, class_ids)
        return self._current["gt"]

    def detections(self, head: str, position: int | None = None) -> Detections:
        """``head``'s detections on the image at ``position`` (default the current one),
        computed once and cached."""
        position = self._position if position is None else int(position)
        key = (head, position)
        if key not in self._detections:
            if head not in self._sources:
                raise KeyError(f"no head {head!r}; heads: {self.heads}")
            image = self.load() if position == self._position else to_rgb_uint8(
                self.dataset.load_image(self.image_ids[position]), f"image {position}")
            result = self._sources[head](position, image)
            self.detect_calls += 1
            self._detections[key] = Detections.from_result(
                result, image.shape[:2], f"head {head!r}, image {self.image_ids[position]}")
        return self._detections[key]

    def precompute(self, progress: bool = False) -> None:
        """Detect on every image with every head now (the cache then serves all)."""
        for position in range(self.num_images):
            for head in self.heads:
                self.detections(head, position)
            if progress:
                print(f"\rdetected {position + 1}/{self.num_images} images", end="", flush=True)
        if progress:
            print()

    def masks(self, head: str, indices: Sequence[int] | np.ndarray | None = None) -> np.ndarray:
        """``[H, W, K]`` masks of ``head``'s detections ``indices`` on the current image."""
        if ("masks", head) not in self._current:
            self._current[("masks", head)] = self.detections(head).masks()
        full = self._current[("masks", head)]
        return full if indices is None else full[..., np.asarray(indices, int)]

    def kept(self, head: str) -> np.ndarray:
        """Indices of ``head``'s detections scoring at least the threshold."""
        return np.flatnonzero(self.detections(head).scores >= self._threshold)

    def _reference(self) -> tuple[np.ndarray, np.ndarray | None, list]:
        """The objects detections are matched to: ground truth, else the first head's
        detections (all of them, so that colours do not change with the threshold)."""
        if self.has_ground_truth:
            masks, class_ids = self.ground_truth()
            return masks, class_ids, random_colors(masks.shape[-1])
        first = self.detections(self.heads[0])
        return self.masks(self.heads[0]), first.class_ids, random_colors(len(first.scores))

    def matches(self, head: str) -> Matches:
        """``head``'s detections on the current image against the reference (cached)."""
        key = (head, self._position)
        if key not in self._matches:
            detections = self.detections(head)
            masks = self.masks(head)
            ref_masks, ref_class_ids, ref_colors = self._reference()
            colors, matched = match_colors(masks, ref_masks, ref_colors, detections.class_ids,
                                           ref_class_ids, iou_threshold=self.iou_threshold)
            ious = boundary = None
            if self.has_ground_truth:
                ious = instance_mask_ious(masks, detections.class_ids, ref_masks, ref_class_ids)
                boundary = np.full(len(matched), np.nan)
                for i in np.flatnonzero(matched >= 0):
                    boundary[i] = boundary_iou(ref_masks[..., matched[i]], masks[..., i],
                                               self.dilation_ratio)
            self._matches[key] = Matches(colors, matched, ious, boundary)
        return self._matches[key]

    # ------------------------------------------------------------------ what is shown
    def _focus_object(self, selection: Selection | None) -> int | None:
        """The reference object a selection is about (None: an unmatched detection)."""
        panel, index = selection
        if panel == GROUND_TRUTH:
            return index
        matched = int(self.matches(panel).matched[index])
        return matched if matched >= 0 else None

    def visible(self, panel: str, selection: Selection | None | str = "current") -> np.ndarray:
        """Indices drawn in ``panel`` (ground truth or a head) under ``selection`` (default
        the current one): everything shown at the threshold without a selection; else the
        selected instance, its matched object, and the other heads' shown detections
        matching that object."""
        selection = self._selected if selection == "current" else selection
        if panel == GROUND_TRUTH:
            count = self.ground_truth()[0].shape[-1]
            if selection is None:
                return np.arange(count)
            focus = self._focus_object(selection)
            return np.array([] if focus is None or not self.has_ground_truth else [focus], int)
        kept = self.kept(panel)
        if selection is None:
            return kept
        if selection[0] == panel:
            return np.array([selection[1]], int)
        focus = self._focus_object(selection)
        if focus is None:
            return np.array([], int)
        return kept[self.matches(panel).matched[kept] == focus]

    def disagreement(self, selection: Selection | None | str = "current"
                     ) -> HeadDisagreement | None:
        """Where the pair of heads differ (:func:`mrcnn.visualize.head_disagreement`) on
        their visible instances, judged against the visible ground truth; with a
        selection, on its object alone. None with fewer than two heads."""
        if self._pair is None:
            return None
        a, b = self._pair
        masks_a = self.masks(a, self.visible(a, selection))
        masks_b = self.masks(b, self.visible(b, selection))
        gt = None
        if self.has_ground_truth:
            gt = self.ground_truth()[0][..., self.visible(GROUND_TRUTH, selection)]
        return head_disagreement(masks_a, masks_b, gt)

    def panel_names(self) -> list[str]:
        """The panels in order: ground truth (if any), every head, the disagreement map."""
        return ([GROUND_TRUTH] * bool(self.has_ground_truth) + self.heads
                + [DISAGREEMENT] * (self._pair is not None))

    def panels(self) -> dict[str, np.ndarray]:
        """Panel name -> ``[H, W, 3]`` uint8 RGB, in :meth:`panel_names` order."""
        image = self.load()
        out = {}
        if self.has_ground_truth:
            masks, class_ids = self.ground_truth()
            shown = self.visible(GROUND_TRUTH)
            colors = random_colors(masks.shape[-1])
            out[GROUND_TRUTH] = annotate(
                image, {"rois": extract_bboxes(masks[..., shown]), "class_ids": class_ids[shown],
                        "masks": masks[..., shown],
                        "class_names": [f"#{j} {self.class_name(class_ids[j])}" for j in shown]},
                colors=[colors[j] for j in shown], show_labels=self.show_labels)
        for head in self.heads:
            detections, shown = self.detections(head), self.visible(head)
            colors = self.matches(head).colors
            out[head] = annotate(
                image, {"rois": detections.rois[shown], "class_ids": detections.class_ids[shown],
                        "scores": detections.scores[shown], "masks": self.masks(head, shown),
                        "class_names": [f"#{i} {self.class_name(detections.class_ids[i])}"
                                        for i in shown]},
                colors=[colors[i] for i in shown], show_labels=self.show_labels)
        found = self.disagreement()
        if found is not None:
            out[DISAGREEMENT] = self._disagreement_image(image, found)
        return out

    def _disagreement_image(self, image: np.ndarray, found: HeadDisagreement) -> np.ndarray:
        """The image in gray, the pixels where the pair differ in ``HEAD_A_COLOR`` (right
        for head A, or only A's without ground truth) and ``HEAD_B_COLOR``, and the visible
        ground truth's outline in ``GT_OUTLINE_COLOR``."""
        judged = found.a_right is not None
        pixels = np.stack([found.a_right, found.b_right] if judged
                          else [found.a_only, found.b_only], axis=-1)
        out = blend_instances(grayscale(image), pixels, [HEAD_A_COLOR, HEAD_B_COLOR], alpha=0.85)
        if self.has_ground_truth:
            union = self.ground_truth()[0][..., self.visible(GROUND_TRUTH)].any(axis=-1)
            contours, _ = cv2.findContours(union.astype(np.uint8), cv2.RETR_LIST,
                                           cv2.CHAIN_APPROX_NONE)
            color = tuple(int(round(255 * c)) for c in GT_OUTLINE_COLOR)
            out = np.ascontiguousarray(out)
            cv2.drawContours(out, contours, -1, color, 1)
        return out

    def titles(self) -> dict[str, str]:
        """Panel name -> a one-line title."""
        titles = {}
        if self.has_ground_truth:
            count = self.ground_truth()[0].shape[-1]
            titles[GROUND_TRUTH] = f"ground truth: {count} object{'s' * (count != 1)}"
        for head in self.heads:
            kept, total = self.kept(head), len(self.detections(head).scores)
            title = f"{head}: {len(kept)} of {total} at score ≥ {self._threshold:.2f}"
            if self.has_ground_truth:
                title += f", {int((self.matches(head).matched[kept] >= 0).sum())} matched"
            if self.notes.get(head):
                title += f" ({self.notes[head]})"
            titles[head] = title
        found = self.disagreement()
        if found is not None:
            a, b = self._pair
            if found.a_right is not None:
                right_a, right_b = int(found.a_right.sum()), int(found.b_right.sum())
                titles[DISAGREEMENT] = (f"{a} vs {b}: {right_a + right_b} pixels differ; right: "
                                        f"{a} {right_a}, {b} {right_b}")
            else:
                only_a, only_b = int(found.a_only.sum()), int(found.b_only.sum())
                titles[DISAGREEMENT] = (f"{a} vs {b}: {only_a + only_b} pixels differ; only "
                                        f"{a} {only_a}, only {b} {only_b}")
        return titles

    def legend(self) -> list[tuple[str, tuple]]:
        """``(label, RGB 0..1)`` of the disagreement panel's colours (empty without one)."""
        if self._pair is None:
            return []
        a, b = self._pair
        if not self.has_ground_truth:
            return [(f"only {a}", HEAD_A_COLOR), (f"only {b}", HEAD_B_COLOR)]
        return [(f"{a} right", HEAD_A_COLOR), (f"{b} right", HEAD_B_COLOR),
                ("ground truth", GT_OUTLINE_COLOR)]

    def class_name(self, class_id: int) -> str:
        class_id = int(class_id)
        return self.class_names[class_id] if 0 <= class_id < len(self.class_names) \
            else f"class {class_id}"

    def rows(self) -> list[InstanceRow]:
        """The ground-truth objects, then every head's detections shown at the threshold."""
        rows = []
        if self.has_ground_truth:
            masks, class_ids = self.ground_truth()
            colors = random_colors(masks.shape[-1])
            for j in range(masks.shape[-1]):
                rows.append(InstanceRow(GROUND_TRUTH, j, self.class_name(class_ids[j]), None,
                                        None, None, None, tuple(colors[j]),
                                        self._selected == (GROUND_TRUTH, j)))
        for head in self.heads:
            detections, matches = self.detections(head), self.matches(head)
            for i in self.kept(head):
                matched = int(matches.matched[i])
                rows.append(InstanceRow(
                    head, int(i), self.class_name(detections.class_ids[i]),
                    float(detections.scores[i]),
                    matched if matched >= 0 and self.has_ground_truth else None,
                    None if matches.mask_iou is None else float(matches.mask_iou[i]),
                    None if matches.boundary_iou is None or matched < 0
                    else float(matches.boundary_iou[i]),
                    tuple(matches.colors[i]), self._selected == (head, int(i))))
        return rows

    def options(self) -> list[tuple[str, Selection]]:
        """``(label, selection)`` of every instance that can be selected now."""
        options = []
        for row in self.rows():
            label = f"{row.panel} #{row.index} {row.class_name}"
            if row.score is not None:
                label += f" {row.score:.2f}"
            if row.mask_iou is not None:
                label += f", IoU {row.mask_iou:.2f}"
            options.append((label, (row.panel, row.index)))
        return options

    def figure(self, cols: int = 4, size: float = 4.0):
        """The current panels as a static matplotlib figure (e.g. for a notebook viewed on
        a site that does not run widgets); returns ``(figure, axes)``."""
        panels, titles = self.panels(), self.titles()
        cols = max(1, min(cols, len(panels)))
        rows = (len(panels) + cols - 1) // cols
        width = max(20, int(size * 10))  # characters of a title line at 9 pt
        fig, axes = display_images(list(panels.values()),
                                   [textwrap.fill(titles[p], width) for p in panels], cols=cols,
                                   figsize=(size * cols, (size + 0.4) * rows))
        if DISAGREEMENT in panels:
            ax = axes[list(panels).index(DISAGREEMENT)]
            ax.legend(handles=[patches.Patch(color=color, label=label)
                               for label, color in self.legend()],
                      loc="lower right", fontsize=7, framealpha=0.8)
        return fig, axes


# --------------------------------------------------------------------------- a report
@dataclass(frozen=True)
class ReportRuns:
    """The runs of a ``compare.json`` the viewer shows: the report, the seed, each head's
    checkpoint (resolved to an existing file) and its run record."""

    path: str
    report: dict
    seed: int
    checkpoints: dict[str, str]
    runs: dict[str, dict]


def read_report_runs(path: str | os.PathLike, heads: Sequence[str] | None = None,
                     seed: int | None = None) -> ReportRuns:
    """The checkpoints of ``heads`` (default the report's) for ``seed`` (default the lowest
    seed every one of them has) in the ``mrcnn compare`` report at ``path``.

    A relative checkpoint path is looked for where the comparison ran (the report is at
    ``<out>/<dataset>/compare.json``), then from the working directory and from the
    report's folder and its parents.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no compare report at {path} (written by `mrcnn compare`, "
                                "python -m mrcnn.experiments.compare or a sample's train.py)")
    with open(path) as f:
        report = json.load(f)
    if not isinstance(report, dict) or "runs" not in report or "settings" not in report:
        raise ValueError(f"{path} is not a compare report: it lacks 'settings' and 'runs'")
    runs = report["runs"]
    heads = list(heads) if heads is not None else list(report["settings"].get("heads") or
                                                       dict.fromkeys(r["head"] for r in runs))
    if not heads:
        raise ValueError(f"{path}: no heads to show")
    seeds_of = {h: sorted({int(r["seed"]) for r in runs if r["head"] == h}) for h in heads}
    absent = [h for h, seeds in seeds_of.items() if not seeds]
    if absent:
        raise ValueError(f"{path} has no finished run of {absent}; it has "
                         f"{sorted({r['head'] for r in runs})}")
    common = sorted(set.intersection(*(set(s) for s in seeds_of.values())))
    if seed is None:
        if not common:
            raise ValueError(f"{path}: no seed has a run of every head {heads} ({seeds_of})")
        seed = common[0]
    elif int(seed) not in common:
        raise ValueError(f"{path}: seed {seed} lacks a run of some head; seeds with a run of "
                         f"every head {heads}: {common}")
    chosen = {h: next(r for r in runs if r["head"] == h and int(r["seed"]) == int(seed))
              for h in heads}
    out = report["settings"].get("out") or "results"
    checkpoints = {h: _find_checkpoint(path, out, r.get("checkpoint"), h)
                   for h, r in chosen.items()}
    return ReportRuns(str(path), report, int(seed), checkpoints, chosen)


def _ran_in(report_path: Path, out: str) -> Path | None:
    """The folder the comparison ran in: ``<out>/<dataset>/compare.json`` climbed back
    (None where ``out`` is absolute or climbs itself)."""
    out_parts = Path(out).parts
    if Path(out).is_absolute() or ".." in out_parts:
        return None
    ran_in = report_path.resolve().parent.parent  # <out>/<dataset>/ -> <out>/
    for _ in out_parts:
        ran_in = ran_in.parent
    return ran_in


def _find_checkpoint(report_path: Path, out: str, checkpoint: str | None, head: str) -> str:
    """The existing file a run's ``checkpoint`` names (see :func:`read_report_runs`)."""
    if not checkpoint:
        raise ValueError(f"{report_path}: the run of {head!r} records no checkpoint")
    given = Path(checkpoint)
    if given.is_absolute():
        candidates = [given]
    else:
        report_dir = report_path.resolve().parent
        candidates = []
        ran_in = _ran_in(report_path, out)
        if ran_in is not None:
            candidates.append(ran_in / given)
        candidates.append(Path.cwd() / given)
        candidates += [folder / given for folder in (report_dir, *report_dir.parents)]
    tried = list(dict.fromkeys(str(c) for c in candidates))
    for candidate in tried:
        if os.path.isfile(candidate):
            return candidate
    raise FileNotFoundError(f"{report_path}: the checkpoint of {head!r}, {checkpoint}, is not "
                            f"at any of {tried[:4]}{' ...' if len(tried) > 4 else ''}")


def scoring_model(checkpoint: str, score_floor: float = COCO_SCORE_FLOOR,
                  model_dir: str = "logs"):
    """The inference model of ``checkpoint`` keeping every detection down to
    ``score_floor``, at most 100 an image (or the checkpoint's own larger cap), one image a
    batch: the detections a compare report scored."""
    from mrcnn.model import MaskRCNN
    from mrcnn.weights.checkpoint_info import stored_info

    info = stored_info(checkpoint)
    stored = info["config"]
    return MaskRCNN.from_checkpoint(
        checkpoint, model_dir=model_dir, info=info, IMAGES_PER_GPU=1, GPU_COUNT=1,
        DETECTION_MIN_CONFIDENCE=min(float(score_floor),
                                     float(stored.get("DETECTION_MIN_CONFIDENCE", 1.0))),
        DETECTION_MAX_INSTANCES=max(COCO_MAX_DETECTIONS,
                                    int(stored.get("DETECTION_MAX_INSTANCES", 0))))


def held_out_set(report: dict, seed: int, path: str | os.PathLike | None = None):
    """The held-out set the report's runs were scored on: rebuilt from the data record
    the report keeps (:func:`mrcnn.data.catalog.from_record`; relative paths from where
    the comparison ran), else from the data set registered under the report's name in
    :mod:`mrcnn.data.catalog` (``shapes``, or one this process registered). ``path``: the
    report's file (where relative paths start; errors name it)."""
    from mrcnn.data.catalog import from_record, get_dataset, registered_datasets
    from mrcnn.experiments.compare import settings_from_report

    record = report.get("data")
    name = report["settings"]["dataset"]
    if record is not None:
        out = report["settings"].get("out") or "results"
        try:
            experiment = from_record(record, _ran_in(Path(path), out) if path else None)
            return experiment(settings_from_report(report), seed)[2]
        except (FileNotFoundError, ValueError) as error:
            kind = FileNotFoundError if isinstance(error, FileNotFoundError) else ValueError
            raise kind(f"{path or 'the report'}: its held-out set cannot be rebuilt from its "
                       f"data record {record}: {error}; pass dataset= (the held-out set the "
                       "runs were scored on)") from error
    if name not in registered_datasets():
        raise LookupError(
            f"{path or 'the report'}: it records no data spec (written before reports kept "
            f"one) and its data set {name!r} is not registered in mrcnn.data.catalog "
            f"(registered: {registered_datasets()}); pass dataset= (the held-out set the runs "
            "were scored on), or register the data set first with "
            "mrcnn.data.catalog.register_dataset(name, fn)")
    return get_dataset(name)(settings_from_report(report), seed)[2]


def _report_notes(runs: Mapping[str, dict], seed: int) -> dict[str, str]:
    """Per head: its held-out mask AP and Boundary IoU in the report (this seed)."""
    notes = {}
    for head, run in runs.items():
        parts = []
        if "segm" in run:
            parts.append(f"mask AP {run['segm']['AP']:.3f}")
        boundary = (run.get("mask_quality") or {}).get("boundary_iou")
        if boundary is not None:
            parts.append(f"Boundary IoU {boundary:.3f}")
        notes[head] = ", ".join(parts + [f"seed {seed}"])
    return notes


# --------------------------------------------------------------------------- the widget
class Viewer:
    """The interactive viewer (ipywidgets) of a :class:`ViewerState`.

    ``Viewer(dataset, heads, class_names, **options)`` takes :class:`ViewerState`'s
    arguments (or a ready state). Display it as a notebook cell's last value;
    :attr:`controls` holds the widgets (``image``, ``threshold``, ``instance``, ``pair``),
    :attr:`state` the logic; :meth:`figure` draws the current view statically.
    """

    def __init__(self, dataset: Any, heads: Mapping[str, Any] | None = None,
                 class_names: Sequence[str] | None = None, *, panel_width: int = 280,
                 **options):
        if isinstance(dataset, ViewerState):
            if heads is not None or class_names is not None or options:
                raise ValueError("Viewer: give a ViewerState alone, or the data set and heads")
            self.state = dataset
        else:
            if heads is None:
                raise ValueError("Viewer: give the heads (name -> model or detect results)")
            self.state = ViewerState(dataset, heads, class_names, **options)
        self.panel_width = int(panel_width)
        self.controls: dict[str, Any] = {}
        self.report: ReportRuns | None = None
        self._widget = None
        self._images: dict[str, Any] = {}
        self._captions: dict[str, Any] = {}
        self._updating = False

    @classmethod
    def from_report(cls, path: str | os.PathLike, dataset: Any = None, *,
                    heads: Sequence[str] | None = None, seed: int | None = None,
                    score_floor: float = COCO_SCORE_FLOOR, threshold: float = 0.5,
                    model_dir: str = "logs", **options) -> Viewer:
        """The viewer of a ``mrcnn compare`` report's held-out set, no retraining: each
        head's checkpoint of ``seed`` (:func:`read_report_runs`) as an inference model
        keeping detections down to ``score_floor`` (:func:`scoring_model`), on ``dataset``
        or else the held-out set the report records (:func:`held_out_set`)."""
        runs = read_report_runs(path, heads, seed)
        if dataset is None:
            dataset = held_out_set(runs.report, runs.seed, str(path))
        expected = {int(r["held_out_images"]) for r in runs.runs.values()
                    if "held_out_images" in r}
        count = len(dataset.image_ids)
        if expected and count not in expected:
            raise ValueError(f"{path}: its runs were scored on {sorted(expected)} held-out "
                             f"images, the data set given has {count}; pass that held-out set")
        models = {h: scoring_model(c, score_floor, model_dir) for h, c in runs.checkpoints.items()}
        viewer = cls(dataset, models, threshold=threshold, score_floor=score_floor,
                     notes=_report_notes(runs.runs, runs.seed), **options)
        viewer.report = runs
        return viewer

    # ------------------------------------------------------------------ building
    @property
    def widget(self):
        """The ipywidgets box (built on first use)."""
        if self._widget is None:
            self._widget = self._build()
        return self._widget

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)

    def figure(self, cols: int = 4, size: float = 4.0):
        """The current view as a static figure (:meth:`ViewerState.figure`)."""
        return self.state.figure(cols, size)

    def _build(self):
        try:
            import ipywidgets as widgets
        except ImportError as error:
            raise ImportError("mrcnn.viewer.Viewer needs ipywidgets (pip install ipywidgets; "
                              "requirements-dev.txt installs it with JupyterLab); "
                              "ViewerState and Viewer.figure() work without it") from error
        state = self.state
        image = widgets.IntSlider(value=state.image, min=0, max=max(state.num_images - 1, 0),
                                  description="image", continuous_update=False)
        threshold = widgets.FloatSlider(value=state.threshold, min=state.score_floor, max=1.0,
                                        step=0.01, description="score ≥", readout_format=".2f",
                                        continuous_update=False)
        instance = widgets.Dropdown(options=self._instance_options(), value=ALL,
                                    description="instance",
                                    layout=widgets.Layout(width="420px"))
        self.controls = {"image": image, "threshold": threshold, "instance": instance}
        row = [image, threshold, instance]
        if len(state.heads) > 2:
            pairs = [(f"{a} vs {b}", (a, b)) for a, b in itertools.combinations(state.heads, 2)]
            pair = widgets.Dropdown(options=pairs, value=state.pair, description="compare")
            self.controls["pair"] = pair
            row.append(pair)
        self._name = widgets.HTML()
        boxes = []
        for panel in state.panel_names():
            self._captions[panel] = widgets.HTML()
            self._images[panel] = widgets.Image(
                format="png", layout=widgets.Layout(width=f"{self.panel_width}px"))
            boxes.append(widgets.VBox(
                [self._captions[panel], self._images[panel]],
                layout=widgets.Layout(width=f"{self.panel_width + 8}px", margin="0 0 8px 0")))
        self._table = widgets.HTML()

        image.observe(self._on_image, "value")
        threshold.observe(self._on_threshold, "value")
        instance.observe(self._on_instance, "value")
        if "pair" in self.controls:
            self.controls["pair"].observe(self._on_pair, "value")
        self._render()
        return widgets.VBox([widgets.HBox(row[:2]), widgets.HBox(row[2:]), self._name,
                             widgets.Box(boxes, layout=widgets.Layout(flex_flow="row wrap")),
                             self._table])

    def _instance_options(self) -> list[tuple[str, Any]]:
        return [("all instances", ALL)] + self.state.options()

    def _refresh_instances(self) -> None:
        """New choices after the image or threshold changed (keeps a still-valid selection)."""
        self._updating = True
        try:
            control = self.controls["instance"]
            control.options = self._instance_options()
            control.value = self.state.selected if self.state.selected is not None else ALL
        finally:
            self._updating = False

    def _on_image(self, change) -> None:
        self.state.image = change["new"]
        self._refresh_instances()
        self._render()

    def _on_threshold(self, change) -> None:
        self.state.threshold = change["new"]
        self._refresh_instances()
        self._render()

    def _on_instance(self, change) -> None:
        if self._updating:
            return
        self.state.select(None if change["new"] in (None, ALL) else change["new"])
        self._render()

    def _on_pair(self, change) -> None:
        self.state.pair = change["new"]
        self._render()

    def _render(self) -> None:
        state = self.state
        panels, titles = state.panels(), state.titles()
        for panel, array in panels.items():
            ok, png = cv2.imencode(".png", np.ascontiguousarray(array[..., ::-1]))
            if not ok:
                raise RuntimeError(f"could not encode the {panel} panel as PNG")
            self._images[panel].value = png.tobytes()
            legend = "" if panel != DISAGREEMENT else "<br>" + ", ".join(
                f"<span style='color: {_hex(color)}'>&#9632;</span> {escape(label)}"
                for label, color in state.legend())
            self._captions[panel].value = (
                "<div style='font-size: 12px; line-height: 1.3; min-height: 2.6em'>"
                f"<b>{escape(titles[panel])}</b>{legend}</div>")
        self._name.value = (f"<b>{escape(state.image_name)}</b> (image {state.image + 1} of "
                            f"{state.num_images})")
        self._table.value = rows_html(state)


def rows_html(state: ViewerState) -> str:
    """The table of :meth:`ViewerState.rows` as HTML; ground-truth rows also give the
    pixels where the pair of heads is right on that object alone."""
    pair = state.pair
    head = ["", "panel", "#", "class", "score", "matches GT", "mask IoU", "Boundary IoU"]
    if pair and state.has_ground_truth:
        head.append(f"pixels right on this object: {pair[0]} / {pair[1]}")
    lines = ["<table style='border-collapse: collapse; font-size: 12px'>",
             "<tr>" + "".join(f"<th style='padding: 0 6px'>{escape(h)}</th>" for h in head)
             + "</tr>"]

    def number(value, digits=3):
        return "" if value is None or not np.isfinite(value) else f"{value:.{digits}f}"

    for row in state.rows():
        cells = [f"<span style='background: {_hex(row.color)}; padding: 0 8px'>&nbsp;</span>",
                 escape(row.panel), str(row.index), escape(row.class_name),
                 number(row.score, 2), "" if row.matched is None else f"#{row.matched}",
                 number(row.mask_iou), number(row.boundary_iou)]
        if pair and state.has_ground_truth:
            if row.panel == GROUND_TRUTH:
                found = state.disagreement((GROUND_TRUTH, row.index))
                cells.append(f"{int(found.a_right.sum())} / {int(found.b_right.sum())}")
            else:
                cells.append("")
        style = " style='font-weight: bold; background: #fff3b0'" if row.selected else ""
        lines.append(f"<tr{style}>" + "".join(f"<td style='padding: 0 6px'>{c}</td>"
                                              for c in cells) + "</tr>")
    lines.append("</table>")
    return "\n".join(lines)


def _hex(color: Sequence[float]) -> str:
    """RGB in 0..1 as ``#rrggbb``."""
    return "#{:02x}{:02x}{:02x}".format(*(int(round(255 * float(c))) for c in color[:3]))
