"""Training input: loading, molding (:mod:`mrcnn.preprocessing`) and padding ground truth,
as a ``tf.data`` pipeline."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

import numpy as np
import tensorflow as tf

from mrcnn.data.boxes_from_masks import extract_bboxes
from mrcnn.data.copy_paste import CopyPaste, paste
from mrcnn.data.dataset import load_ground_truth, mask_problems
from mrcnn.data.image_convert import to_rgb_uint8
from mrcnn.data.resize import minimize_mask, resize_image, resize_mask
from mrcnn.ops.image_meta import compose_image_meta
from mrcnn.preprocessing import mold_image

logger = logging.getLogger(__name__)

# An augmentation takes (image [H, W, 3] uint8, masks [H, W, N] bool, rng) and returns
# the transformed (image, masks); boxes are recomputed from the masks afterwards.
Augmentation = Callable[[np.ndarray, np.ndarray, np.random.Generator], tuple]

# ``layers=`` presets of :meth:`MaskRCNN.train`: regular expressions over layer names.
LAYER_PRESETS = {
    "heads": r"(mrcnn\_.*)|(rpn\_.*)|(fpn\_.*)",
    "3+": r"(res[3-5].*)|([bg]n[3-5].*)|(mrcnn\_.*)|(rpn\_.*)|(fpn\_.*)",
    "4+": r"(res[45].*)|([bg]n[45].*)|(mrcnn\_.*)|(rpn\_.*)|(fpn\_.*)",
    "5+": r"(res5.*)|([bg]n5.*)|(mrcnn\_.*)|(rpn\_.*)|(fpn\_.*)",
    "all": ".*",
}


def layers_regex(layers: str) -> str:
    """The regular expression of a ``layers=`` preset, or ``layers`` itself."""
    regex = LAYER_PRESETS.get(layers, layers)
    try:
        re.compile(regex)
    except re.error as err:
        raise ValueError(f"layers={layers!r} is neither a preset {sorted(LAYER_PRESETS)} "
                         f"nor a valid regular expression: {err}") from None
    return regex


def load_image_gt(dataset, config, image_id: int, augmentation: Augmentation | None = None,
                  rng: np.random.Generator | None = None):
    """Load, resize and (optionally) augment one image and its ground truth.

    Returns ``(image [H, W, 3] uint8, image_meta, class_ids [N] int32,
    boxes [N, 4] int32 pixels, masks [h, w, N] bool)``; masks are mini masks when
    ``config.USE_MINI_MASK``. Crowd regions (``Dataset.load_mask_with_crowd``) come with
    negative class ids: the target layers keep proposals on them out of the negatives.
    Instances whose mask is empty (as given, or after resizing, cropping or augmentation)
    are dropped (logged at debug level); an image left with no instance is a valid,
    all-background sample. A :class:`~mrcnn.data.copy_paste.CopyPaste` augmentation
    pastes objects of another image of ``dataset``. ``load_image`` results are converted
    with :func:`~mrcnn.data.image_convert.to_rgb_uint8`. Masks that do not fit the image,
    or class ids that do not fit the masks or the configuration, raise ``ValueError``
    naming the data set class, image id and path.
    """
    rng = rng or np.random.default_rng()
    copy_paste = augmentation if isinstance(augmentation, CopyPaste) else None
    per_image = copy_paste.per_image if copy_paste is not None else augmentation
    image, masks, class_ids, original_shape, window, scale = _load_resized(
        dataset, config, image_id, per_image, rng)
    if copy_paste is not None and copy_paste.p > 0 and rng.random() < copy_paste.p:
        other = int(rng.choice(np.asarray(dataset.image_ids)))
        source_image, source_masks, source_ids, *_ = _load_resized(
            dataset, config, other, per_image, rng)
        image, masks, class_ids = paste(image, masks, class_ids, source_image, source_masks,
                                        source_ids, rng, config.MAX_GT_INSTANCES)
    keep = masks.any(axis=(0, 1))
    if not keep.all():
        logger.debug("image %s: dropping %d instance(s) with empty masks", image_id,
                     int((~keep).sum()))
        masks, class_ids = masks[..., keep], class_ids[keep]
    boxes = extract_bboxes(masks)
    if config.USE_MINI_MASK:
        masks = minimize_mask(boxes, masks, config.MINI_MASK_SHAPE)
    active = np.ones(config.NUM_CLASSES, np.int32)
    meta = compose_image_meta(image_id, original_shape, image.shape, window, scale, active)
    return image, meta, class_ids, boxes, masks


def _load_resized(dataset, config, image_id: int, augmentation: Augmentation | None,
                  rng: np.random.Generator):
    """One image checked, resized to the config's size and augmented: ``(image, masks
    [H, W, N] bool, class_ids [N], original shape, window, scale)``."""
    image = dataset.load_image(image_id)
    if config.IMAGE_CHANNEL_COUNT == 3:
        image = to_rgb_uint8(image, _where(dataset, image_id) + ": load_image result")
    masks, class_ids = load_ground_truth(dataset, image_id)
    problems, masks, class_ids = mask_problems(masks, class_ids, image.shape,
                                               config.NUM_CLASSES, crowd=True)
    if problems:
        raise ValueError(f"{_where(dataset, image_id)}: " + "; ".join(problems)
                         + ". dataset.validate() lists every problem of the data set at once.")
    original_shape = image.shape
    image, window, scale, padding, crop = resize_image(
        image, config.IMAGE_MIN_DIM, config.IMAGE_MAX_DIM, config.IMAGE_MIN_SCALE,
        config.IMAGE_RESIZE_MODE, rng)
    masks = resize_mask(masks, scale, padding, crop)
    if augmentation is not None:
        image, masks = augmentation(image, masks, rng)
        masks = np.asarray(masks)
        if masks.ndim != 3 or masks.shape[:2] != image.shape[:2] or masks.shape[2] != len(
                class_ids):
            raise ValueError(f"{_where(dataset, image_id)}: the augmentation returned masks of "
                             f"shape {masks.shape} for an image of shape {image.shape} and "
                             f"{len(class_ids)} instance(s)")
    return image, masks, class_ids, original_shape, window, scale


def _where(dataset, image_id: int) -> str:
    """``"ShapesDataset image 3 (path)"``: how errors name an image."""
    try:
        reference = dataset.image_reference(image_id)
    except Exception:
        reference = ""
    return f"{type(dataset).__name__} image {image_id}" + (f" ({reference})" if reference else "")


def pad_ground_truth(class_ids, boxes, masks, max_instances: int, rng: np.random.Generator):
    """Pad (or randomly subsample) ground truth to exactly ``max_instances``."""
    n = len(class_ids)
    if n > max_instances:
        keep = np.sort(rng.choice(n, max_instances, replace=False))
        class_ids, boxes, masks = class_ids[keep], boxes[keep], masks[..., keep]
        n = max_instances
    pad = max_instances - n
    class_ids = np.pad(class_ids, (0, pad))
    boxes = np.pad(boxes.astype(np.float32), ((0, pad), (0, 0)))
    masks = np.pad(masks, ((0, 0), (0, 0), (0, pad)))
    return class_ids, boxes, masks


def build_dataset(dataset, config, shuffle: bool = True,
                  augmentation: Augmentation | None = None, seed: int = 0,
                  repeat: bool = True, shard: tuple[int, int] = (1, 0),
                  batch_size: int | None = None) -> tf.data.Dataset:
    """Batches of ``batch_size`` (default ``config.BATCH_SIZE``) training inputs keyed by
    the training model's input names.

    Images are loaded and molded in parallel workers (``num_parallel_calls``) and
    prefetched, so the compiled step does not wait on Python. ``shard=(n, i)`` keeps
    the images at positions ``i, i + n, ...`` of ``dataset.image_ids`` (worker ``i`` of
    ``n`` reads only its own, but for the images a Copy-Paste augmentation pastes from,
    which come from the whole data set). Sample ``k`` of shard ``i`` draws its augmentation from
    ``np.random.default_rng([seed, k * n + i])``, so a run is repeatable for a given
    ``seed`` whatever the parallelism.
    """
    image_ids = np.asarray(dataset.image_ids, dtype=np.int64)
    if len(image_ids) == 0:
        raise ValueError("the training dataset has no images; did you call prepare()?")
    shards, shard_index = shard
    if len(image_ids) < shards:  # every worker raises, none waits for the others
        raise ValueError(f"the dataset has {len(image_ids)} image(s), fewer than the "
                         f"{shards} workers that each read their own share")
    image_ids = image_ids[shard_index::shards]
    batch_size = config.BATCH_SIZE if batch_size is None else batch_size
    mask_hw = (tuple(config.MINI_MASK_SHAPE) if config.USE_MINI_MASK
               else tuple(int(v) for v in config.IMAGE_SHAPE[:2]))
    fixed_size = config.IMAGE_RESIZE_MODE in ("square", "crop")
    image_hw = tuple(int(v) for v in config.IMAGE_SHAPE[:2]) if fixed_size else (None, None)
    if not fixed_size and batch_size > 1:
        raise ValueError(f"IMAGE_RESIZE_MODE={config.IMAGE_RESIZE_MODE!r} gives images of "
                         "different sizes; train with BATCH_SIZE 1 or use 'square'/'crop'")
    if not fixed_size:
        mask_hw = mask_hw if config.USE_MINI_MASK else (None, None)

    def load(index: np.int64, image_id: np.int64):
        rng = np.random.default_rng([seed, int(index) * shards + shard_index])
        image, meta, class_ids, boxes, masks = load_image_gt(
            dataset, config, int(image_id), augmentation, rng)
        class_ids, boxes, masks = pad_ground_truth(class_ids, boxes, masks,
                                                   config.MAX_GT_INSTANCES, rng)
        # uint8 (0/1), not bool: under tf.distribute Keras averages the first batch across
        # replicas to build the model, which has no kernel for bool. The graph's
        # input_gt_masks casts it back to bool.
        return mold_image(image, config), meta, class_ids, boxes, masks.astype(np.uint8)

    def to_inputs(index, image_id):
        image, meta, class_ids, boxes, masks = tf.numpy_function(
            load, [index, image_id], [tf.float32, tf.float32, tf.int32, tf.float32, tf.uint8],
            stateful=False)
        image.set_shape(image_hw + (config.IMAGE_CHANNEL_COUNT,))
        meta.set_shape((config.IMAGE_META_SIZE,))
        class_ids.set_shape((config.MAX_GT_INSTANCES,))
        boxes.set_shape((config.MAX_GT_INSTANCES, 4))
        masks.set_shape(mask_hw + (config.MAX_GT_INSTANCES,))
        return {"input_image": image, "input_image_meta": meta, "input_gt_class_ids": class_ids,
                "input_gt_boxes": boxes, "input_gt_masks": masks}

    ids = tf.data.Dataset.from_tensor_slices(image_ids)
    if repeat:
        ids = ids.repeat()
    if shuffle:
        ids = ids.shuffle(min(len(image_ids), 10000), seed=seed, reshuffle_each_iteration=True)
    return (ids.enumerate()
            .map(to_inputs, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
            .batch(batch_size, drop_remainder=True)
            .prefetch(tf.data.AUTOTUNE))
