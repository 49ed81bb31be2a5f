"""Mask resampling: RoI mask targets and pasting head outputs back into images."""

from __future__ import annotations

import tensorflow as tf

from mrcnn.ops.boxes import denorm_boxes
from mrcnn.ops.geometry import cell_centre_crops


def crop_mask_targets(gt_masks: tf.Tensor, gt_boxes: tf.Tensor, rois: tf.Tensor,
                      mask_index: tf.Tensor, mask_shape: tuple[int, int],
                      mini_mask: bool, aligned: bool = False,
                      image_shape: tf.Tensor | None = None) -> tf.Tensor:
    """Crop ground-truth masks to RoIs and resize them to ``mask_shape`` (values in [0, 1]).

    Args:
      gt_masks: ``[K, h, w]`` float masks; full image masks, or mini masks (each mask
        resized to its own box) when ``mini_mask``.
      gt_boxes: ``[N, 4]`` normalized box of the ground truth each RoI is matched to.
      rois: ``[N, 4]`` normalized RoIs.
      mask_index: ``[N]`` int32 index into ``gt_masks`` for each RoI.
      aligned: sample the centre of each of the ``mask_shape`` cells of the RoI (the
        convention of :mod:`mrcnn.ops.geometry`, inverted exactly by :func:`paste_masks`);
        needs ``image_shape`` ``(height, width)``, the molded image's. Otherwise the
        classic end-point grid of the normalized RoI.
    Returns:
      ``[N, mask_h, mask_w]`` float32 bilinear samples, not thresholded.
    """
    masks = tf.expand_dims(gt_masks, -1)
    if aligned:
        pixel_rois = denorm_boxes(rois, image_shape)
        stride, origin = 1.0, 0.0
        if mini_mask:  # mini mask cell k of the box [g1, g2) sits at g1 + (k + 0.5) (g2 - g1) / m
            gt = denorm_boxes(gt_boxes, image_shape)
            cells = tf.cast(tf.shape(gt_masks)[1:3], tf.float32)
            stride = tf.maximum(gt[:, 2:] - gt[:, :2], 1e-3) / cells
            origin = gt[:, :2]
        # Outside the mask (or its box) is background: pad with 0 so a boundary on the
        # border falls halfway to the outside, like every other boundary.
        masks = tf.pad(masks, [[0, 0], [1, 1], [1, 1], [0, 0]])
        boxes = cell_centre_crops(pixel_rois, mask_shape, tf.shape(gt_masks)[1:3], stride,
                                  origin, pad=1)
    elif mini_mask:
        # Express each RoI in its ground-truth box's frame (the mini mask covers that box).
        gy1, gx1, gy2, gx2 = tf.unstack(gt_boxes, axis=-1)
        gh = tf.maximum(gy2 - gy1, 1e-6)
        gw = tf.maximum(gx2 - gx1, 1e-6)
        y1, x1, y2, x2 = tf.unstack(rois, axis=-1)
        boxes = tf.stack([(y1 - gy1) / gh, (x1 - gx1) / gw,
                          (y2 - gy1) / gh, (x2 - gx1) / gw], axis=-1)
    else:
        boxes = rois
    crops = tf.image.crop_and_resize(masks, tf.stop_gradient(boxes), mask_index, mask_shape)
    return tf.squeeze(crops, -1)


def paste_masks(masks: tf.Tensor, boxes: tf.Tensor, image_shape,
                threshold: float = 0.5) -> tf.Tensor:
    """Paste RoI masks into full images in one vectorised resampling.

    Mask pixel ``(i, j)`` of a box ``(y1, x1, y2, x2)`` (pixels, exclusive end) is the
    centre of cell ``i`` of ``mask_h`` equal rows of the box (:mod:`mrcnn.ops.geometry`;
    the exact inverse of aligned :func:`crop_mask_targets`). Every image pixel centre
    is mapped into that grid and sampled bilinearly, then thresholded; pixels whose
    centre lies outside the box are False.

    Args:
      masks: ``[N, mask_h, mask_w]`` probabilities.
      boxes: ``[N, 4]`` float pixel boxes in the target image.
      image_shape: ``(height, width)`` of the target image (ints or an int tensor).
    Returns:
      ``[N, height, width]`` bool.
    """
    masks = tf.convert_to_tensor(masks, tf.float32)
    boxes = tf.convert_to_tensor(boxes, tf.float32)
    mh = tf.cast(tf.shape(masks)[1], tf.float32)
    mw = tf.cast(tf.shape(masks)[2], tf.float32)
    height, width = image_shape[0], image_shape[1]
    # Sampling span of the output grid; 0 for a 1-pixel side, where crop_and_resize
    # samples the midpoint of [a, b], so b must equal a there.
    span_h = tf.maximum(tf.cast(height, tf.float32) - 1.0, 0.0)
    span_w = tf.maximum(tf.cast(width, tf.float32) - 1.0, 0.0)
    y1, x1, y2, x2 = tf.unstack(boxes, axis=-1)
    bh = tf.maximum(y2 - y1, 1e-3)
    bw = tf.maximum(x2 - x1, 1e-3)
    # Replicate the border cells so pixels between the box edge and the first cell
    # centre take the edge value (as resizing the mask to the box would), not 0.
    padded = tf.pad(masks, [[0, 0], [1, 1], [1, 1]], mode="SYMMETRIC")
    # Continuous padded-mask coordinate of pixel centre p: (p + 0.5 - y1) * mh / bh + 0.5;
    # crop_and_resize samples a * (size - 1) + i * (b - a) * (size - 1) / (H - 1) at row i.
    a_y = ((0.5 - y1) * mh / bh + 0.5) / (mh + 1.0)
    a_x = ((0.5 - x1) * mw / bw + 0.5) / (mw + 1.0)
    b_y = a_y + (mh / bh) * span_h / (mh + 1.0)
    b_x = a_x + (mw / bw) * span_w / (mw + 1.0)
    grid = tf.stack([a_y, a_x, b_y, b_x], axis=-1)
    n = tf.shape(masks)[0]
    pasted = tf.image.crop_and_resize(tf.expand_dims(padded, -1), grid, tf.range(n),
                                      tf.stack([height, width]))[..., 0]
    # Keep only pixels whose centre lies inside the box.
    centres_y = tf.cast(tf.range(height), tf.float32) + 0.5
    centres_x = tf.cast(tf.range(width), tf.float32) + 0.5
    inside_y = (centres_y[None] >= y1[:, None]) & (centres_y[None] < y2[:, None])  # [N, H]
    inside_x = (centres_x[None] >= x1[:, None]) & (centres_x[None] < x2[:, None])  # [N, W]
    inside = inside_y[:, :, None] & inside_x[:, None, :]
    return inside & (pasted >= threshold)
