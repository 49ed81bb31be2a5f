"""Mask resampling: RoI mask targets and pasting head outputs back into images."""

from __future__ import annotations

import tensorflow as tf

from mrcnn.ops.boxes import denorm_boxes
from mrcnn.ops.geometry import cell_centre_crops
from mrcnn.ops.resample import crop_and_resize, crop_taps


def crop_mask_targets(gt_masks: tf.Tensor, gt_boxes: tf.Tensor, rois: tf.Tensor,
                      mask_index: tf.Tensor, mask_shape: tuple[int, int],
                      mini_mask: bool, aligned: bool = False,
                      image_shape: tf.Tensor | None = None, impl: str = "native") -> tf.Tensor:
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
      impl: ``"native"`` or ``"gather"`` (:func:`mrcnn.ops.resample.crop_and_resize`).
    Returns:
      ``[N, mask_h, mask_w]`` float32 bilinear samples, not thresholded.
    """
    masks = tf.expand_dims(gt_masks, -1)
    pad = 0
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
        pad = 1
        boxes = cell_centre_crops(pixel_rois, mask_shape, tf.shape(gt_masks)[1:3], stride,
                                  origin, pad=pad)
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
    crops = crop_and_resize(masks, tf.stop_gradient(boxes), mask_index, mask_shape, impl,
                            pad=pad, pad_mode="CONSTANT")
    return tf.squeeze(crops, -1)


def paste_masks(masks: tf.Tensor, boxes: tf.Tensor, image_shape,
                threshold: float = 0.5) -> tf.Tensor:
    """Paste RoI masks into full images, resampling each mask over its box's pixels only.

    Mask pixel ``(i, j)`` of a box ``(y1, x1, y2, x2)`` (pixels, exclusive end) is the
    centre of cell ``i`` of ``mask_h`` equal rows of the box (:mod:`mrcnn.ops.geometry`;
    the exact inverse of aligned :func:`crop_mask_targets`). Every image pixel centre
    inside the box is mapped into that grid and sampled bilinearly from the mask (its
    border cells replicated), then thresholded; pixels whose centre lies outside the box
    are False.

    The samples are bit for bit those of ``tf.image.crop_and_resize`` of the padded masks
    over the whole image (same sampling points, and the arithmetic of its CPU kernel:
    along x, then along y), but only the rows of each box are computed, in tiles of 16-64
    columns covering the box's columns, which are scattered into the all-False output:
    temporaries are ``O(sum of h * (w + 64))`` over the boxes instead of
    ``O(N * height * width)``. Eager calls run one traced graph (no per-op overhead).

    Args:
      masks: ``[N, mask_h, mask_w]`` probabilities.
      boxes: ``[N, 4]`` float pixel boxes in the target image.
      image_shape: ``(height, width)`` of the target image (ints or int tensors).
      threshold: a pixel is on where its sample is ``>= threshold``.
    Returns:
      ``[N, height, width]`` bool.
    """
    return _paste_masks(tf.convert_to_tensor(masks, tf.float32),
                        tf.convert_to_tensor(boxes, tf.float32),
                        tf.cast(image_shape[0], tf.int32), tf.cast(image_shape[1], tf.int32),
                        tf.cast(threshold, tf.float32))


@tf.function(autograph=False, input_signature=[
    tf.TensorSpec([None, None, None], tf.float32), tf.TensorSpec([None, 4], tf.float32),
    tf.TensorSpec([], tf.int32), tf.TensorSpec([], tf.int32), tf.TensorSpec([], tf.float32)])
def _paste_masks(masks, boxes, height, width, threshold):
    """:func:`paste_masks` on tensors: ``[N, h, w]``, ``[N, 4]``, scalars -> ``[N, H, W]``."""
    n = tf.shape(masks)[0]
    mh = tf.cast(tf.shape(masks)[1], tf.float32)
    mw = tf.cast(tf.shape(masks)[2], tf.float32)
    # Sampling span of the output grid; 0 for a 1-pixel side, where crop_and_resize
    # samples the midpoint of [a, b], so b must equal a there.
    span_h = tf.maximum(tf.cast(height, tf.float32) - 1.0, 0.0)
    span_w = tf.maximum(tf.cast(width, tf.float32) - 1.0, 0.0)
    y1, x1, y2, x2 = tf.unstack(boxes, axis=-1)
    bh = tf.maximum(y2 - y1, 1e-3)
    bw = tf.maximum(x2 - x1, 1e-3)
    # Replicate the border cells so pixels between the box edge and the first cell
    # centre take the edge value (as resizing the mask to the box would), not 0.
    padded = tf.pad(masks, [[0, 0], [1, 1], [1, 1]], mode="SYMMETRIC")  # [N, L, M]
    rows_len, cols_len = tf.shape(padded)[1], tf.shape(padded)[2]
    # Continuous padded-mask coordinate of pixel centre p: (p + 0.5 - y1) * mh / bh + 0.5,
    # as the normalized crop (a, b) that crop_and_resize would sample over the image.
    a_y = ((0.5 - y1) * mh / bh + 0.5) / (mh + 1.0)
    a_x = ((0.5 - x1) * mw / bw + 0.5) / (mw + 1.0)
    b_y = a_y + (mh / bh) * span_h / (mh + 1.0)
    b_x = a_x + (mw / bw) * span_w / (mw + 1.0)
    top_row, bottom_row, y_lerp = crop_taps(a_y, b_y, height, rows_len)  # [N, H]
    left_col, right_col, x_lerp = crop_taps(a_x, b_x, width, cols_len)  # [N, W]

    # The pixels whose centre lies inside box k: rows [r0, r0 + h), columns [c0, c0 + w).
    r0, h = _inside_range(y1, y2, height)
    c0, w = _inside_range(x1, x2, width)
    h = tf.where(w > 0, h, 0)
    w = tf.where(h > 0, w, 0)
    # Output tiles of T columns; T divides the width where 64, 32 or 16 does, else the
    # output is 64-padded and sliced.
    tile = tf.where(width % 64 == 0, 64, tf.where(width % 32 == 0, 32,
                                                  tf.where(width % 16 == 0, 16, 64)))
    tiles = (width + tile - 1) // tile  # per image row
    t0 = c0 // tile
    box_tiles = tf.where(w > 0, (c0 + w - 1) // tile + 1 - t0, 0)  # [N], cover [c0, c0+w)

    # Along x, on the K = sum(box_tiles) column tiles: every padded-mask row sampled at
    # the tile's columns (crop_and_resize's top/bottom); columns outside the box are NaN,
    # never >= threshold.
    tile_box, first_col = _ragged_blocks(box_tiles, t0 * tile, tile)  # [K]
    cols = first_col[:, None] + tf.range(tile)[None]  # [K, T]
    in_box = (cols >= tf.gather(c0, tile_box)[:, None]) & (
        cols < tf.gather(c0 + w, tile_box)[:, None])
    taps = tile_box[:, None] * width + tf.minimum(cols, width - 1)
    low = tf.gather(tf.reshape(left_col, [-1]), taps)
    high = tf.gather(tf.reshape(right_col, [-1]), taps)
    first = tile_box[:, None] * cols_len
    mask_cols = tf.reshape(tf.transpose(padded, [0, 2, 1]), [-1, rows_len])  # [N*M, L]
    left = tf.gather(mask_cols, first + tf.minimum(low, cols_len - 1))  # [K, T, L]
    right = tf.gather(mask_cols, first + tf.minimum(high, cols_len - 1))
    across = left + (right - left) * tf.gather(tf.reshape(x_lerp, [-1]), taps)[..., None]
    across = tf.where((low < cols_len)[..., None], across, 0.0)  # the extrapolation value
    # Mask row L: the extrapolation value 0, read by image rows sampled outside the mask.
    across = tf.concat([across, tf.zeros_like(across[..., :1])], axis=-1)  # [K, T, L+1]
    across = tf.where(in_box[..., None], across, float("nan"))
    across = tf.reshape(tf.transpose(across, [0, 2, 1]), tf.stack([-1, tile]))  # [K*(L+1), T]

    # Along y, on the Q pairs (in-box image row of a box, one of the box's tiles).
    row_box, row = _ragged_blocks(h, r0, 1)  # [R]
    taps = row_box * height + row
    row_tiles = tf.gather(box_tiles, row_box)
    first = tf.gather(tf.cumsum(box_tiles, exclusive=True), row_box) * (rows_len + 1)
    top = first + tf.gather(tf.reshape(top_row, [-1]), taps)
    bottom = first + tf.gather(tf.reshape(bottom_row, [-1]), taps)
    lerp = tf.gather(tf.reshape(y_lerp, [-1]), taps)
    target = (tf.cast(taps, tf.int64) * tf.cast(tiles, tf.int64)
              + tf.cast(tf.gather(t0, row_box), tf.int64))  # output tile of the row's first
    pair_row, step = _ragged_blocks(row_tiles, tf.zeros_like(row), rows_len + 1)  # [Q]
    upper = tf.gather(across, tf.gather(top, pair_row) + step)  # [Q, T]
    lower = tf.gather(across, tf.gather(bottom, pair_row) + step)
    on = upper + (lower - upper) * tf.gather(lerp, pair_row)[:, None] >= threshold
    where = tf.gather(target, pair_row) + tf.cast(step // (rows_len + 1), tf.int64)
    size = tf.cast(n, tf.int64) * tf.cast(height, tf.int64) * tf.cast(tiles, tf.int64)
    pasted = tf.scatter_nd(where[:, None], on, tf.stack([size, tf.cast(tile, tf.int64)]))
    pasted = tf.reshape(pasted, tf.stack([n, height, tiles * tile]))
    return pasted[:, :, :width]  # no copy where the tiles fill the width exactly


def _inside_range(start: tf.Tensor, end: tf.Tensor, size: tf.Tensor):
    """First pixel and count of the pixels whose centre is in ``[start, end)``; ``[N]`` int32."""
    centres = tf.cast(tf.range(size), tf.float32) + 0.5
    inside = (centres[None] >= start[:, None]) & (centres[None] < end[:, None])  # [N, size]
    first = tf.reduce_min(tf.where(inside, tf.range(size)[None], size), axis=1)
    return first, tf.reduce_sum(tf.cast(inside, tf.int32), axis=1)


def _ragged_blocks(lengths: tf.Tensor, starts: tf.Tensor, stride):
    """Enumerate blocks ``k`` of ``lengths[k]`` values ``starts[k] + stride * i``.

    Args:
      lengths: ``[K]`` int32 >= 0; starts: ``[K]`` int32; stride: int32 scalar.
    Returns:
      ``[sum(lengths)]`` int32 block index and value of every element, block by block.
    """
    ends = tf.cumsum(lengths)
    index = tf.range(tf.reduce_sum(lengths))
    block = tf.searchsorted(ends, index, side="right", out_type=tf.int32)
    return block, (index - tf.gather(ends - lengths, block)) * stride + tf.gather(starts, block)
