"""The sampling convention every resampling of the library follows (pixel centres).

**Continuous pixel coordinates.** Pixel ``k`` of an image covers ``[k, k + 1)`` and its
value sits at its centre ``k + 0.5``. A pixel box ``(y1, x1, y2, x2)`` is the continuous
rectangle ``[y1, y2) x [x1, x2)``: the box of a mask whose rows ``3..5`` are set is
``(3, ., 6, .)``. Normalized boxes (:mod:`mrcnn.ops.boxes`) map to these with
:func:`~mrcnn.ops.boxes.denorm_boxes`.

**Maps with a stride.** Element ``k`` of a map with ``stride`` s and ``origin`` o (a
feature map of stride 4: s = 4, o = 0; a mini mask of ``m`` cells over a box
``[gy1, gy2)``: s = (gy2 - gy1) / m, o = gy1) sits at ``o + (k + 0.5) s``, so a point
``y`` has the map coordinate ``(y - o) / s - 0.5``, and maps are sampled bilinearly.

**Cells.** ``n`` samples of a box are taken at the centres of ``n`` equal cells:
``y1 + (i + 0.5) (y2 - y1) / n``. This is the aligned RoIAlign of Detectron2 (He et al.
2017, "box / stride - 0.5"), the mask targets (one sample per cell of the 28 x 28 grid
over the RoI) and, inverted, the pasting of a predicted mask into its box
(:func:`mrcnn.ops.masks.paste_masks`), so a perfect head's mask pastes back onto the
object. Image and mask resizing (:mod:`mrcnn.data.resize`) use the same centres
(OpenCV's bilinear resize), masks by thresholding the bilinear resampling at 0.5.

``tf.image.crop_and_resize`` samples ``n`` points evenly from ``a (L - 1)`` to
``b (L - 1)`` for a normalized crop ``(a, b)`` of a map of length ``L`` (the end-point
grid); :func:`cell_centre_crops` turns boxes into the crops whose samples land on the cell
centres above. The classic Keras Mask R-CNN sampled the end-point grid of the normalized
box itself (``ROI_ALIGN_ALIGNED = False`` keeps that for its weights).
"""

from __future__ import annotations

import tensorflow as tf


def cell_centre_crops(boxes: tf.Tensor, cells, map_size: tf.Tensor, stride=1.0,
                      origin=0.0, pad: int = 0) -> tf.Tensor:
    """``crop_and_resize`` boxes that sample the cell centres of ``boxes``.

    Args:
      boxes: ``[N, 4]`` pixel boxes ``(y1, x1, y2, x2)`` (continuous, see above).
      cells: ``(rows, cols)`` samples per box (``crop_size`` of ``crop_and_resize``).
      map_size: ``(height, width)`` of the sampled map before padding.
      stride, origin: of the map, scalars or ``[N, 2]`` (y, x) per box.
      pad: rows/columns the map was padded with on each side before sampling.
    Returns:
      ``[N, 4]`` float32 normalized crops of the padded map.
    """
    boxes = tf.cast(boxes, tf.float32)
    stride = tf.broadcast_to(tf.cast(stride, tf.float32), tf.shape(boxes[:, :2]))
    origin = tf.broadcast_to(tf.cast(origin, tf.float32), tf.shape(boxes[:, :2]))
    cells = tf.cast(tf.stack(cells), tf.float32)
    start, end = boxes[:, :2], boxes[:, 2:]
    step = (end - start) / cells
    first = start + 0.5 * step  # centre of the first and of the last cell, in pixels
    last = end - 0.5 * step
    size = tf.cast(map_size, tf.float32) + 2.0 * pad
    # Map coordinates (padded); crop_and_resize reads a * (L - 1) for a crop edge a.
    span = tf.maximum(size - 1.0, 1.0)
    a = ((first - origin) / stride - 0.5 + pad) / span
    b = ((last - origin) / stride - 0.5 + pad) / span
    return tf.concat([a, b], axis=-1)
