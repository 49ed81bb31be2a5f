"""Drawing images, instances, boxes, masks and metrics with matplotlib.

Every function returns the figure (and its axes) and takes ``save_path`` to write a PNG.
Nothing here calls ``plt.show()``: under an interactive or notebook (inline) backend the
figures are made with pyplot, so they appear as usual; under a non-interactive backend
(Agg, no display) they are bare :class:`matplotlib.figure.Figure` objects that never touch
pyplot's global state.

Images are ``[H, W, 3]`` uint8 RGB, boxes ``(y1, x1, y2, x2)`` pixels with y2/x2
exclusive, instance masks ``[H, W, N]``, colours RGB tuples in ``0..1``.
"""

from __future__ import annotations

import colorsys
from typing import Mapping, Sequence

import matplotlib
import numpy as np
from matplotlib import lines, patches
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from skimage.measure import find_contours

from mrcnn.evaluation import compute_matches, compute_overlaps_masks

Color = tuple[float, float, float]

GT_COLOR: Color = (0.0, 0.9, 0.0)
MATCH_COLOR: Color = (0.1, 0.45, 1.0)
MISS_COLOR: Color = (1.0, 0.1, 0.1)
NO_INSTANCES = "No instances to display"


# --------------------------------------------------------------------------- figures
def _uses_pyplot() -> bool:
    """True under a notebook (inline) or GUI backend, where pyplot shows figures itself."""
    backend = matplotlib.get_backend().lower()
    if "inline" in backend or "ipympl" in backend or "widget" in backend:
        return True
    try:
        from matplotlib.backends import BackendFilter, backend_registry
        interactive = backend_registry.list_builtin(BackendFilter.INTERACTIVE)
    except ImportError:  # matplotlib < 3.9
        interactive = matplotlib.rcsetup.interactive_bk
    return backend in {name.lower() for name in interactive}


def new_figure(nrows: int = 1, ncols: int = 1,
               figsize: tuple[float, float] | None = None) -> tuple[Figure, np.ndarray]:
    """A figure with a ``[nrows, ncols]`` array of axes (see the module docstring)."""
    if _uses_pyplot():
        import matplotlib.pyplot as plt
        fig, axes = plt.subplots(nrows, ncols, figsize=figsize, squeeze=False)
    else:
        fig = Figure(figsize=figsize)
        FigureCanvasAgg(fig)
        axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, axes


def _figure_and_axes(ax: Axes | None, figsize: tuple[float, float]) -> tuple[Figure, Axes]:
    if ax is not None:
        return ax.figure, ax
    fig, axes = new_figure(figsize=figsize)
    return fig, axes[0, 0]


def _save(fig: Figure, save_path: str | None) -> None:
    if save_path is not None:
        fig.savefig(save_path, bbox_inches="tight")


# --------------------------------------------------------------------------- colours and masks
def random_colors(n: int, seed: int = 0, bright: bool = True) -> list[Color]:
    """``n`` distinct RGB colours: hues evenly spaced in HSV, shuffled by ``seed``."""
    value = 1.0 if bright else 0.7
    colors = [colorsys.hsv_to_rgb(i / max(n, 1), 1.0, value) for i in range(n)]
    order = np.random.default_rng(seed).permutation(n)
    return [tuple(float(c) for c in colors[i]) for i in order]


def apply_mask(image: np.ndarray, mask: np.ndarray, color: Sequence[float],
               alpha: float = 0.5) -> np.ndarray:
    """Blend ``color`` (RGB in 0..1) into ``image`` ``[H, W, 3]`` where ``mask`` ``[H, W]``
    is > 0.5; returns a new float32 array (pixels outside the mask unchanged)."""
    if mask.shape != image.shape[:2]:
        raise ValueError(f"apply_mask: mask {mask.shape} does not match image {image.shape[:2]}")
    out = np.array(image, dtype=np.float32)
    inside = np.asarray(mask) > 0.5
    tint = np.asarray(color, dtype=np.float32)[:3] * 255.0
    out[inside] = out[inside] * (1.0 - alpha) + alpha * tint
    return out


def blend_instances(image: np.ndarray, masks: np.ndarray, colors: Sequence[Sequence[float]],
                    alpha: float = 0.5) -> np.ndarray:
    """``image`` ``[H, W, 3]`` with every mask of ``masks`` ``[H, W, N]`` blended in its
    colour; returns uint8 ``[H, W, 3]``."""
    masks = _instance_masks(masks, image.shape[:2], "blend_instances")
    if len(colors) < masks.shape[-1]:
        raise ValueError(f"blend_instances: {masks.shape[-1]} masks but {len(colors)} colours")
    out = np.array(image, dtype=np.float32)
    for i in range(masks.shape[-1]):
        out = apply_mask(out, masks[..., i], colors[i], alpha)
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def _instance_masks(masks: np.ndarray | None, hw: tuple[int, int], where: str) -> np.ndarray:
    """``masks`` as ``[H, W, N]`` (``N = 0`` for None), checked against the image size."""
    if masks is None:
        return np.zeros(tuple(hw) + (0,), bool)
    masks = np.asarray(masks)
    if masks.ndim != 3 or masks.shape[:2] != tuple(hw):
        raise ValueError(f"{where}: masks must be [H, W, N] with H, W = {tuple(hw)}, "
                         f"got {masks.shape}")
    return masks


def _draw_contours(ax: Axes, mask: np.ndarray, color: Color) -> None:
    """Outline of ``mask`` ``[H, W]`` (padded so shapes touching the border close)."""
    padded = np.pad(np.asarray(mask, np.float32), 1)
    for contour in find_contours(padded, 0.5):
        ax.add_patch(patches.Polygon(np.fliplr(contour) - 1, closed=True, facecolor="none",
                                     edgecolor=color, linewidth=1.5))


def _draw_box(ax: Axes, box: Sequence[float], color: Color, linestyle: str = "dashed",
              alpha: float = 0.7, linewidth: float = 2.0) -> None:
    """Outline of pixels ``y1..y2-1``, ``x1..x2-1`` (pixel ``i`` spans ``i +- 0.5``)."""
    y1, x1, y2, x2 = box
    ax.add_patch(patches.Rectangle((x1 - 0.5, y1 - 0.5), x2 - x1, y2 - y1, linewidth=linewidth,
                                   alpha=alpha, linestyle=linestyle, edgecolor=color,
                                   facecolor="none"))


def _caption(ax: Axes, x: float, y: float, text: str) -> None:
    """White text hanging below ``(x, y)`` on a dark band, moved inside the axes' limits
    (boxes may leave the image); nothing for an empty text."""
    if text:
        x = float(np.clip(x, *sorted(ax.get_xlim())))
        y = float(np.clip(y, *sorted(ax.get_ylim())))
        ax.text(x, y, text, color="w", size=9, va="top",
                bbox={"facecolor": "black", "alpha": 0.4, "pad": 1, "edgecolor": "none"})


def _show_image(ax: Axes, image: np.ndarray, title: str = "") -> None:
    ax.imshow(np.asarray(image).astype(np.uint8), interpolation="nearest")
    ax.set_title(title)
    ax.axis("off")


# --------------------------------------------------------------------------- instances
def display_instances(image: np.ndarray, boxes: np.ndarray, masks: np.ndarray | None,
                      class_ids: np.ndarray, class_names: Sequence[str],
                      scores: np.ndarray | None = None, title: str = "",
                      figsize: tuple[float, float] = (8, 8), ax: Axes | None = None,
                      show_mask: bool = True, show_bbox: bool = True, show_contour: bool = True,
                      colors: Sequence[Color] | None = None,
                      captions: Sequence[str] | None = None,
                      save_path: str | None = None) -> tuple[Figure, Axes]:
    """Draw instances over ``image`` ``[H, W, 3]``: translucent mask, contour, box, caption.

    ``boxes`` ``[N, 4]``, ``masks`` ``[H, W, N]`` (or None), ``class_ids`` ``[N]`` indexing
    ``class_names``, ``scores`` ``[N]`` or None. Captions default to "class score".
    With no instances the image is shown with the message "No instances to display".
    """
    image = np.asarray(image)
    boxes = np.asarray(boxes).reshape(-1, 4)
    class_ids = np.asarray(class_ids).reshape(-1)
    n = len(boxes)
    if masks is not None:
        masks = _instance_masks(masks, image.shape[:2], "display_instances")
    if len(class_ids) != n or (masks is not None and masks.shape[-1] != n):
        raise ValueError(f"display_instances: {n} boxes, {len(class_ids)} class ids and "
                         f"{None if masks is None else masks.shape[-1]} masks must agree")
    if scores is not None and len(scores) != n:
        raise ValueError(f"display_instances: {n} boxes but {len(scores)} scores")
    if captions is not None and len(captions) != n:
        raise ValueError(f"display_instances: {n} boxes but {len(captions)} captions")
    colors = list(colors) if colors is not None else random_colors(n)
    if len(colors) < n:
        raise ValueError(f"display_instances: {n} instances but {len(colors)} colours")

    fig, ax = _figure_and_axes(ax, figsize)
    shown = blend_instances(image, masks, colors) if show_mask and masks is not None \
        else image
    _show_image(ax, shown, title)
    if n == 0:
        ax.text(0.5, 0.02, NO_INSTANCES, transform=ax.transAxes, ha="center", va="bottom",
                color="w", size=11, bbox={"facecolor": "black", "alpha": 0.6})
    for i in range(n):
        color = colors[i]
        y1, x1, y2, x2 = boxes[i]
        if show_bbox:
            _draw_box(ax, boxes[i], color)
        if show_contour and masks is not None:
            _draw_contours(ax, masks[..., i] > 0.5, color)
        if captions is not None:
            text = captions[i]
        else:
            text = _class_name(class_names, class_ids[i])
            if scores is not None:
                text = f"{text} {float(scores[i]):.3f}"
        _caption(ax, x1 - 0.5, y1 - 0.5, text)
    _save(fig, save_path)
    return fig, ax


def _class_name(class_names: Sequence[str], class_id: int) -> str:
    class_id = int(class_id)
    return class_names[class_id] if 0 <= class_id < len(class_names) else f"class {class_id}"


def display_images(images: Sequence[np.ndarray], titles: Sequence[str] | None = None,
                   cols: int = 4, cmap: str | None = None, norm=None,
                   interpolation: str | None = None, figsize: tuple[float, float] | None = None,
                   save_path: str | None = None) -> tuple[Figure, np.ndarray]:
    """A grid of images (``[H, W, 3]`` or ``[H, W]``) with optional titles; returns the
    figure and the flat array of used axes."""
    images = list(images)
    if not images:
        raise ValueError("display_images: no images")
    titles = list(titles) if titles is not None else [""] * len(images)
    if len(titles) != len(images):
        raise ValueError(f"display_images: {len(images)} images but {len(titles)} titles")
    cols = max(1, min(cols, len(images)))
    rows = (len(images) + cols - 1) // cols
    fig, axes = new_figure(rows, cols, figsize or (3.5 * cols, 3.5 * rows))
    flat = axes.reshape(-1)
    for ax, image, title in zip(flat, images, titles):
        image = np.asarray(image)
        if image.ndim == 3 and image.dtype != np.uint8:
            image = image.astype(np.uint8)
        ax.imshow(image, cmap=cmap, norm=norm, interpolation=interpolation)
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    for ax in flat[len(images):]:
        ax.remove()
    _save(fig, save_path)
    return fig, flat[:len(images)]


def display_top_masks(image: np.ndarray, mask: np.ndarray, class_ids: np.ndarray,
                      class_names: Sequence[str], limit: int = 4,
                      save_path: str | None = None) -> tuple[Figure, np.ndarray]:
    """The image and, for the ``limit`` classes with the largest area, the union of that
    class's masks. ``mask`` ``[H, W, N]``, ``class_ids`` ``[N]``."""
    mask = _instance_masks(mask, np.asarray(image).shape[:2], "display_top_masks")
    class_ids = np.asarray(class_ids).reshape(-1)
    if len(class_ids) != mask.shape[-1]:
        raise ValueError(f"display_top_masks: {mask.shape[-1]} masks but "
                         f"{len(class_ids)} class ids")
    unique = np.unique(class_ids)
    areas = [float(mask[..., class_ids == c].sum()) for c in unique]
    top = [int(unique[i]) for i in np.argsort(areas, kind="stable")[::-1][:limit]]
    images = [image]
    titles = [f"H x W = {image.shape[0]} x {image.shape[1]}"]
    for class_id in top:
        images.append(mask[..., class_ids == class_id].any(axis=-1).astype(np.float32))
        titles.append(_class_name(class_names, class_id))
    while len(images) < limit + 1:
        images.append(np.zeros(image.shape[:2], np.float32))
        titles.append("-")
    fig, axes = display_images(images, titles, cols=limit + 1, cmap="Blues_r",
                               norm=Normalize(0, 1), save_path=save_path)
    return fig, axes


# --------------------------------------------------------------------------- boxes
def draw_boxes(image: np.ndarray, boxes: np.ndarray | None = None,
               refined_boxes: np.ndarray | None = None, masks: np.ndarray | None = None,
               captions: Sequence[str] | None = None,
               visibilities: Sequence[int] | None = None, title: str = "",
               figsize: tuple[float, float] = (8, 8), ax: Axes | None = None,
               save_path: str | None = None) -> tuple[Figure, Axes]:
    """Boxes (anchors, proposals) dashed and their refinements solid, a line from each box
    to its refinement, optional masks ``[H, W, N]`` and captions.

    ``boxes`` / ``refined_boxes`` ``[N, 4]`` (either may be None, not both);
    ``visibilities`` ``[N]``: 0 hidden, 1 faint, 2 full (default 2).
    """
    if boxes is None and refined_boxes is None:
        raise ValueError("draw_boxes: give boxes, refined_boxes or both")
    boxes = None if boxes is None else np.asarray(boxes).reshape(-1, 4)
    refined_boxes = None if refined_boxes is None else np.asarray(refined_boxes).reshape(-1, 4)
    n = len(boxes) if boxes is not None else len(refined_boxes)
    if boxes is not None and refined_boxes is not None and len(refined_boxes) != n:
        raise ValueError(f"draw_boxes: {n} boxes but {len(refined_boxes)} refined boxes")
    visibilities = np.full(n, 2) if visibilities is None else np.asarray(visibilities)
    if len(visibilities) != n or (captions is not None and len(captions) != n):
        raise ValueError(f"draw_boxes: {n} boxes; visibilities and captions must match")
    colors = random_colors(n)
    image = np.asarray(image)
    shown = image
    if masks is not None:
        masks = _instance_masks(masks, image.shape[:2], "draw_boxes")
        if masks.shape[-1] != n:
            raise ValueError(f"draw_boxes: {n} boxes but {masks.shape[-1]} masks")
        shown = blend_instances(image, masks, colors)

    fig, ax = _figure_and_axes(ax, figsize)
    _show_image(ax, shown, title)
    for i in range(n):
        if visibilities[i] == 0:
            continue
        color = colors[i] if visibilities[i] > 1 else (0.5, 0.5, 0.5)
        style = "dotted" if visibilities[i] == 1 else "dashed"
        alpha = 0.5 if visibilities[i] == 1 else 1.0
        linewidth = 1.0 if visibilities[i] == 1 else 2.0
        if boxes is not None:
            _draw_box(ax, boxes[i], color, style, alpha, linewidth)
        if refined_boxes is not None:
            _draw_box(ax, refined_boxes[i], color, "solid", alpha, linewidth)
            if boxes is not None:
                (y1, x1), (ry1, rx1) = boxes[i, :2], refined_boxes[i, :2]
                ax.add_line(lines.Line2D([x1 - 0.5, rx1 - 0.5], [y1 - 0.5, ry1 - 0.5],
                                         color=color, alpha=alpha, linewidth=1.0))
        if captions is not None:
            y1, x1 = (refined_boxes if refined_boxes is not None else boxes)[i, :2]
            _caption(ax, x1 - 0.5, y1 - 0.5, captions[i])
    _save(fig, save_path)
    return fig, ax


# --------------------------------------------------------------------------- evaluation
def display_differences(image: np.ndarray, gt_box: np.ndarray, gt_class_id: np.ndarray,
                        gt_mask: np.ndarray, pred_box: np.ndarray, pred_class_id: np.ndarray,
                        pred_score: np.ndarray, pred_mask: np.ndarray,
                        class_names: Sequence[str], iou_threshold: float = 0.5,
                        title: str = "ground truth vs. predictions",
                        figsize: tuple[float, float] = (8, 8), ax: Axes | None = None,
                        show_mask: bool = True, show_bbox: bool = True,
                        save_path: str | None = None) -> tuple[Figure, Axes]:
    """Ground truth in green (captioned "GT class" below the box, "missed" when unmatched) and
    predictions in blue when matched at ``iou_threshold`` (mask IoU, same class,
    :func:`mrcnn.evaluation.compute_matches`) or red otherwise, captioned
    "class score / IoU". Masks ``[H, W, N]``, boxes ``[N, 4]``."""
    gt_box = np.asarray(gt_box).reshape(-1, 4)
    pred_box = np.asarray(pred_box).reshape(-1, 4)
    pred_score = np.asarray(pred_score, np.float64).reshape(-1)
    pred_class_id = np.asarray(pred_class_id).reshape(-1)
    gt_class_id = np.asarray(gt_class_id).reshape(-1)
    gt_match, pred_match, overlaps = compute_matches(
        gt_box, gt_class_id, gt_mask, pred_box, pred_class_id, pred_score, pred_mask,
        iou_threshold=iou_threshold)
    # compute_matches drops all-zero (padding) rows and sorts predictions by score.
    gt_keep = ~np.all(gt_box == 0, axis=1)
    pred_keep = ~np.all(pred_box == 0, axis=1)
    order = np.argsort(-pred_score[pred_keep], kind="stable")
    pred_index = np.flatnonzero(pred_keep)[order]
    gt_index = np.flatnonzero(gt_keep)

    boxes = np.concatenate([gt_box[gt_index], pred_box[pred_index]])
    class_ids = np.concatenate([gt_class_id[gt_index], pred_class_id[pred_index]])
    masks = np.concatenate([np.asarray(gt_mask)[..., gt_index],
                            np.asarray(pred_mask)[..., pred_index]], axis=-1)
    colors = [GT_COLOR] * len(gt_index) + [MATCH_COLOR if m > -1 else MISS_COLOR
                                           for m in pred_match]
    captions = [""] * len(gt_index)
    for row, i in enumerate(pred_index):
        iou = overlaps[row].max() if overlaps.shape[1] else 0.0
        captions.append(f"{_class_name(class_names, pred_class_id[i])} "
                        f"{pred_score[i]:.2f} / {iou:.2f}")
    fig, ax = display_instances(image, boxes, masks, class_ids, class_names, title=title,
                                figsize=figsize, ax=ax, show_mask=show_mask,
                                show_bbox=show_bbox, colors=colors, captions=captions)
    for k, i in enumerate(gt_index):  # below the box, clear of the predictions' captions
        missed = "" if gt_match[k] > -1 else " missed"
        _caption(ax, gt_box[i, 1] - 0.5, gt_box[i, 2] - 0.5,
                 f"GT {_class_name(class_names, gt_class_id[i])}{missed}")
    _save(fig, save_path)
    return fig, ax


def plot_precision_recall(AP: float, precisions: np.ndarray, recalls: np.ndarray,
                          figsize: tuple[float, float] = (5, 5), ax: Axes | None = None,
                          save_path: str | None = None) -> tuple[Figure, Axes]:
    """The precision-recall curve of :func:`mrcnn.evaluation.compute_ap`."""
    fig, ax = _figure_and_axes(ax, figsize)
    ax.set_title(f"Precision-recall curve, AP@50 = {AP:.3f}")
    ax.set_xlim(0, 1.05)
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.plot(recalls, precisions, drawstyle="steps-post")
    _save(fig, save_path)
    return fig, ax


def plot_overlaps(gt_class_ids: np.ndarray, pred_class_ids: np.ndarray,
                  pred_scores: np.ndarray, overlaps: np.ndarray, class_names: Sequence[str],
                  threshold: float = 0.5, figsize: tuple[float, float] | None = None,
                  ax: Axes | None = None, save_path: str | None = None) -> tuple[Figure, Axes]:
    """Heatmap of the IoU matrix ``overlaps`` ``[N_pred, N_gt]`` with the values written in;
    a cell is bold when IoU >= ``threshold``, and red too when the classes disagree.

    Rows follow ``pred_class_ids``/``pred_scores`` as given (``compute_matches`` returns
    its overlaps in descending score order: pass the predictions sorted the same way).
    """
    overlaps = np.asarray(overlaps)
    gt_class_ids = np.asarray(gt_class_ids).reshape(-1)
    pred_class_ids = np.asarray(pred_class_ids).reshape(-1)
    if overlaps.shape != (len(pred_class_ids), len(gt_class_ids)):
        raise ValueError(f"plot_overlaps: overlaps {overlaps.shape} must be "
                         f"[{len(pred_class_ids)} predictions, {len(gt_class_ids)} gt]")
    size = figsize or (2 + 0.8 * max(len(gt_class_ids), 1), 2 + 0.6 * max(len(pred_class_ids), 1))
    fig, ax = _figure_and_axes(ax, size)
    ax.imshow(overlaps, cmap="Blues", vmin=0, vmax=1, aspect="auto")
    ax.set_yticks(np.arange(len(pred_class_ids)),
                  [f"{_class_name(class_names, c)} ({float(s):.2f})"
                   for c, s in zip(pred_class_ids, pred_scores)])
    ax.set_xticks(np.arange(len(gt_class_ids)),
                  [_class_name(class_names, c) for c in gt_class_ids], rotation=90)
    for i in range(overlaps.shape[0]):
        for j in range(overlaps.shape[1]):
            value = float(overlaps[i, j])
            strong = value >= threshold
            mismatch = strong and pred_class_ids[i] != gt_class_ids[j]
            color = "red" if mismatch else ("white" if value > 0.5 else "black")
            ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=9,
                    color=color, fontweight="bold" if strong else "normal")
    ax.set_xlabel("ground truth")
    ax.set_ylabel("predictions (score)")
    ax.set_title("IoU")
    _save(fig, save_path)
    return fig, ax


# --------------------------------------------------------------------------- mask heads
def display_roi_masks(masks: np.ndarray, class_ids: np.ndarray | None = None,
                      class_names: Sequence[str] | None = None, limit: int = 8,
                      cols: int = 4, title: str = "",
                      save_path: str | None = None) -> tuple[Figure, np.ndarray]:
    """The raw mask probabilities of the first ``limit`` RoIs on a 0..1 colour map.

    ``masks`` ``[N, h, w]`` (e.g. ``mrcnn_mask`` of one image, the detected class's
    channel) or ``[N, h, w, C]`` with ``class_ids`` ``[N]`` choosing each RoI's channel.
    """
    masks = np.asarray(masks, np.float32)
    if masks.ndim == 4:
        if class_ids is None:
            raise ValueError("display_roi_masks: [N, h, w, C] masks need class_ids")
        ids = np.asarray(class_ids).astype(int)
        masks = masks[np.arange(len(masks)), ..., ids] if len(masks) else masks[..., 0]
    if masks.ndim != 3:
        raise ValueError(f"display_roi_masks: masks must be [N, h, w] or [N, h, w, C], "
                         f"got {masks.shape}")
    count = min(limit, len(masks))
    cols = max(1, min(cols, max(count, 1)))
    rows = max(1, (count + cols - 1) // cols)
    fig, axes = new_figure(rows, cols, (2.6 * cols + 0.8, 2.6 * rows))
    flat = axes.reshape(-1)
    image = None
    for k in range(count):
        ax = flat[k]
        image = ax.imshow(masks[k], cmap="viridis", vmin=0.0, vmax=1.0, interpolation="nearest")
        label = f"RoI {k}"
        if class_ids is not None and class_names is not None:
            label += f" {_class_name(class_names, np.asarray(class_ids)[k])}"
        ax.set_title(label, fontsize=9)
        ax.axis("off")
    for ax in flat[count:]:
        ax.axis("off")
    if count == 0:
        flat[0].text(0.5, 0.5, "No RoIs to display", ha="center", va="center",
                     transform=flat[0].transAxes)
    else:
        fig.colorbar(image, ax=list(flat), shrink=0.8, label="mask probability")
    if title:
        fig.suptitle(title)
    _save(fig, save_path)
    return fig, flat[:max(count, 1)]


def compare_heads(image: np.ndarray, results_by_head: Mapping[str, Mapping[str, np.ndarray]],
                  class_names: Sequence[str], gt_masks: np.ndarray | None = None,
                  gt_class_ids: np.ndarray | None = None, size: float = 5.0,
                  save_path: str | None = None) -> tuple[Figure, np.ndarray]:
    """One image, each head's detections side by side (dicts of ``MaskRCNN.detect``:
    ``rois``, ``class_ids``, ``scores``, ``masks`` ``[H, W, N]``).

    With ``gt_masks`` ``[H, W, G]`` each caption adds the instance's best mask IoU against
    ground truth (of the same class when ``gt_class_ids`` ``[G]`` is given) and each title
    the mean over instances.
    """
    if not results_by_head:
        raise ValueError("compare_heads: no results")
    image = np.asarray(image)
    if gt_masks is not None:
        gt_masks = _instance_masks(gt_masks, image.shape[:2], "compare_heads")
    fig, axes = new_figure(1, len(results_by_head), (size * len(results_by_head), size))
    flat = axes.reshape(-1)
    for ax, (head, r) in zip(flat, results_by_head.items()):
        class_ids = np.asarray(r["class_ids"]).reshape(-1)
        scores = np.asarray(r["scores"]).reshape(-1)
        captions = [f"{_class_name(class_names, c)} {s:.2f}" for c, s in zip(class_ids, scores)]
        title = f"{head}: {len(class_ids)} instances"
        if gt_masks is not None:
            ious = instance_mask_ious(r["masks"], class_ids, gt_masks, gt_class_ids)
            captions = [f"{c} IoU {iou:.2f}" for c, iou in zip(captions, ious)]
            if len(ious):
                title += f", mean IoU {np.mean(ious):.2f}"
        display_instances(image, r["rois"], r["masks"], class_ids, class_names, scores,
                          title=title, ax=ax, captions=captions)
    _save(fig, save_path)
    return fig, flat


def instance_mask_ious(masks: np.ndarray, class_ids: np.ndarray, gt_masks: np.ndarray,
                       gt_class_ids: np.ndarray | None = None) -> np.ndarray:
    """Best mask IoU ``[N]`` of each of ``masks`` ``[H, W, N]`` against ``gt_masks``
    ``[H, W, G]``, counting only gt of the same class when ``gt_class_ids`` is given."""
    overlaps = compute_overlaps_masks(np.asarray(masks), np.asarray(gt_masks))
    if gt_class_ids is not None and overlaps.size:
        same = np.asarray(class_ids).reshape(-1, 1) == np.asarray(gt_class_ids).reshape(1, -1)
        overlaps = np.where(same, overlaps, 0.0)
    if overlaps.shape[1] == 0:
        return np.zeros(overlaps.shape[0])
    return overlaps.max(axis=1)
