"""``tf.image.crop_and_resize`` two ways: the TensorFlow kernel, or gathers XLA compiles.

``CropAndResize`` has no XLA kernel, so a graph that uses it cannot be compiled with
``jit_compile=True`` (TPUs, XLA on GPUs). :func:`crop_and_resize_gather` computes the
same samples (the CPU kernel's arithmetic: taps from :func:`crop_taps`, along x, then
along y) from four ``tf.gather`` calls per output, with static shapes, as TF Model
Garden does for TPUs. Each box may sample its own map of a flat table (the RoIs of a
feature pyramid sample different levels in one call), and maps may be padded virtually
(no padded copy). Where the samples land is the convention of :mod:`mrcnn.ops.geometry`.
"""

from __future__ import annotations

import tensorflow as tf

IMPLS = ("native", "gather")


def crop_taps(a: tf.Tensor, b: tf.Tensor, size, length):
    """Bilinear taps of ``crop_and_resize``'s ``size`` samples of the crop ``(a, b)``.

    Args:
      a, b: ``[N]`` normalized crop ends along one axis of a map of ``length`` elements.
      size: number of samples (the output's side), a Python or tensor int.
      length: int32 scalar or ``[N]`` (each crop's own map).
    Returns:
      ``[N, size]`` low and high index (int32) and weight of the high one (float32),
      computed as the CPU kernel does; samples outside the map get index ``length``
      (where the callers put the kernel's extrapolation value 0) and weight 0.
    """
    length = tf.broadcast_to(tf.cast(length, tf.int32), tf.shape(a))[:, None]  # [N, 1]
    last = tf.cast(length - 1, tf.float32)
    size = tf.convert_to_tensor(size, tf.int32)
    steps = tf.cast(tf.maximum(size - 1, 1), tf.float32)
    scale = tf.where(size > 1, (b - a)[:, None] * last / steps, 0.0)
    start = tf.where(size > 1, a[:, None] * last, 0.5 * (a + b)[:, None] * last)
    pos = start + tf.cast(tf.range(size), tf.float32)[None] * scale
    valid = (pos >= 0.0) & (pos <= last)
    low = tf.floor(pos)
    lerp = tf.where(valid, pos - low, 0.0)
    low = tf.where(valid, tf.cast(tf.clip_by_value(low, 0.0, last), tf.int32), length)
    high = tf.where(valid, tf.cast(tf.clip_by_value(tf.math.ceil(pos), 0.0, last), tf.int32),
                    length)
    return low, high, lerp


def crop_and_resize(image: tf.Tensor, boxes: tf.Tensor, box_indices: tf.Tensor, crop_size,
                    impl: str = "native", pad: int = 0, pad_mode: str = "SYMMETRIC"):
    """``tf.image.crop_and_resize`` of ``image`` padded by ``pad`` on each side.

    Args:
      image: ``[B, H, W, D]``.
      boxes: ``[N, 4]`` normalized crops of the *padded* map.
      box_indices: ``[N]`` int32 image of each box.
      crop_size: ``(rows, cols)``.
      impl: ``"native"`` (the TensorFlow kernel) or ``"gather"`` (XLA-compilable, equal).
      pad, pad_mode: ``tf.pad`` of the rows and columns, ``"SYMMETRIC"`` (for one row:
        the border replicated) or ``"CONSTANT"`` (zeros).
    Returns:
      ``[N, rows, cols, D]`` float32.
    """
    if impl == "native":
        if pad:
            image = tf.pad(image, [[0, 0], [pad, pad], [pad, pad], [0, 0]], mode=pad_mode)
        return tf.image.crop_and_resize(image, boxes, box_indices, crop_size)
    if impl != "gather":
        raise ValueError(f"impl must be one of {IMPLS}, got {impl!r}")
    shape = tf.shape(image)
    table = tf.reshape(image, tf.stack([-1, shape[3]]))
    offsets = tf.cast(box_indices, tf.int32) * shape[1] * shape[2]
    return crop_and_resize_gather(table, offsets, shape[1:3], boxes, crop_size, pad, pad_mode)


def crop_and_resize_gather(table: tf.Tensor, offsets: tf.Tensor, map_size: tf.Tensor,
                           boxes: tf.Tensor, crop_size, pad: int = 0,
                           pad_mode: str = "SYMMETRIC") -> tf.Tensor:
    """Crop-and-resize by gather: box ``k`` samples the map at rows ``offsets[k] ..`` of ``table``.

    Args:
      table: ``[T, D]`` maps stored row-major, one after the other.
      offsets: ``[N]`` int32 first row of each box's map in ``table``.
      map_size: ``[2]`` or ``[N, 2]`` int32 ``(height, width)`` of each box's map.
      boxes: ``[N, 4]`` normalized crops of the map padded by ``pad`` on each side.
      crop_size: ``(rows, cols)`` samples per box.
      pad, pad_mode: a virtual ``tf.pad`` of each map (``"SYMMETRIC"`` with ``pad = 1``
        replicates the border; ``"CONSTANT"`` pads zeros).
    Returns:
      ``[N, rows, cols, D]``: ``tf.image.crop_and_resize`` of the padded maps.
    """
    if pad_mode not in ("SYMMETRIC", "CONSTANT") or pad not in (0, 1):
        raise ValueError(f"pad must be 0 or 1 and pad_mode SYMMETRIC or CONSTANT, got "
                         f"{pad}, {pad_mode!r}")
    boxes = tf.cast(boxes, tf.float32)
    size = tf.broadcast_to(tf.cast(map_size, tf.int32), tf.shape(boxes[:, :2]))  # [N, 2]
    height, width = size[:, 0], size[:, 1]
    top, bottom, y_lerp = crop_taps(boxes[:, 0], boxes[:, 2], crop_size[0], height + 2 * pad)
    left, right, x_lerp = crop_taps(boxes[:, 1], boxes[:, 3], crop_size[1], width + 2 * pad)
    inside = (top < (height + 2 * pad)[:, None])[:, :, None] & (
        left < (width + 2 * pad)[:, None])[:, None, :]  # [N, rows, cols]: not extrapolated

    def unpad(index, length):
        """Padded-map index -> map index (clamped) and whether it lies on the map."""
        index = index - pad
        on_map = (index >= 0) & (index < length[:, None])
        return tf.clip_by_value(index, 0, length[:, None] - 1), on_map

    (top, top_on), (bottom, bottom_on) = unpad(top, height), unpad(bottom, height)
    (left, left_on), (right, right_on) = unpad(left, width), unpad(right, width)

    def corner(rows, row_on, cols, col_on):
        index = (offsets[:, None, None] + rows[:, :, None] * width[:, None, None]
                 + cols[:, None, :])
        values = tf.gather(table, index)  # [N, rows, cols, D]
        if pad_mode == "CONSTANT" and pad:
            values = tf.where((row_on[:, :, None] & col_on[:, None, :])[..., None], values,
                              tf.zeros_like(values))
        return values

    top_left = corner(top, top_on, left, left_on)
    top_right = corner(top, top_on, right, right_on)
    bottom_left = corner(bottom, bottom_on, left, left_on)
    bottom_right = corner(bottom, bottom_on, right, right_on)
    x_lerp = tf.cast(x_lerp[:, None, :, None], table.dtype)
    y_lerp = tf.cast(y_lerp[:, :, None, None], table.dtype)
    upper = top_left + (top_right - top_left) * x_lerp
    lower = bottom_left + (bottom_right - bottom_left) * x_lerp
    out = upper + (lower - upper) * y_lerp
    return tf.where(inside[..., None], out, tf.zeros_like(out))
