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


def test_blend_instances_equals_blending_one_mask_after_the_other(case):
    """The fast path (float only inside the masks' boxes) gives what apply_mask in a row
    gives, for overlapping masks, an empty mask and a float image alike."""
    image, masks, _ = case
    overlapping = np.concatenate([masks, np.zeros((H, W, 1), bool), masks[..., :1]], axis=-1)
    overlapping[20:70, 30:100, 2] = True
    colors = visualize.random_colors(4)
    for picture in (image, image.astype(np.float32) + 0.3):
        expected = np.array(picture, np.float32)
        for i in range(4):
            expected = visualize.apply_mask(expected, overlapping[..., i], colors[i], 0.4)
        expected = np.clip(np.round(expected), 0, 255).astype(np.uint8)
        np.testing.assert_array_equal(
            visualize.blend_instances(picture, overlapping, colors, 0.4), expected)


# --------------------------------------------------------------------------- annotate
def _result(masks, class_ids, scores, **extra) -> dict:
    return {"rois": extract_bboxes(masks), "class_ids": np.asarray(class_ids, np.int32),
            "scores": np.asarray(scores, np.float32), "masks": masks, **extra}


def _empty_result(hw=(H, W)) -> dict:
    return {"rois": np.zeros((0, 4), np.int32), "class_ids": np.zeros(0, np.int32),
            "scores": np.zeros(0, np.float32), "masks": np.zeros(tuple(hw) + (0,), bool)}


def test_annotate_returns_a_new_image_changed_at_masks_boxes_and_labels_only(case):
    image, masks, class_ids = case
    before = image.copy()
    result = _result(masks, class_ids, [0.9, 0.7])
    out = visualize.annotate(image, result, CLASS_NAMES)
    assert out.shape == image.shape and out.dtype == np.uint8
    assert not np.shares_memory(out, image)
    np.testing.assert_array_equal(image, before)  # the input is left alone
    changed = (out != image).any(-1)
    assert changed[ndimage.binary_erosion(masks.any(-1), iterations=2)].all()
    far = np.ones((H, W), bool)  # 3 pixels off every box, and off the label rows
    for y1, x1, y2, x2 in result["rois"]:
        far[max(y1 - 3, 0):y2 + 3, max(x1 - 3, 0):x2 + 3] = False
        far[max(y1 - 25, 0):y1 + 25] = False
    assert far.sum() > 1500
    assert not changed[far].any()

    # Masks alone: every change lies on a mask or a pixel next to one (its outline).
    only = visualize.annotate(image, result, show_boxes=False, show_labels=False)
    changed = (only != image).any(-1)
    assert changed[ndimage.binary_erosion(masks.any(-1), iterations=2)].all()
    assert not changed[~ndimage.binary_dilation(masks.any(-1), iterations=2)].any()
    assert not (visualize.annotate(image, result, show_masks=False, show_boxes=False,
                                   show_labels=False) != image).any()


def test_annotate_outlines_each_mask(case):
    image, masks, class_ids = case
    result = _result(masks, class_ids, [0.9, 0.7])
    out = visualize.annotate(image, result, alpha=0.0, show_boxes=False, show_labels=False)
    changed = (out != image).any(-1)
    boundary = np.zeros((H, W), bool)
    for i in range(masks.shape[-1]):
        boundary |= masks[..., i] & ~ndimage.binary_erosion(masks[..., i])
    assert changed[boundary].mean() > 0.95, "the outline follows the mask's edge"
    near = ndimage.binary_dilation(boundary, iterations=2)  # anti-aliasing spills a pixel
    assert not changed[~near].any(), "and nothing else"


def test_annotate_splash_grays_everything_but_the_masks(case):
    image, masks, class_ids = case
    result = _result(masks, class_ids, [0.9, 0.3])
    out = visualize.annotate(image, result, splash=True, show_boxes=False, show_labels=False)
    inside = masks.any(-1)
    np.testing.assert_array_equal(out[inside], image[inside])
    outside = out[~inside].astype(int)
    assert (outside[:, 0] == outside[:, 1]).all() and (outside[:, 1] == outside[:, 2]).all()
    luminance = image[~inside].astype(float) @ np.array([0.299, 0.587, 0.114])
    assert np.abs(outside[:, 0] - luminance).max() <= 1.0, "the image's own gray levels"
    # An instance below min_score is grayed like the background.
    kept = visualize.annotate(image, result, min_score=0.5, splash=True, show_boxes=False,
                              show_labels=False)
    np.testing.assert_array_equal(kept[masks[..., 0]], image[masks[..., 0]])
    disc = kept[masks[..., 1] & ~masks[..., 0]]
    assert (disc[:, 0] == disc[:, 1]).all() and (disc[:, 1] == disc[:, 2]).all()
    # With boxes and labels on, pixels far from them are still gray.
    framed = visualize.annotate(image, result, splash=True)
    bottom = framed[85:, :]
    assert (bottom[..., 0] == bottom[..., 2]).all()


def _label_band(box, name="triangle", hw=(H, W)):
    """The pixels a label alone changes on a gray image, and their bounding box."""
    image = np.full(tuple(hw) + (3,), 128, np.uint8)
    result = {"rois": np.array([box]), "class_ids": np.array([1]),
              "scores": np.array([0.93]), "class_names": [name]}
    out = visualize.annotate(image, result, show_boxes=False, colors=[(1.0, 0.0, 0.0)])
    changed = (out != image).any(-1)
    ys, xs = np.nonzero(changed)
    return changed, (ys.min(), xs.min(), ys.max() + 1, xs.max() + 1)


def test_annotate_keeps_labels_of_boxes_at_the_border_inside_the_image():
    changed, (y1, x1, y2, x2) = _label_band([40, 40, 60, 60])
    assert (y2, x1) == (40, 40), "with room above the box, the band sits right on top of it"
    h, w = y2 - y1, x2 - x1
    assert changed.sum() == h * w and 8 <= h < 40 and 40 <= w < W, "one filled band"
    for box in ([0, 0, 20, 30], [H - 20, W - 30, H, W], [5, W - 4, 30, W],
                [-10, -20, 5, 5], [H - 3, 10, H + 10, 40]):
        changed, (by1, bx1, by2, bx2) = _label_band(box)
        assert (by2 - by1, bx2 - bx1) == (h, w), f"{box}: the whole band, not clipped"
        assert changed.sum() == h * w
    _, (by1, bx1, _, _) = _label_band([0, 0, 20, 30])
    assert (by1, bx1) == (0, 0), "no room above: just inside the top of the box"
    _, (by1, _, _, bx2) = _label_band([5, W - 4, 30, W])
    assert (by1, bx2) == (5, W)
    _, (_, _, by2, bx2) = _label_band([H - 20, W - 30, H, W])
    assert bx2 == W and by2 == H - 20, "moved left to fit, still above the box"


def test_annotate_label_names_come_from_the_result_then_the_list_then_the_id(case):
    image, _, _ = case
    result = {"rois": np.array([[40, 30, 70, 80]]), "class_ids": np.array([2]),
              "scores": np.array([0.93], np.float32)}
    from_list = visualize.annotate(image, result, CLASS_NAMES)  # "circle 0.93"
    from_result = visualize.annotate(image, {**result, "class_names": ["circle"]},
                                     ["BG", "x", "y"])
    np.testing.assert_array_equal(from_list, from_result)
    from_id = visualize.annotate(image, result)  # "2 0.93"
    np.testing.assert_array_equal(from_id, visualize.annotate(
        image, {**result, "class_names": ["2"]}))
    assert (from_id != from_list).any()


def test_annotate_with_no_detections_returns_an_equal_copy(case):
    image, masks, class_ids = case
    for result, kwargs in ((_empty_result(), {}),
                           (_result(masks, class_ids, [0.2, 0.3]), {"min_score": 0.5})):
        out = visualize.annotate(image, result, CLASS_NAMES, **kwargs)
        np.testing.assert_array_equal(out, image)
        assert out.dtype == np.uint8 and not np.shares_memory(out, image)


def test_annotate_colours_are_per_instance_and_do_not_depend_on_min_score(case):
    image, masks, class_ids = case
    result = _result(masks, class_ids, [0.3, 0.9])
    every = visualize.annotate(image, result, show_boxes=False, show_labels=False)
    np.testing.assert_array_equal(every, visualize.annotate(
        image, result, show_boxes=False, show_labels=False))
    kept = visualize.annotate(image, result, min_score=0.5, show_boxes=False,
                              show_labels=False)  # the disc only, in the same colour
    disc = ndimage.binary_erosion(masks[..., 1], iterations=2)
    np.testing.assert_array_equal(kept[disc], every[disc])
    np.testing.assert_array_equal(kept[masks[..., 0]], image[masks[..., 0]])
    red = visualize.annotate(image, result, colors=[(1, 0, 0), (1, 0, 0)], show_boxes=False,
                             show_labels=False)
    expected = visualize.blend_instances(image, masks, [(1, 0, 0), (1, 0, 0)])
    inner = ndimage.binary_erosion(masks.any(-1), iterations=2)
    np.testing.assert_array_equal(red[inner], expected[inner])


@pytest.mark.parametrize("hw", [(1, 1), (7, 3), (33, 501), (480, 17)])
def test_annotate_works_on_odd_image_sizes(hw):
    rng = np.random.default_rng(2)
    image = rng.integers(0, 256, size=hw + (3,), dtype=np.uint8)
    masks = np.zeros(hw + (2,), bool)
    masks[: hw[0] // 2 + 1, : hw[1] // 2 + 1, 0] = True
    masks[hw[0] // 2:, hw[1] // 2:, 1] = True
    result = _result(masks, [1, 3], [0.99, 0.51])
    result["rois"] = result["rois"] + np.array([-2, -2, 2, 2])  # boxes leaving the image
    for kwargs in ({}, {"splash": True}):
        out = visualize.annotate(image, result, CLASS_NAMES, **kwargs)
        assert out.shape == hw + (3,) and out.dtype == np.uint8
    gray = visualize.annotate(image[..., 0], result, CLASS_NAMES)  # [H, W] is converted
    assert gray.shape == hw + (3,)
    np.testing.assert_array_equal(visualize.annotate(image, _empty_result(hw)), image)


def test_annotate_rejects_mismatched_counts(case):
    image, masks, class_ids = case
    result = _result(masks, class_ids, [0.9, 0.7])
    with pytest.raises(ValueError, match="must agree"):
        visualize.annotate(image, {**result, "scores": np.array([0.9])})
    with pytest.raises(ValueError, match="colours"):
        visualize.annotate(image, result, colors=[(1, 0, 0)])


# --------------------------------------------------------------------------- compare_heads
def _three_heads(case, prediction):
    image, masks, class_ids = case
    pred_masks, pred_class_ids, pred_scores = prediction
    result = _result(pred_masks, pred_class_ids, pred_scores)
    good = _result(np.stack([masks[..., 1], ndimage.binary_erosion(masks[..., 0])], -1),
                   [2, 1], [0.9, 0.8])
    return {"fcn": result, "unet": good, "empty": _empty_result()}


@pytest.mark.parametrize("with_gt, heads, expected", [
    (True, 2, 4), (False, 2, 3), (True, 1, 2), (False, 1, 1), (True, 3, 5), (False, 3, 4)])
def test_compare_heads_panels(with_gt, heads, expected, case, prediction):
    image, masks, class_ids = case
    results = dict(list(_three_heads(case, prediction).items())[:heads])
    gt = {"gt_masks": masks, "gt_class_ids": class_ids} if with_gt else {}
    fig, axes = visualize.compare_heads(image, results, CLASS_NAMES, **gt)
    assert len(axes) == expected and len(fig.axes) == expected
    titles = [ax.get_title() for ax in axes]
    assert titles[0].startswith("ground truth") == with_gt
    assert ("fcn vs unet" in titles[-1]) == (heads >= 2)
    fig, axes = visualize.compare_heads(image, results, CLASS_NAMES, disagreement=False, **gt)
    assert len(axes) == expected - (heads >= 2)


def test_compare_heads_disagreement_pair_is_chosen_and_checked(case, prediction):
    image, masks, class_ids = case
    results = _three_heads(case, prediction)
    fig, axes = visualize.compare_heads(image, results, CLASS_NAMES, masks, class_ids,
                                        disagreement=("unet", "empty"), cols=3)
    assert axes[-1].get_title().startswith("unet vs empty")
    assert len(fig.axes) == 5 and len(axes) == 5, "two rows of three, the last cell removed"
    with pytest.raises(ValueError, match="must name two"):
        visualize.compare_heads(image, results, CLASS_NAMES, disagreement=("fcn", "mask"))


def test_match_colors_gives_each_detection_the_colour_of_its_gt_object(case, prediction):
    _, masks, class_ids = case
    pred_masks, pred_class_ids, _ = prediction
    gt_colors = [(1.0, 0.0, 0.0), (0.0, 0.0, 1.0)]
    # Head A: a shifted disc (IoU < 0.5), the square (IoU > 0.8), a false triangle.
    colors, matched = visualize.match_colors(pred_masks, masks, gt_colors, pred_class_ids,
                                             class_ids)
    assert matched.tolist() == [-1, 0, -1]
    assert colors == [visualize.UNMATCHED_COLOR, gt_colors[0], visualize.UNMATCHED_COLOR]
    # Head B: the disc, the square a little eroded, and a duplicate of the square.
    head_b = np.stack([masks[..., 1], ndimage.binary_erosion(masks[..., 0]), masks[..., 0]], -1)
    colors, matched = visualize.match_colors(head_b, masks, gt_colors, [2, 1, 1], class_ids)
    assert matched.tolist() == [1, 0, 0]
    assert colors == [gt_colors[1], gt_colors[0], gt_colors[0]]
    # Only the same class matches when both class ids are given.
    _, matched = visualize.match_colors(head_b, masks, gt_colors, [1, 2, 1], class_ids)
    assert matched.tolist() == [-1, -1, 0]
    _, matched = visualize.match_colors(head_b, masks, gt_colors)
    assert matched.tolist() == [1, 0, 0]
    _, matched = visualize.match_colors(head_b, masks, gt_colors, iou_threshold=0.99)
    assert matched.tolist() == [1, -1, 0]
    colors, matched = visualize.match_colors(head_b, masks[..., :0], [])
    assert matched.tolist() == [-1] * 3 and colors == [visualize.UNMATCHED_COLOR] * 3
    assert visualize.match_colors(head_b[..., :0], masks, gt_colors)[0] == []


def _box_colors(ax) -> list[tuple]:
    return [tuple(np.round(p.get_edgecolor()[:3], 3)) for p in ax.patches
            if isinstance(p, matplotlib.patches.Rectangle)]


def test_compare_heads_draws_an_object_in_the_same_colour_in_every_panel(case, prediction):
    image, masks, class_ids = case
    results = dict(list(_three_heads(case, prediction).items())[:2])
    fig, axes = visualize.compare_heads(image, results, CLASS_NAMES, masks, class_ids)
    square, disc = _box_colors(axes[0])
    grey = tuple(np.round(visualize.UNMATCHED_COLOR, 3))
    assert square != disc and grey not in (square, disc)
    assert _box_colors(axes[1]) == [grey, square, grey]  # fcn: shifted disc, square, triangle
    assert _box_colors(axes[2]) == [disc, square]  # unet: disc, square
    assert "grey = no match" in fig.get_suptitle()
    assert "1 matched" in axes[1].get_title() and "2 matched" in axes[2].get_title()
    # Without ground truth the first head's detections are the reference objects.
    fig, axes = visualize.compare_heads(image, results, CLASS_NAMES)
    fcn = _box_colors(axes[0])
    assert len(set(fcn)) == 3 and grey not in fcn
    assert _box_colors(axes[1]) == [grey, fcn[1]]  # the shifted disc matches nothing of unet


def _disagreement_case():
    """A 4 x 6 picture worked out by hand (see the test)."""
    gt = np.zeros((4, 6, 1), bool)
    gt[0:2, 0:3, 0] = True
    a = np.zeros((4, 6, 2), bool)
    a[0:2, 0:2, 0] = True
    a[3, 5, 1] = True  # a false positive
    b = np.zeros((4, 6, 2), bool)
    b[0:2, 0:4, 0] = True
    b[0, 0:2, 1] = True  # inside B's other instance: no effect on the union
    return gt, a, b


def test_head_disagreement_counts_worked_out_by_hand():
    gt, a, b = _disagreement_case()
    # Unions differ at (0,2), (1,2): only B, in GT -> B right (2 pixels);
    # (0,3), (1,3): only B, not in GT -> A right (2); (3,5): only A, not in GT -> B right (1).
    found = visualize.head_disagreement(a, b, gt)
    assert set(zip(*np.nonzero(found.a_only))) == {(3, 5)}
    assert set(zip(*np.nonzero(found.b_only))) == {(0, 2), (1, 2), (0, 3), (1, 3)}
    assert set(zip(*np.nonzero(found.a_right))) == {(0, 3), (1, 3)}
    assert set(zip(*np.nonzero(found.b_right))) == {(0, 2), (1, 2), (3, 5)}
    assert int(found.a_right.sum()) == 2 and int(found.b_right.sum()) == 3
    no_gt = visualize.head_disagreement(a, b)
    assert no_gt.a_right is None and no_gt.b_right is None
    np.testing.assert_array_equal(no_gt.a_only, found.a_only)
    swapped = visualize.head_disagreement(b, a, gt)
    np.testing.assert_array_equal(swapped.a_right, found.b_right)
    with pytest.raises(ValueError):
        visualize.head_disagreement(a, b[:3])


def test_compare_heads_disagreement_panel_title_and_legend():
    gt, a, b = _disagreement_case()
    image = np.zeros((4, 6, 3), np.uint8)
    image[...] = (67, 100, 233)  # gray level 0.299 * 67 + 0.587 * 100 + 0.114 * 233 = 105
    results = {"A": _result(a, [1, 1], [0.9, 0.5]), "B": _result(b, [1, 1], [0.8, 0.7])}
    fig, axes = visualize.compare_heads(image, results, CLASS_NAMES, gt, np.array([1]))
    panel = axes[-1]
    assert panel.get_title() == "A vs B: 5 pixels differ\nright: A 2, B 3"
    legend = [t.get_text() for t in panel.get_legend().get_texts()]
    assert legend == ["A right (2)", "B right (3)", "ground truth"]
    drawn = np.asarray(panel.images[0].get_array())
    expected_a = visualize.apply_mask(np.full((4, 6, 3), 105.0), np.ones((4, 6)),
                                      visualize.HEAD_A_COLOR, 0.85)[0, 0]
    np.testing.assert_allclose(drawn[0, 3], expected_a, atol=1)  # A right: A's colour
    np.testing.assert_allclose(drawn[2, 0], [105, 105, 105], atol=1)  # agreeing: gray
    fig, axes = visualize.compare_heads(image, results, CLASS_NAMES)
    assert axes[-1].get_title() == "A vs B: 5 pixels differ"
    assert [t.get_text() for t in axes[-1].get_legend().get_texts()] == [
        "only A (1)", "only B (4)"]
