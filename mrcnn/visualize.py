"""Drawing images, instances, boxes, masks and metrics.

Two kinds of output:

* :func:`annotate` draws detections straight into a copy of the image with OpenCV and
  returns the ``[H, W, 3]`` uint8 array (fast enough for video frames; no figure).
* Every other function draws with matplotlib, returns the figure (and its axes) and takes
  ``save_path`` to write a PNG. Nothing here calls ``plt.show()``: under an interactive or
  notebook (inline) backend the figures are made with pyplot, so they appear as usual;
  under a non-interactive backend (Agg, no display) they are bare
  :class:`matplotlib.figure.Figure` objects that never touch pyplot's global state.

The interactive viewer for notebooks (ipywidgets: images, ground truth and several heads'
detections, a score slider, one instance at a time) is :class:`mrcnn.viewer.Viewer`; these
figures stay its static counterparts.

Images are ``[H, W, 3]`` uint8 RGB, boxes ``(y1, x1, y2, x2)`` pixels with y2/x2
exclusive, instance masks ``[H, W, N]``, colours RGB tuples in ``0..1``.
"""

from __future__ import annotations

import colorsys
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import cv2
import matplotlib
import numpy as np
from matplotlib import lines, patches
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from skimage.measure import find_contours

from mrcnn.data.boxes_from_masks import extract_bboxes
from mrcnn.data.image_convert import to_rgb_uint8
from mrcnn.evaluation import compute_matches, compute_overlaps_masks

Color = tuple[float, float, float]

GT_COLOR: Color = (0.0, 0.9, 0.0)
MATCH_COLOR: Color = (0.1, 0.45, 1.0)
MISS_COLOR: Color = (1.0, 0.1, 0.1)
# compare_heads: detections matching no reference object (random_colors are saturated hues,
# so grey never collides with one), and the two heads of the disagreement map.
UNMATCHED_COLOR: Color = (0.55, 0.55, 0.55)
HEAD_A_COLOR: Color = (0.0, 0.8, 0.25)
HEAD_B_COLOR: Color = (0.85, 0.1, 0.85)
GT_OUTLINE_COLOR: Color = (1.0, 0.85, 0.0)
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
    _blend_in_place(out, mask, color, alpha)
    return out


def _blend_in_place(out: np.ndarray, mask: np.ndarray, color: Sequence[float],
                    alpha: float) -> None:
    """Blend ``color`` (0..1) into float ``out`` ``[H, W, 3]`` where ``mask`` > 0.5."""
    inside = np.asarray(mask) > 0.5
    tint = np.asarray(color, dtype=np.float32)[:3] * 255.0
    out[inside] = out[inside] * (1.0 - alpha) + alpha * tint


def blend_instances(image: np.ndarray, masks: np.ndarray, colors: Sequence[Sequence[float]],
                    alpha: float = 0.5) -> np.ndarray:
    """``image`` ``[H, W, 3]`` with every mask of ``masks`` ``[H, W, N]`` blended in its
    colour; returns uint8 ``[H, W, 3]``."""
    image = np.asarray(image)
    masks = _instance_masks(masks, image.shape[:2], "blend_instances")
    if len(colors) < masks.shape[-1]:
        raise ValueError(f"blend_instances: {masks.shape[-1]} masks but {len(colors)} colours")
    return _blend_boxed(image, masks, colors, alpha, extract_bboxes(masks))


def _blend_boxed(image: np.ndarray, masks: np.ndarray, colors: Sequence[Sequence[float]],
                 alpha: float, boxes: np.ndarray) -> np.ndarray:
    """:func:`blend_instances` given each mask's tight ``boxes`` ``[N, 4]``
    (:func:`mrcnn.data.extract_bboxes`): a uint8 image is only converted to float inside
    the boxes' union, so small objects on a large frame cost little."""
    drawn = np.flatnonzero(boxes[:, 2] > boxes[:, 0])
    if image.dtype == np.uint8 and len(drawn):
        (y1, x1), (y2, x2) = boxes[drawn, :2].min(0), boxes[drawn, 2:].max(0)
        out = np.array(image, order="C")
    else:  # other dtypes are rounded and clipped everywhere, as for the whole image
        (y1, x1), (y2, x2) = (0, 0), image.shape[:2]
        out = np.empty(image.shape, np.uint8)
    region = np.array(image[y1:y2, x1:x2], np.float32)
    for i in drawn:
        by1, bx1, by2, bx2 = boxes[i]
        _blend_in_place(region[by1 - y1:by2 - y1, bx1 - x1:bx2 - x1],
                        masks[by1:by2, bx1:bx2, i], colors[i], alpha)
    out[y1:y2, x1:x2] = np.clip(np.round(region), 0, 255)
    return out


def grayscale(image: np.ndarray) -> np.ndarray:
    """``image`` ``[H, W, 3]`` uint8 RGB as gray, still ``[H, W, 3]`` uint8 (R == G == B)."""
    gray = cv2.cvtColor(np.ascontiguousarray(image, dtype=np.uint8), cv2.COLOR_RGB2GRAY)
    return np.repeat(gray[..., np.newaxis], 3, axis=2)


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


# --------------------------------------------------------------------------- arrays (OpenCV)
_FONT = cv2.FONT_HERSHEY_SIMPLEX


def annotate(image: np.ndarray, result: Mapping[str, np.ndarray],
             class_names: Sequence[str] | None = None, *, min_score: float = 0.0,
             show_masks: bool = True, show_boxes: bool = True, show_labels: bool = True,
             splash: bool = False, colors: Sequence[Color] | None = None,
             alpha: float = 0.5) -> np.ndarray:
    """Detections drawn into a copy of ``image`` with OpenCV; returns ``[H, W, 3]`` uint8 RGB.

    ``image`` ``[H, W, 3]`` uint8 RGB (other layouts and dtypes are converted as
    :func:`mrcnn.data.image_convert.to_rgb_uint8` does) is not modified. ``result`` is one
    image's detections (``MaskRCNN.detect``): ``rois`` ``[N, 4]``, ``class_ids`` ``[N]``
    and optionally ``scores`` ``[N]``, ``masks`` ``[H, W, N]``, ``class_names`` ``[N]``.

    Instances scoring below ``min_score`` are skipped. Masks are blended with ``alpha``
    and outlined, boxes drawn, and each instance labelled "name 0.93" on a band of its
    colour kept inside the image (above the box when there is room). The name is
    ``result["class_names"][i]``, else ``class_names[class_id]``, else the id.
    ``splash``: matterport's colour splash, the image in grayscale except the pixels of
    the drawn instances' masks, which keep their colour (no tint or outline then; with no
    instance the whole image is gray). ``colors``: RGB in 0..1 per instance of ``result``
    (default :func:`random_colors` of N, so an instance's colour does not depend on
    ``min_score``).
    """
    out = np.array(to_rgb_uint8(image, "annotate"), dtype=np.uint8, order="C", copy=True)
    hw = out.shape[:2]
    class_ids = np.asarray(result["class_ids"]).reshape(-1)
    n = len(class_ids)
    boxes = np.round(np.asarray(result["rois"], np.float64).reshape(-1, 4)).astype(int)
    scores = result.get("scores")
    scores = None if scores is None else np.asarray(scores, np.float64).reshape(-1)
    masks = result.get("masks")
    masks = None if masks is None else _instance_masks(masks, hw, "annotate")
    names = result.get("class_names")
    if (len(boxes) != n or (scores is not None and len(scores) != n)
            or (masks is not None and masks.shape[-1] != n)
            or (names is not None and len(names) != n)):
        raise ValueError(f"annotate: rois {len(boxes)}, class_ids {n}, scores "
                         f"{None if scores is None else len(scores)}, masks "
                         f"{None if masks is None else masks.shape[-1]} and class_names "
                         f"{None if names is None else len(names)} must agree")
    colors = list(colors) if colors is not None else random_colors(n)
    if len(colors) < n:
        raise ValueError(f"annotate: {n} instances but {len(colors)} colours")
    keep = np.arange(n) if scores is None else np.flatnonzero(scores >= min_score)

    if splash:
        inside = np.zeros(hw, bool) if masks is None else (masks[..., keep] > 0.5).any(-1)
        out = np.where(inside[..., np.newaxis], out, grayscale(out))
    tint = show_masks and not splash and masks is not None and len(keep) > 0
    if tint:
        masks = masks if len(keep) == n else masks[..., keep]
        mask_boxes = extract_bboxes(masks)
        out = _blend_boxed(out, masks, [colors[i] for i in keep], alpha, mask_boxes)
    scale, text_thickness, line = _drawing_sizes(hw)
    for k, i in enumerate(keep):
        color = _pixel_color(colors[i])
        if tint and mask_boxes[k, 2] > mask_boxes[k, 0]:  # outline, found in the mask's box
            y1, x1, y2, x2 = mask_boxes[k]
            crop = (masks[y1:y2, x1:x2, k] > 0.5).astype(np.uint8)
            contours, _ = cv2.findContours(crop, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE,
                                           offset=(int(x1), int(y1)))
            cv2.drawContours(out, contours, -1, color, line, cv2.LINE_AA)
        if show_boxes:
            y1, x1, y2, x2 = boxes[i]
            cv2.rectangle(out, (x1, y1), (x2 - 1, y2 - 1), color, line)
    if show_labels:  # last, so that no box or outline crosses a label
        for i in keep:
            name = (str(names[i]) if names is not None
                    else str(int(class_ids[i])) if class_names is None
                    else _class_name(class_names, class_ids[i]))
            text = name if scores is None else f"{name} {scores[i]:.2f}"
            _draw_label(out, text, boxes[i], colors[i], scale, text_thickness)
    return out


def _pixel_color(color: Sequence[float]) -> tuple[int, int, int]:
    """RGB in 0..1 as 0..255 ints for OpenCV (which draws into RGB arrays as given)."""
    return tuple(int(round(255 * float(np.clip(c, 0.0, 1.0)))) for c in color[:3])


def _drawing_sizes(hw: Sequence[int]) -> tuple[float, int, int]:
    """Font scale, text thickness and line thickness for an image of size ``hw``."""
    side = min(hw)
    scale = max(0.35, side / 900)
    return scale, max(1, int(round(scale * 1.5))), max(1, int(round(side / 300)))


def _label_rect(text: str, box: Sequence[int], hw: Sequence[int], scale: float,
                thickness: int) -> tuple[tuple[int, int, int, int], tuple[int, int]]:
    """The band ``(y1, x1, y2, x2)`` (exclusive) of ``text`` labelling ``box`` and the text
    origin ``(x, y)``: above the box when there is room, else just inside its top; moved
    to stay inside the image (a band larger than the image starts at its top-left)."""
    (tw, th), baseline = cv2.getTextSize(text, _FONT, scale, thickness)
    pad = max(2, int(round(th / 4)))
    h, w = th + baseline + 2 * pad, tw + 2 * pad
    y, x = int(box[0]), int(box[1])
    top = y - h if y - h >= 0 else y
    top = max(0, min(top, hw[0] - h))
    left = max(0, min(x, hw[1] - w))
    return (top, left, top + h, left + w), (left + pad, top + pad + th)


def _draw_label(out: np.ndarray, text: str, box: Sequence[int], color: Color, scale: float,
                thickness: int) -> None:
    """``text`` on a band of ``color``, in black or white, whichever reads better."""
    (y1, x1, y2, x2), origin = _label_rect(text, box, out.shape[:2], scale, thickness)
    cv2.rectangle(out, (x1, y1), (x2 - 1, y2 - 1), _pixel_color(color), cv2.FILLED)
    luminance = 0.299 * color[0] + 0.587 * color[1] + 0.114 * color[2]
    ink = (0, 0, 0) if luminance > 0.55 else (255, 255, 255)
    cv2.putText(out, text, origin, _FONT, scale, ink, thickness, cv2.LINE_AA)


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
                  save_path: str | None = None, *, iou_threshold: float = 0.5,
                  disagreement: bool | tuple[str, str] = True,
                  cols: int = 4) -> tuple[Figure, np.ndarray]:
    """One image, each head's detections side by side (dicts of ``MaskRCNN.detect``:
    ``rois``, ``class_ids``, ``scores``, ``masks`` ``[H, W, N]``), the same object in the
    same colour in every panel.

    Panels, in the order of the returned flat axes (``cols`` to a row): the ground truth
    when ``gt_masks`` ``[H, W, G]`` is given (``gt_class_ids`` ``[G]`` optional), one per
    head, then the disagreement map of two heads (:func:`head_disagreement`): the first
    two, or the pair named by ``disagreement``; none for False or a single head.

    Colours (:func:`match_colors`): each ground-truth object has its own, and a detection
    takes the colour of the object it overlaps best, if that mask IoU is >=
    ``iou_threshold`` (same class only when ``gt_class_ids`` is given); the others are
    grey (:data:`UNMATCHED_COLOR`). Without ground truth the first head's detections are
    the reference objects. With ground truth each caption adds the instance's best mask
    IoU against ground truth and each title the mean over instances.
    """
    if not results_by_head:
        raise ValueError("compare_heads: no results")
    image = to_rgb_uint8(image, "compare_heads")
    hw = image.shape[:2]
    heads = list(results_by_head)
    masks_by_head = {head: _instance_masks(r["masks"], hw, f"compare_heads ({head})")
                     for head, r in results_by_head.items()}
    if disagreement is True:
        pair = tuple(heads[:2]) if len(heads) >= 2 else None
    elif disagreement:
        pair = tuple(disagreement)
        if len(pair) != 2 or pair[0] == pair[1] or not set(pair) <= set(heads):
            raise ValueError(f"compare_heads: disagreement {disagreement!r} must name two of "
                             f"the heads {heads}")
    else:
        pair = None
    if gt_masks is not None:
        gt_masks = _instance_masks(gt_masks, hw, "compare_heads")
        if gt_class_ids is not None:
            gt_class_ids = np.asarray(gt_class_ids).reshape(-1)
            if len(gt_class_ids) != gt_masks.shape[-1]:
                raise ValueError(f"compare_heads: {gt_masks.shape[-1]} gt masks but "
                                 f"{len(gt_class_ids)} gt class ids")
        ref_masks, ref_class_ids, reference = gt_masks, gt_class_ids, "ground-truth object"
    else:
        ref_masks = masks_by_head[heads[0]]
        ref_class_ids = np.asarray(results_by_head[heads[0]]["class_ids"]).reshape(-1)
        reference = f"{heads[0]} detection"
    ref_colors = random_colors(ref_masks.shape[-1])

    count = (gt_masks is not None) + len(heads) + (pair is not None)
    ncols = max(1, min(cols, count))
    nrows = (count + ncols - 1) // ncols
    panel_height = size * float(np.clip(hw[0] / hw[1], 0.35, 1.5)) + 0.7  # with the title
    fig, axes = new_figure(nrows, ncols, (size * ncols, panel_height * nrows + 0.3))
    fig.set_layout_engine("constrained")  # keeps the suptitle close to the panels
    flat = axes.reshape(-1)
    for ax in flat[count:]:
        ax.remove()
    panels = iter(flat)
    if gt_masks is not None:
        g = gt_masks.shape[-1]
        ids = np.zeros(g, int) if gt_class_ids is None else gt_class_ids
        captions = [f"GT {k}" if gt_class_ids is None else f"GT {_class_name(class_names, c)}"
                    for k, c in enumerate(ids)]
        display_instances(image, extract_bboxes(gt_masks), gt_masks, ids, class_names,
                          title=f"ground truth: {g} instances", ax=next(panels),
                          colors=ref_colors, captions=captions)
    for head in heads:
        r, masks = results_by_head[head], masks_by_head[head]
        class_ids = np.asarray(r["class_ids"]).reshape(-1)
        scores = np.asarray(r["scores"]).reshape(-1)
        colors, matched = match_colors(masks, ref_masks, ref_colors, class_ids, ref_class_ids,
                                       iou_threshold=iou_threshold)
        captions = [f"{_class_name(class_names, c)} {s:.2f}" for c, s in zip(class_ids, scores)]
        title = f"{head}: {len(class_ids)} instances"
        if gt_masks is not None:
            ious = instance_mask_ious(masks, class_ids, gt_masks, gt_class_ids)
            captions = [f"{c} IoU {iou:.2f}" for c, iou in zip(captions, ious)]
            title += f", {int((matched >= 0).sum())} matched"
            if len(ious):
                title += f", mean IoU {np.mean(ious):.2f}"
        display_instances(image, r["rois"], masks, class_ids, class_names, scores,
                          title=title, ax=next(panels), captions=captions, colors=colors)
    if pair is not None:
        a, b = pair
        found = head_disagreement(masks_by_head[a], masks_by_head[b], gt_masks)
        _draw_disagreement(next(panels), image, found, a, b,
                           None if gt_masks is None else _union(gt_masks))
    fig.suptitle(f"same colour = same {reference} (mask IoU >= {iou_threshold:g}); "
                 "grey = no match", fontsize=10)
    _save(fig, save_path)
    return fig, flat[:count]


def match_colors(masks: np.ndarray, ref_masks: np.ndarray, ref_colors: Sequence[Color],
                 class_ids: np.ndarray | None = None, ref_class_ids: np.ndarray | None = None,
                 *, iou_threshold: float = 0.5,
                 unmatched_color: Color = UNMATCHED_COLOR) -> tuple[list[Color], np.ndarray]:
    """The colour of each of ``masks`` ``[H, W, N]``: that of the reference object
    (``ref_masks`` ``[H, W, G]``, e.g. ground truth, coloured ``ref_colors`` ``[G]``) it
    overlaps best, if that mask IoU is >= ``iou_threshold``, else ``unmatched_color``.

    With both ``class_ids`` ``[N]`` and ``ref_class_ids`` ``[G]`` only objects of the
    same class match. Several masks may match one object (duplicates share its colour).
    Returns the colours ``[N]`` and the matched reference index ``[N]`` (-1: none).
    """
    if len(ref_colors) < np.shape(ref_masks)[-1]:
        raise ValueError(f"match_colors: {np.shape(ref_masks)[-1]} reference objects but "
                         f"{len(ref_colors)} colours")
    overlaps = _reference_overlaps(masks, class_ids, ref_masks, ref_class_ids)
    matched = np.full(overlaps.shape[0], -1)
    if overlaps.shape[1]:
        best = overlaps.argmax(axis=1)
        iou = overlaps[np.arange(len(best)), best]
        good = (iou >= iou_threshold) & (iou > 0)
        matched[good] = best[good]
    return [tuple(ref_colors[j]) if j >= 0 else unmatched_color for j in matched], matched


class HeadDisagreement(NamedTuple):
    """Where two heads' unions of instance masks differ; every field ``[H, W]`` bool."""

    a_only: np.ndarray  # in head A's union only
    b_only: np.ndarray  # in head B's union only
    a_right: np.ndarray | None  # differing pixels where A agrees with ground truth
    b_right: np.ndarray | None  # (both None without ground truth)


def head_disagreement(masks_a: np.ndarray, masks_b: np.ndarray,
                      gt_masks: np.ndarray | None = None) -> HeadDisagreement:
    """Pixels where the unions of ``masks_a`` ``[H, W, N]`` and ``masks_b`` ``[H, W, M]``
    (> 0.5, classes ignored) differ. With ``gt_masks`` ``[H, W, G]`` each such pixel is
    right for exactly one head: the one whose union agrees there with the ground truth's."""
    union_a = _union(masks_a)
    union_b = _union(_instance_masks(masks_b, union_a.shape, "head_disagreement"))
    a_only, b_only = union_a & ~union_b, union_b & ~union_a
    if gt_masks is None:
        return HeadDisagreement(a_only, b_only, None, None)
    gt = _union(_instance_masks(gt_masks, union_a.shape, "head_disagreement"))
    return HeadDisagreement(a_only, b_only, (a_only & gt) | (b_only & ~gt),
                            (b_only & gt) | (a_only & ~gt))


def _union(masks: np.ndarray) -> np.ndarray:
    """``[H, W]`` bool: pixels > 0.5 in any of ``masks`` ``[H, W, N]``."""
    masks = np.asarray(masks)
    if masks.ndim != 3:
        raise ValueError(f"masks must be [H, W, N], got {masks.shape}")
    return (masks > 0.5).any(axis=-1)


def _draw_disagreement(ax: Axes, image: np.ndarray, found: HeadDisagreement, a: str, b: str,
                       gt_union: np.ndarray | None) -> None:
    """The image in gray with the pixels where heads ``a`` and ``b`` differ coloured by
    which head is right (or, without ground truth, which head has them)."""
    judged = found.a_right is not None
    pixels_a, pixels_b = (found.a_right, found.b_right) if judged else (found.a_only,
                                                                        found.b_only)
    count_a, count_b = int(pixels_a.sum()), int(pixels_b.sum())
    shown = blend_instances(grayscale(image), np.stack([pixels_a, pixels_b], axis=-1),
                            [HEAD_A_COLOR, HEAD_B_COLOR], alpha=0.85)
    title = f"{a} vs {b}: {count_a + count_b} pixels differ"
    if judged:
        title += f"\nright: {a} {count_a}, {b} {count_b}"
        labels = [f"{a} right ({count_a})", f"{b} right ({count_b})"]
    else:
        labels = [f"only {a} ({count_a})", f"only {b} ({count_b})"]
    _show_image(ax, shown, title)
    handles = [patches.Patch(color=HEAD_A_COLOR, label=labels[0]),
               patches.Patch(color=HEAD_B_COLOR, label=labels[1])]
    if gt_union is not None:
        _draw_contours(ax, gt_union, GT_OUTLINE_COLOR)
        handles.append(lines.Line2D([], [], color=GT_OUTLINE_COLOR, label="ground truth"))
    ax.legend(handles=handles, loc="lower right", fontsize=7, framealpha=0.8)


def instance_mask_ious(masks: np.ndarray, class_ids: np.ndarray, gt_masks: np.ndarray,
                       gt_class_ids: np.ndarray | None = None) -> np.ndarray:
    """Best mask IoU ``[N]`` of each of ``masks`` ``[H, W, N]`` against ``gt_masks``
    ``[H, W, G]``, counting only gt of the same class when ``gt_class_ids`` is given."""
    overlaps = _reference_overlaps(masks, class_ids, gt_masks, gt_class_ids)
    if overlaps.shape[1] == 0:
        return np.zeros(overlaps.shape[0])
    return overlaps.max(axis=1)


def _reference_overlaps(masks: np.ndarray, class_ids: np.ndarray | None,
                        ref_masks: np.ndarray, ref_class_ids: np.ndarray | None) -> np.ndarray:
    """Mask IoU ``[N, G]`` of ``masks`` ``[H, W, N]`` against ``ref_masks`` ``[H, W, G]``;
    0 between different classes when both class id arrays are given."""
    overlaps = compute_overlaps_masks(np.asarray(masks), np.asarray(ref_masks))
    if class_ids is not None and ref_class_ids is not None and overlaps.size:
        same = np.asarray(class_ids).reshape(-1, 1) == np.asarray(ref_class_ids).reshape(1, -1)
        overlaps = np.where(same, overlaps, 0.0)
    return overlaps

