"""Training input: loading, molding (:mod:`mrcnn.preprocessing`) and padding ground truth,
as a ``tf.data`` pipeline."""

from __future__ import annotations

import collections
import contextlib
import gc
import logging
import re
import threading
from collections.abc import Callable, Iterator

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


class InputError(ValueError):
    """One image of a data set could not be made into a model input (unreadable file,
    masks that do not fit, a failing augmentation or ``load_mask``): the message names
    the data set, image id and file. ``image_id`` is the internal id, ``reference`` the
    path (or ``image_reference()``)."""

    def __init__(self, message: str, image_id: int | None = None, reference: str = ""):
        super().__init__(message)
        self.image_id, self.reference = image_id, reference


class _RaisedInPipelines:
    """The :class:`InputError` s raised inside ``tf.data`` workers of this process, in
    order. TensorFlow hands the training loop only an ``OpError`` carrying the Python
    error's text; :func:`input_errors_raised` takes the error itself from here."""

    def __init__(self):
        self._lock = threading.Lock()
        self._recorded = 0
        self._newest: collections.deque = collections.deque(maxlen=16)

    def add(self, error: InputError) -> None:
        with self._lock:
            self._recorded += 1
            self._newest.append((self._recorded, error))

    def count(self) -> int:
        """How many errors were recorded so far: a marker for :meth:`first_since`."""
        with self._lock:
            return self._recorded

    def first_since(self, marker: int) -> InputError | None:
        """The oldest error recorded after :meth:`count` returned ``marker``."""
        with self._lock:
            return next((error for number, error in self._newest if number > marker), None)


RAISED_IN_PIPELINES = _RaisedInPipelines()


def as_input_error(error: BaseException, dataset, image_id: int) -> InputError:
    """``error`` raised while loading image ``image_id`` as an :class:`InputError` that
    names the image once (errors of the data readers already name it)."""
    if isinstance(error, InputError):
        return error
    where = _where(dataset, image_id)
    try:
        reference = str(dataset.image_reference(image_id) or "")
    except Exception:
        reference = ""
    text = str(error) or type(error).__name__
    named = (reference and reference in text) or text.startswith(where)
    if not isinstance(error, (ValueError, OSError)):
        text = f"{type(error).__name__}: {text}"
    return InputError(text if named else f"{where}: {text}", image_id, reference)


@contextlib.contextmanager
def input_errors_raised(*holders) -> Iterator[None]:
    """Run a loop over ``tf.data`` pipelines built by :func:`build_dataset`, so that a
    failure never hangs the process and surfaces as the error the data raised.

    When the loop fails, the iterators of the failed pipelines are destroyed here,
    while Python still runs: their parallel ``numpy_function`` calls need the
    interpreter to finish, and an iterator left to the interpreter's shutdown (kept
    alive by the traceback, or by ``holders``' attributes that Keras sets, such as its
    cached validation iterator) waits forever for calls that can no longer run. A
    failure caused by an :class:`InputError` raised in a pipeline is re-raised as that
    error; any other is re-raised as it is.
    """
    marker = RAISED_IN_PIPELINES.count()
    try:
        yield
    except BaseException as error:
        cause = (RAISED_IN_PIPELINES.first_since(marker)
                 if isinstance(error, tf.errors.OpError) else None)
        for holder in holders:
            if getattr(holder, "_eval_epoch_iterator", None) is not None:
                holder._eval_epoch_iterator = None
        _release_frames(error)
        gc.collect()
        if cause is None:
            raise
        raise cause from None


def _release_frames(error: BaseException) -> None:
    """Clear the local variables of the finished frames that ``error`` (and the errors
    it chains) keeps alive: those of its traceback, and the callers they point back to,
    which a filtered traceback (Keras and TensorFlow drop their own frames) still keeps
    alive. Frames still running are left as they are."""
    seen: set[int] = set()
    pending = [error]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        pending += [current.__cause__, current.__context__]
        tb = current.__traceback__
        while tb is not None:
            frame = tb.tb_frame
            while frame is not None:
                try:
                    frame.clear()
                except RuntimeError:  # still running: so are its callers
                    break
                frame = frame.f_back
            tb = tb.tb_next


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
                         + " (mrcnn check, or dataset.validate(), lists every problem of a "
                         "data set at once)")
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
        try:
            image, meta, class_ids, boxes, masks = load_image_gt(
                dataset, config, int(image_id), augmentation, rng)
        except Exception as error:
            failure = as_input_error(error, dataset, int(image_id))
            RAISED_IN_PIPELINES.add(failure)
            raise failure from error
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
