"""What happens to an image before and after the network (torchvision's
``GeneralizedRCNNTransform``): resize and pad to the network's input as
``IMAGE_RESIZE_MODE`` says, subtract ``MEAN_PIXEL``, compose the image meta
(:mod:`mrcnn.ops.image_meta`); afterwards map the detections back to the original pixels
and paste their masks (:func:`mrcnn.ops.masks.paste_masks`).

Two paths, one per caller, kept in agreement by tests (``tests/export``):

* NumPy, one image at a time: :meth:`MaskRCNN.detect <mrcnn.model.MaskRCNN.detect>`
  (:func:`check_image`, :func:`mold_inputs`, :func:`unmold_detections`) and the training
  input pipeline (:func:`mold_image`). Resizing is :func:`mrcnn.data.resize.resize_image`
  (OpenCV), which the data layer also uses.
* TensorFlow, a uint8 batch of one size inside a traced function: the SavedModel export
  (:func:`mold_inputs_tf`, :func:`unmold_detections_tf`), resizing with
  :func:`resize_like_cv2`, bit-exactly as OpenCV does.

Inference resizes "crop" configs as "square" (:func:`mrcnn.data.resize.inference_resize_mode`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from mrcnn.data.image_convert import to_rgb_uint8
from mrcnn.data.image_io import to_image_array
from mrcnn.data.resize import inference_resize_mode, resize_image
from mrcnn.ops.boxes import denorm_boxes
from mrcnn.ops.image_meta import compose_image_meta, image_meta_parts
from mrcnn.ops.masks import paste_masks


# ----------------------------------------------------------------------------- NumPy path
def check_image(index: int, image, channels: int = 3) -> np.ndarray:
    """One detect() input (array, PIL image or path) as the network's ``[H, W, C]``
    uint8 (or float) array; errors name the image by ``index``."""
    image = to_image_array(image, f"image {index}")
    if channels == 3:
        return to_rgb_uint8(image, f"image {index}")
    image = np.asarray(image)
    if image.ndim == 2 and channels == 1:
        image = image[..., None]
    if image.ndim != 3 or image.shape[2] != channels or 0 in image.shape[:2]:
        raise ValueError(f"image {index}: expected a non-empty [H, W, {channels}] array, "
                         f"got shape {image.shape}")
    if np.issubdtype(image.dtype, np.floating) and not np.isfinite(image).all():
        raise ValueError(f"image {index}: pixel values are NaN or infinite")
    return image


def mold_image(image: np.ndarray, config) -> np.ndarray:
    """Resized uint8 image -> float32 network input (``MEAN_PIXEL`` subtracted)."""
    return image.astype(np.float32) - np.asarray(config.MEAN_PIXEL, np.float32)


def mold_inputs(images: Sequence[np.ndarray], config):
    """Resize, pad and normalise ``images`` for inference; returns
    ``(molded [N, H, W, C] float32, metas [N, META], windows [N, 4])``."""
    molded, metas, windows = [], [], []
    for image in images:
        resized, window, scale, _, _ = resize_image(
            image, config.IMAGE_MIN_DIM, config.IMAGE_MAX_DIM, config.IMAGE_MIN_SCALE,
            inference_resize_mode(config))
        molded.append(mold_image(resized, config))
        metas.append(compose_image_meta(0, image.shape, resized.shape, window, scale,
                                        np.ones(config.NUM_CLASSES, np.int32)))
        windows.append(window)
    return np.stack(molded), np.stack(metas), np.array(windows)


def unmold_detections(detections: np.ndarray, masks: np.ndarray, original_shape,
                      molded_shape, window, min_score: float = 0.0,
                      class_names: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    """Map one image's detections back to its original pixels.

    detections ``[D, 6]`` normalized (zero rows = padding), masks ``[D, h, w]``;
    detections scoring below ``min_score`` are dropped before their masks are pasted, and
    those whose box rounds to nothing after them. Returns ``rois`` ``[N, 4]`` int32,
    ``class_ids`` ``[N]`` int32, ``scores`` ``[N]`` float32, ``masks`` ``[H, W, N]`` bool
    and, when ``class_names`` is given, ``class_names`` ``[N]``.
    """
    n = int(np.sum(detections[:, 4] > 0))
    kept = detections[:n, 5] >= min_score
    detections, masks = detections[:n][kept], masks[:n][kept]
    boxes = denorm_boxes(detections[:, :4], molded_shape[:2]).numpy()
    wy1, wx1, wy2, wx2 = window
    scale_y = original_shape[0] / max(wy2 - wy1, 1)
    scale_x = original_shape[1] / max(wx2 - wx1, 1)
    boxes = (boxes - np.array([wy1, wx1, wy1, wx1])) * np.array([scale_y, scale_x] * 2)
    rois = np.round(boxes).astype(np.int32)
    keep = (rois[:, 2] > rois[:, 0]) & (rois[:, 3] > rois[:, 1])
    height, width = original_shape[:2]
    if keep.any():
        full = paste_masks(masks[keep], boxes[keep].astype(np.float32), (height, width))
        full = np.transpose(full.numpy(), (1, 2, 0))
    else:
        full = np.zeros((height, width, 0), bool)
    class_ids = detections[:, 4][keep].astype(np.int32)
    result = {"rois": rois[keep], "class_ids": class_ids,
              "scores": detections[:, 5][keep].astype(np.float32), "masks": full}
    if class_names is not None:
        result["class_names"] = [class_names[i] for i in class_ids]
    return result


# ------------------------------------------------------------------------ TensorFlow path
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


def mold_inputs_tf(images: tf.Tensor, config):
    """:func:`mold_inputs` in TensorFlow for a uint8 batch ``[B, H, W, C]`` of one size:
    returns ``(molded [B, h, w, C] float32, metas [B, META], window [4] int32,
    molded (h, w) [2] int32)``."""
    mode = inference_resize_mode(config)
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
    parts = image_meta_parts(0, tf.stack([height, width, shape[3]]),
                             tf.stack([out_h, out_w, tf.constant(config.IMAGE_CHANNEL_COUNT)]),
                             window, scale, tf.ones([config.NUM_CLASSES]))
    meta = tf.concat([tf.reshape(tf.cast(part, tf.float32), [-1]) for part in parts], axis=0)
    metas = tf.tile(meta[None], [batch, 1])
    return molded, metas, window, tf.stack([out_h, out_w])


def unmold_detections_tf(detections: tf.Tensor, masks: tf.Tensor, window, molded_hw,
                         height, width) -> dict[str, tf.Tensor]:
    """:func:`unmold_detections` in TensorFlow for a batch of one size: detections
    ``[B, D, 6]`` and masks ``[B, D, h, w]`` of images ``height x width`` molded into
    ``window`` of ``molded_hw`` -> the serving outputs (:mod:`mrcnn.export`):
    ``num_detections`` ``[B]``, then, kept detections first in score order and zero past
    ``num_detections``, ``boxes`` ``[B, K, 4]`` int32, ``class_ids``, ``scores`` and
    ``masks`` ``[B, K, height, width]`` uint8."""
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
