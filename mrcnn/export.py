"""Export an inference model as a TensorFlow SavedModel that takes raw images.

    from mrcnn.export import export_saved_model
    export_saved_model(detector, "export/mask_rcnn/1")      # detector: MaskRCNN("inference")

    served = tf.saved_model.load("export/mask_rcnn/1")
    out = served.signatures["serving_default"](images=tf.constant(batch_uint8))
    # or: out = served.serve(batch_uint8)

The serving function takes ``images``: a uint8 batch ``[B, H, W, 3]`` (any H, W; one
size per batch) and does in TensorFlow what :meth:`MaskRCNN.detect` does in NumPy:
resize (bilinear, bit-exactly as ``cv2.INTER_LINEAR``: :func:`resize_like_cv2`) and pad
to the network's input as ``IMAGE_RESIZE_MODE`` says ("square", "pad64" or "none";
"crop" serves as "square"), subtract ``MEAN_PIXEL``, run the graph, map boxes back to
the original pixels and paste the 28x28 masks into full-size masks
(:func:`mrcnn.ops.masks.paste_masks`).

It returns, with ``D`` = the largest detection count in the batch (rows past
``num_detections[b]`` are zero):

* ``num_detections`` ``[B]`` int32
* ``boxes`` ``[B, D, 4]`` int32 ``(y1, x1, y2, x2)`` pixels of the original image
* ``class_ids`` ``[B, D]`` int32, ``scores`` ``[B, D]`` float32 (sorted by score)
* ``masks`` ``[B, D, H, W]`` uint8 (0/1), full size

These are :meth:`MaskRCNN.detect`'s ``rois``, ``class_ids``, ``scores`` and ``masks``
(transposed to instance-major), up to float rounding.

The names of the class ids (background first) travel with the model: ``served.class_names()``
returns them as a string tensor (empty when the model had none), and
``assets/class_names.json`` holds them for readers without TensorFlow.
"""

from __future__ import annotations

import json
import os

import keras
import numpy as np
import tensorflow as tf

from mrcnn.ops.boxes import denorm_boxes
from mrcnn.ops.masks import paste_masks

OUTPUT_KEYS = ("num_detections", "boxes", "class_ids", "scores", "masks")


def _cv2_linear_taps(in_size, out_size, clamp: bool):
    """Source indices and 11-bit fixed-point weights of OpenCV's INTER_LINEAR resize."""
    scale = 1.0 / (tf.cast(out_size, tf.float64) / tf.cast(in_size, tf.float64))
    position = tf.cast((tf.range(out_size, dtype=tf.float64) + 0.5) * scale - 0.5, tf.float32)
    start = tf.floor(position)
    frac = position - start
    start = tf.cast(start, tf.int32)
    if clamp:  # OpenCV clamps horizontally only; rows outside the image are clamped below
        low = start < 0
        high = start >= in_size - 1
        frac = tf.where(low | high, 0.0, frac)
        start = tf.where(low, 0, tf.where(high, in_size - 1, start))
    w0 = tf.cast(tf.round((1.0 - frac) * 2048.0), tf.int32)
    w1 = tf.cast(tf.round(frac * 2048.0), tf.int32)
    return (tf.clip_by_value(start, 0, in_size - 1), tf.clip_by_value(start + 1, 0, in_size - 1),
            w0, w1)


def resize_like_cv2(images: tf.Tensor, height, width) -> tf.Tensor:
    """Resize a uint8 batch ``[B, H, W, C]`` to ``[B, height, width, C]`` bit-exactly as
    ``cv2.resize(..., interpolation=cv2.INTER_LINEAR)`` does (the NumPy input path).

    OpenCV works in fixed point: 11-bit weights, a horizontal pass in integers, then a
    vertical pass rounding as its SIMD kernel does. ``tf.image.resize`` (floating point)
    differs from it by one grey level on about 10% of the pixels, enough to change the
    scores of nearly tied detections.
    """
    shape = tf.shape(images)
    x0, x1, a0, a1 = _cv2_linear_taps(shape[2], width, clamp=True)
    y0, y1, b0, b1 = _cv2_linear_taps(shape[1], height, clamp=False)
    pixels = tf.cast(images, tf.int32)
    rows = (tf.gather(pixels, x0, axis=2) * a0[None, None, :, None]
            + tf.gather(pixels, x1, axis=2) * a1[None, None, :, None])
    top = tf.gather(rows, y0, axis=1) // 16
    bottom = tf.gather(rows, y1, axis=1) // 16
    value = ((b0[None, :, None, None] * top) // 65536
             + (b1[None, :, None, None] * bottom) // 65536 + 2) // 4
    return tf.cast(tf.clip_by_value(value, 0, 255), tf.uint8)


def _mold(images: tf.Tensor, config):
    """uint8 ``[B, H, W, C]`` -> (molded float32, image metas, windows [4] int32, scale)."""
    mode = "square" if config.IMAGE_RESIZE_MODE == "crop" else config.IMAGE_RESIZE_MODE
    shape = tf.shape(images)
    batch, height, width = shape[0], shape[1], shape[2]
    h = tf.cast(height, tf.float64)
    w = tf.cast(width, tf.float64)
    scale = tf.constant(1.0, tf.float64)
    if mode != "none":
        if config.IMAGE_MIN_DIM:
            scale = tf.maximum(scale, config.IMAGE_MIN_DIM / tf.minimum(h, w))
        if config.IMAGE_MIN_SCALE:
            scale = tf.maximum(scale, tf.constant(float(config.IMAGE_MIN_SCALE), tf.float64))
        if mode == "square":
            longest = tf.maximum(h, w)
            scale = tf.where(tf.round(longest * scale) > config.IMAGE_MAX_DIM,
                             config.IMAGE_MAX_DIM / longest, scale)
    new_h = tf.maximum(1, tf.cast(tf.round(h * scale), tf.int32))
    new_w = tf.maximum(1, tf.cast(tf.round(w * scale), tf.int32))
    resized = tf.cond(tf.equal(scale, 1.0), lambda: images,
                      lambda: resize_like_cv2(images, new_h, new_w))
    resized = tf.cast(resized, tf.float32)
    if mode == "square":
        out_h = out_w = tf.constant(config.IMAGE_MAX_DIM, tf.int32)
    elif mode == "pad64":
        out_h = (new_h + 63) // 64 * 64
        out_w = (new_w + 63) // 64 * 64
    else:
        out_h, out_w = new_h, new_w
    top = (out_h - new_h) // 2
    left = (out_w - new_w) // 2
    mean = tf.constant(np.asarray(config.MEAN_PIXEL, np.float32))
    # As in the NumPy path: pad the image with 0, then subtract the mean everywhere.
    padded = tf.pad(resized, [[0, 0], [top, out_h - new_h - top], [left, out_w - new_w - left],
                              [0, 0]])
    molded = padded - mean
    if mode == "square":
        molded = tf.ensure_shape(molded, [None, config.IMAGE_MAX_DIM, config.IMAGE_MAX_DIM,
                                          config.IMAGE_CHANNEL_COUNT])
    window = tf.stack([top, left, top + new_h, left + new_w])
    channels = config.IMAGE_CHANNEL_COUNT
    meta = tf.concat([
        tf.zeros([1], tf.float32),  # image id
        tf.cast(tf.stack([height, width, shape[3]]), tf.float32),
        tf.cast(tf.stack([out_h, out_w, tf.constant(channels)]), tf.float32),
        tf.cast(window, tf.float32),
        tf.cast(tf.reshape(scale, [1]), tf.float32),
        tf.ones([config.NUM_CLASSES], tf.float32),
    ], axis=0)
    metas = tf.tile(meta[None], [batch, 1])
    return molded, metas, window, tf.stack([out_h, out_w])


def _unmold(detections, masks, window, molded_hw, height, width):
    """Detections ``[B, D, 6]`` and masks ``[B, D, h, w]`` -> the serving outputs."""
    batch = tf.shape(detections)[0]
    boxes = denorm_boxes(detections[..., :4], molded_hw)
    window_f = tf.cast(window, tf.float32)
    wy1, wx1, wy2, wx2 = window_f[0], window_f[1], window_f[2], window_f[3]
    scale_y = tf.cast(height, tf.float32) / tf.maximum(wy2 - wy1, 1.0)
    scale_x = tf.cast(width, tf.float32) / tf.maximum(wx2 - wx1, 1.0)
    boxes = (boxes - tf.stack([wy1, wx1, wy1, wx1])) * tf.stack(
        [scale_y, scale_x, scale_y, scale_x])
    rois = tf.cast(tf.round(boxes), tf.int32)
    class_ids = tf.cast(detections[..., 4], tf.int32)
    scores = detections[..., 5]
    keep = (class_ids > 0) & (rois[..., 2] > rois[..., 0]) & (rois[..., 3] > rois[..., 1])
    # Kept detections first, in score order (a stable sort of the "dropped" flag).
    order = tf.argsort(tf.cast(~keep, tf.int32), axis=1, stable=True)
    keep = tf.gather(keep, order, batch_dims=1)
    rois = tf.gather(rois, order, batch_dims=1)
    boxes = tf.gather(boxes, order, batch_dims=1)
    class_ids = tf.gather(class_ids, order, batch_dims=1)
    scores = tf.gather(scores, order, batch_dims=1)
    masks = tf.gather(masks, order, batch_dims=1)
    num = tf.reduce_sum(tf.cast(keep, tf.int32), axis=1)
    top = tf.reduce_max(tf.concat([num, [0]], axis=0))
    keep, rois, boxes = keep[:, :top], rois[:, :top], boxes[:, :top]
    class_ids, scores, masks = class_ids[:, :top], scores[:, :top], masks[:, :top]
    # Paste only the kept masks, then scatter them into the zero-padded output.
    where = tf.cast(tf.where(keep), tf.int32)  # [K, 2]
    pasted = paste_masks(tf.gather_nd(masks, where), tf.gather_nd(boxes, where),
                         (height, width))
    full = tf.scatter_nd(where, tf.cast(pasted, tf.uint8),
                         tf.stack([batch, top, height, width]))
    zero = tf.zeros_like
    return {
        "num_detections": num,
        "boxes": tf.where(keep[..., None], rois, zero(rois)),
        "class_ids": tf.where(keep, class_ids, zero(class_ids)),
        "scores": tf.where(keep, scores, zero(scores)),
        "masks": full,
    }


def serving_function(model, config=None):
    """``fn(images uint8 [B, H, W, 3]) -> dict`` (see the module docstring), not traced."""
    keras_model = getattr(model, "keras_model", model)
    config = config if config is not None else model.config
    if getattr(model, "mode", "inference") != "inference":
        raise ValueError("export an inference model: MaskRCNN('inference', config, ...)")

    def serve(images):
        images = tf.convert_to_tensor(images)
        if images.dtype != tf.uint8:
            raise TypeError(f"serving: images must be uint8, got {images.dtype}")
        molded, metas, window, molded_hw = _mold(images, config)
        out = keras_model([molded, metas], training=False)
        shape = tf.shape(images)
        return _unmold(out["detections"], out["mrcnn_mask"], window, molded_hw,
                       shape[1], shape[2])

    return serve


def export_saved_model(model, path: str | os.PathLike, verbose: bool = False) -> str:
    """Write a SavedModel of ``model`` (a ``MaskRCNN`` in inference mode) to ``path``.

    Its ``serving_default`` signature (also callable as ``.serve``) takes ``images``
    uint8 ``[B, H, W, C]`` and returns ``num_detections``, ``boxes``, ``class_ids``,
    ``scores`` and ``masks`` as described in the module docstring; ``class_names()``
    returns the model's class names. Returns ``path``.
    """
    config = model.config
    keras_model = model.keras_model
    serve = serving_function(model, config)
    archive = keras.export.ExportArchive()
    archive.track(keras_model)
    spec = tf.TensorSpec([None, None, None, config.IMAGE_CHANNEL_COUNT], tf.uint8,
                         name="images")
    archive.add_endpoint(name="serve", fn=serve, input_signature=[spec])
    names = list(getattr(model, "class_names", None) or [])
    archive.add_endpoint(name="class_names",
                         fn=lambda: tf.constant(names, dtype=tf.string, shape=[len(names)]),
                         input_signature=[])
    path = os.fspath(path)
    archive.write_out(path, verbose=verbose)
    assets = os.path.join(path, "assets")
    os.makedirs(assets, exist_ok=True)
    with open(os.path.join(assets, "class_names.json"), "w") as f:
        json.dump(names, f)
    return path
