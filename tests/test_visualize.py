"""Visualisation: every function draws a synthetic case and writes a PNG; instance masks
are blended into the drawn pixels and nowhere else."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from scipy import ndimage  # noqa: E402

from mrcnn import visualize  # noqa: E402
from mrcnn.data import extract_bboxes  # noqa: E402
from mrcnn.evaluation import compute_ap, compute_matches  # noqa: E402

CLASS_NAMES = ["BG", "square", "circle", "triangle"]
H, W = 96, 128


@pytest.fixture(scope="module")
def case():
    """An image with a square (class 1) and a disc (class 2), and their masks [H, W, 2]."""
    rng = np.random.default_rng(0)
    image = rng.integers(40, 200, size=(H, W, 3), dtype=np.uint8)
    masks = np.zeros((H, W, 2), bool)
    masks[10:40, 15:50, 0] = True
    yy, xx = np.mgrid[:H, :W]
    masks[..., 1] = (yy - 60) ** 2 + (xx - 90) ** 2 <= 18 ** 2
    return image, masks, np.array([1, 2], np.int32)


@pytest.fixture(scope="module")
def prediction(case):
    """A prediction matching the square, a shifted disc, and a false triangle."""
    image, masks, class_ids = case
    pred = np.zeros((H, W, 3), bool)
    pred[..., 0] = np.roll(masks[..., 1], 16, axis=1)
    pred[12:40, 15:48, 1] = True
    pred[70:90, 5:25, 2] = True
    return pred, np.array([2, 1, 3], np.int32), np.array([0.8, 0.95, 0.6], np.float32)


def _png_written(path) -> None:
    assert path.exists() and path.stat().st_size > 0
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _render(fig: Figure) -> np.ndarray:
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()


def _pixel_axes() -> tuple[Figure, matplotlib.axes.Axes]:
    """A figure of exactly W x H pixels whose axes fill it: one data pixel per screen pixel."""
    dpi = 100
    fig = Figure(figsize=(W / dpi, H / dpi), dpi=dpi)
    FigureCanvasAgg(fig)
    return fig, fig.add_axes((0, 0, 1, 1))


def test_headless_figures_stay_out_of_pyplot(case):
    import matplotlib.pyplot as plt

    image, masks, class_ids = case
    before = plt.get_fignums()
    fig, ax = visualize.display_instances(image, extract_bboxes(masks), masks, class_ids,
                                          CLASS_NAMES)
    assert plt.get_fignums() == before, "Agg figures are not registered with pyplot"
    assert ax.figure is fig


# --------------------------------------------------------------------------- colours and masks
def test_random_colors_are_distinct_deterministic_rgb():
    colors = visualize.random_colors(12, seed=3)
    assert len(colors) == 12 and len(set(colors)) == 12
    assert all(len(c) == 3 and all(0.0 <= v <= 1.0 for v in c) for c in colors)
    assert colors == visualize.random_colors(12, seed=3)
    assert colors != visualize.random_colors(12, seed=4)
    assert visualize.random_colors(0) == []


def test_apply_mask_blends_inside_only(case):
    image, masks, _ = case
    out = visualize.apply_mask(image, masks[..., 0], (1.0, 0.0, 0.0), alpha=0.5)
    inside = masks[..., 0]
    expected = image[inside].astype(np.float32) * 0.5 + np.array([127.5, 0.0, 0.0])
    np.testing.assert_allclose(out[inside], expected, atol=1e-4)
    np.testing.assert_array_equal(out[~inside], image[~inside])
    assert image.dtype == np.uint8 and out is not image, "input left untouched"


def test_apply_mask_rejects_wrong_size(case):
    image, _, _ = case
    with pytest.raises(ValueError, match="does not match"):
        visualize.apply_mask(image, np.zeros((5, 5), bool), (1, 0, 0))


def test_blend_instances_changes_exactly_the_masked_pixels(case):
    image, masks, _ = case
    blended = visualize.blend_instances(image, masks, [(1, 0, 0), (0, 0, 1)])
    assert blended.dtype == np.uint8 and blended.shape == image.shape
    any_mask = masks.any(-1)
    assert (blended[any_mask] != image[any_mask]).any(-1).all()
    np.testing.assert_array_equal(blended[~any_mask], image[~any_mask])


# --------------------------------------------------------------------------- display_instances
def test_display_instances_draws_the_blended_image(case):
    image, masks, class_ids = case
    colors = [(1.0, 0.0, 0.0), (0.0, 0.0, 1.0)]
    fig, ax = visualize.display_instances(image, extract_bboxes(masks), masks, class_ids,
                                          CLASS_NAMES, np.array([0.9, 0.7]), colors=colors)
    drawn = np.asarray(ax.images[0].get_array())
    np.testing.assert_array_equal(drawn, visualize.blend_instances(image, masks, colors))
    texts = [t.get_text() for t in ax.texts]
    assert "square 0.900" in texts and "circle 0.700" in texts
    assert len(ax.patches) >= 4, "two boxes and at least two contours"


def test_display_instances_rendered_pixels_change_inside_masks_only(case):
    image, masks, class_ids = case
    fig, ax = _pixel_axes()
    visualize.display_instances(image, extract_bboxes(masks), masks, class_ids, CLASS_NAMES,
                                ax=ax, show_bbox=False, show_contour=False,
                                captions=["", ""])
    rendered = _render(fig)
    assert rendered.shape == image.shape
    # Stay a pixel away from mask edges, where anti-aliasing may mix neighbours.
    inside = ndimage.binary_erosion(masks.any(-1), iterations=2)
    outside = ndimage.binary_erosion(~masks.any(-1), iterations=2)
    changed = np.abs(rendered.astype(int) - image.astype(int)).sum(-1)
    assert (changed[inside] > 0).all()
    assert (changed[outside] <= 3).all(), changed[outside].max()


def test_display_instances_with_boxes_and_contours_leaves_far_pixels(case):
    image, masks, class_ids = case
    boxes = extract_bboxes(masks)
    fig, ax = _pixel_axes()
    visualize.display_instances(image, boxes, masks, class_ids, CLASS_NAMES, ax=ax)
    changed = np.abs(_render(fig).astype(int) - image.astype(int)).sum(-1)
    near = np.zeros((H, W), bool)
    for y1, x1, y2, x2 in boxes:
        near[max(y1 - 4, 0):y2 + 4, max(x1 - 4, 0):x2 + 4] = True
        near[max(y1 - 4, 0):y1 + 16, x1:x1 + 60] = True  # the caption
    assert (changed[~near] <= 3).all()
    assert (changed[near] > 0).any()


def test_display_instances_with_no_instances_shows_the_message(case, tmp_path):
    image, _, _ = case
    path = tmp_path / "empty.png"
    fig, ax = visualize.display_instances(image, np.zeros((0, 4)), np.zeros((H, W, 0), bool),
                                          np.zeros(0, np.int32), CLASS_NAMES,
                                          scores=np.zeros(0), save_path=str(path))
    assert any(visualize.NO_INSTANCES in t.get_text() for t in ax.texts)
    np.testing.assert_array_equal(np.asarray(ax.images[0].get_array()), image)
    _png_written(path)


def test_display_instances_rejects_mismatched_counts(case):
    image, masks, _ = case
    with pytest.raises(ValueError, match="must agree"):
        visualize.display_instances(image, extract_bboxes(masks), masks, np.array([1]),
                                    CLASS_NAMES)


# --------------------------------------------------------------------------- every function
def _every_function(case, prediction):
    image, masks, class_ids = case
    pred_masks, pred_class_ids, pred_scores = prediction
    boxes = extract_bboxes(masks)
    pred_boxes = extract_bboxes(pred_masks)
    ap, precisions, recalls, overlaps = compute_ap(boxes, class_ids, masks, pred_boxes,
                                                   pred_class_ids, pred_scores, pred_masks)
    order = np.argsort(-pred_scores, kind="stable")
    roi_probs = np.random.default_rng(1).random((5, 28, 28, 4)).astype(np.float32)
    result = {"rois": pred_boxes, "class_ids": pred_class_ids, "scores": pred_scores,
              "masks": pred_masks}
    empty = {"rois": np.zeros((0, 4), np.int32), "class_ids": np.zeros(0, np.int32),
             "scores": np.zeros(0, np.float32), "masks": np.zeros((H, W, 0), bool)}
    return {
        "display_instances": lambda p: visualize.display_instances(
            image, boxes, masks, class_ids, CLASS_NAMES, title="gt", save_path=p),
        "display_top_masks": lambda p: visualize.display_top_masks(
            image, masks, class_ids, CLASS_NAMES, save_path=p),
        "display_images": lambda p: visualize.display_images(
            [image, masks[..., 0], image], ["a", "b", "c"], cols=2, save_path=p),
        "draw_boxes": lambda p: visualize.draw_boxes(
            image, boxes=boxes, refined_boxes=boxes + np.array([2, -3, 4, 1]), masks=masks,
            captions=["anchor", "proposal"], visibilities=[2, 1], title="refine", save_path=p),
        "draw_boxes_refined_only": lambda p: visualize.draw_boxes(
            image, refined_boxes=pred_boxes, save_path=p),
        "display_differences": lambda p: visualize.display_differences(
            image, boxes, class_ids, masks, pred_boxes, pred_class_ids, pred_scores,
            pred_masks, CLASS_NAMES, save_path=p),
        "plot_precision_recall": lambda p: visualize.plot_precision_recall(
            ap, precisions, recalls, save_path=p),
        "plot_overlaps": lambda p: visualize.plot_overlaps(
            class_ids, pred_class_ids[order], pred_scores[order], overlaps, CLASS_NAMES,
            save_path=p),
        "display_roi_masks_4d": lambda p: visualize.display_roi_masks(
            roi_probs, np.array([1, 2, 3, 1, 2]), CLASS_NAMES, limit=4, save_path=p),
        "display_roi_masks_3d": lambda p: visualize.display_roi_masks(
            roi_probs[..., 1], title="fcn", save_path=p),
        "display_roi_masks_empty": lambda p: visualize.display_roi_masks(
            np.zeros((0, 28, 28)), save_path=p),
        "compare_heads": lambda p: visualize.compare_heads(
            image, {"fcn": result, "unet": empty}, CLASS_NAMES, gt_masks=masks,
            gt_class_ids=class_ids, save_path=p),
        "compare_heads_no_gt": lambda p: visualize.compare_heads(
            image, {"fcn": result}, CLASS_NAMES, save_path=p),
    }


FUNCTIONS = ["display_instances", "display_top_masks", "display_images", "draw_boxes",
             "draw_boxes_refined_only", "display_differences", "plot_precision_recall",
             "plot_overlaps", "display_roi_masks_4d", "display_roi_masks_3d",
             "display_roi_masks_empty", "compare_heads", "compare_heads_no_gt"]


@pytest.mark.parametrize("name", FUNCTIONS)
def test_every_function_draws_and_writes_a_png(name, case, prediction, tmp_path):
    path = tmp_path / f"{name}.png"
    fig, axes = _every_function(case, prediction)[name](str(path))
    assert isinstance(fig, Figure)
    _png_written(path)


# --------------------------------------------------------------------------- semantics
def test_draw_boxes_keeps_captions_of_boxes_outside_the_image_on_it(case):
    image, _, _ = case
    anchors = np.array([[-40, -50, 20, 30], [60, 100, 200, 300]])
    fig, ax = visualize.draw_boxes(image, boxes=anchors, captions=["a", "b"])
    for text in ax.texts:
        x, y = text.get_position()
        assert -0.5 <= x <= W - 0.5 and -0.5 <= y <= H - 0.5
    assert ax.get_xlim() == (-0.5, W - 0.5), "boxes do not rescale the image"


def test_display_differences_colours_predictions_by_match(case, prediction):
    image, masks, class_ids = case
    pred_masks, pred_class_ids, pred_scores = prediction
    fig, ax = visualize.display_differences(
        image, extract_bboxes(masks), class_ids, masks, extract_bboxes(pred_masks),
        pred_class_ids, pred_scores, pred_masks, CLASS_NAMES, iou_threshold=0.5)
    gt_match, pred_match, _ = compute_matches(
        extract_bboxes(masks), class_ids, masks, extract_bboxes(pred_masks), pred_class_ids,
        pred_scores, pred_masks, iou_threshold=0.5)
    texts = [t.get_text() for t in ax.texts]
    # Score order: square 0.95 (matched), circle 0.80 (shifted, IoU < 0.5), triangle 0.60.
    assert pred_match.tolist() == [0, -1, -1] and gt_match.tolist() == [0, -1]
    assert texts[0].startswith("square 0.95 / 0.8") and texts[1].startswith("circle 0.80 / 0.2")
    assert texts[2:] == ["triangle 0.60 / 0.00", "GT square", "GT circle missed"]
    boxes = [p for p in ax.patches if isinstance(p, matplotlib.patches.Rectangle)]
    edge = [tuple(np.round(p.get_edgecolor()[:3], 2)) for p in boxes]
    assert edge == [visualize.GT_COLOR, visualize.GT_COLOR, visualize.MATCH_COLOR,
                    visualize.MISS_COLOR, visualize.MISS_COLOR]


def test_instance_mask_ious_respects_classes(case, prediction):
    _, masks, class_ids = case
    pred_masks, pred_class_ids, _ = prediction
    ious = visualize.instance_mask_ious(pred_masks, pred_class_ids, masks, class_ids)
    assert ious[1] > 0.8 and 0.2 < ious[0] < 0.5 and ious[2] == 0.0
    swapped = visualize.instance_mask_ious(pred_masks, pred_class_ids, masks, class_ids[::-1])
    assert swapped[1] == 0.0
