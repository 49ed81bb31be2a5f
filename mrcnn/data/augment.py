"""Image augmentations that keep instance masks aligned with the pixels.

Every augmentation is a callable ``fn(image, masks, rng) -> (image, masks)`` — the
``Augmentation`` contract of :mod:`mrcnn.engine.input_pipeline` — taking ``image`` ``[H, W, C]``
uint8, ``masks`` ``[H, W, N]`` bool (N may be 0) and a ``numpy.random.Generator``. All randomness
comes from ``rng``, so the same generator state gives the same output. The training
pipeline applies the augmentation after resizing (so on ``IMAGE_SHAPE`` images) and
recomputes boxes from the masks afterwards; instances whose masks become empty (cropped
away) are dropped there.

Geometric transforms (:class:`Fliplr`, :class:`Flipud`, :class:`Rot90`,
:class:`ScaleJitter`, :class:`RandomCrop`) move image and masks together; photometric ones
(:class:`Brightness`, :class:`Contrast`) change the image only. Except :class:`Rot90` by an
odd number of quarter turns on a non-square image, all keep the image size (the graph's
input size in "square" mode)::

    from mrcnn.data import augment

    augmentation = augment.Compose([
        augment.Sometimes(0.5, augment.Fliplr()),
        augment.Sometimes(0.5, augment.ScaleJitter(0.8, 1.25)),
        augment.Sometimes(0.5, augment.OneOf([augment.Brightness(30),
                                              augment.Contrast(0.75, 1.25)])),
    ])
    model.train(train_set, val_set, learning_rate, epochs, augmentation=augmentation)

:class:`CopyPaste` (Ghiasi et al.) wraps such a per-image augmentation and pastes objects of
another training image on the sample (:mod:`mrcnn.data.copy_paste`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import cv2
import numpy as np

from mrcnn.data.copy_paste import CopyPaste  # the data-set-level one, re-exported here

AugmentFn = Callable[[np.ndarray, np.ndarray, np.random.Generator], tuple]

__all__ = ["Brightness", "Compose", "Contrast", "CopyPaste", "Fliplr", "Flipud", "OneOf",
           "RandomCrop", "Rot90", "ScaleJitter", "Sometimes", "default_augmentation"]


def _check(image: np.ndarray, masks: np.ndarray) -> None:
    if image.ndim != 3 or masks.ndim != 3 or image.shape[:2] != masks.shape[:2]:
        raise ValueError(f"augmentation: expected image [H, W, C] and masks [H, W, N] of the "
                         f"same H, W; got {image.shape} and {masks.shape}")


class Fliplr:
    """Mirror left-right."""

    def __call__(self, image, masks, rng):
        _check(image, masks)
        return np.ascontiguousarray(image[:, ::-1]), np.ascontiguousarray(masks[:, ::-1])

    def __repr__(self):
        return "Fliplr()"


class Flipud:
    """Mirror top-bottom."""

    def __call__(self, image, masks, rng):
        _check(image, masks)
        return np.ascontiguousarray(image[::-1]), np.ascontiguousarray(masks[::-1])

    def __repr__(self):
        return "Flipud()"


class Rot90:
    """Rotate by ``k`` quarter turns counter-clockwise; ``k=None`` draws k from {1, 2, 3}.

    On a non-square image an odd ``k`` swaps height and width: use it with square inputs
    (``IMAGE_RESIZE_MODE = "square"``, the default), where the size is kept.
    """

    def __init__(self, k: int | None = None):
        self.k = k

    def __call__(self, image, masks, rng):
        _check(image, masks)
        k = int(rng.integers(1, 4)) if self.k is None else int(self.k)
        return (np.ascontiguousarray(np.rot90(image, k, axes=(0, 1))),
                np.ascontiguousarray(np.rot90(masks, k, axes=(0, 1))))

    def __repr__(self):
        return f"Rot90(k={self.k})"


def _resize(array: np.ndarray, height: int, width: int, interpolation: int) -> np.ndarray:
    """cv2.resize of ``[H, W, C]`` (any C, also 0) keeping the channel axis."""
    channels = array.shape[2]
    if channels == 0:
        return np.zeros((height, width, 0), array.dtype)
    chunks = []
    for start in range(0, channels, 512):  # cv2 handles at most 512 channels
        chunk = cv2.resize(array[..., start:start + 512], (width, height),
                           interpolation=interpolation)
        chunks.append(chunk.reshape(height, width, -1))
    return np.concatenate(chunks, axis=2) if len(chunks) > 1 else chunks[0]


def _zoom(image: np.ndarray, masks: np.ndarray, scale: float,
          rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Scale image and masks by ``scale``, then randomly crop (zoom in) or pad (zoom out)
    back to the input size; pad pixels are 0 (the molded image's padding colour)."""
    height, width = image.shape[:2]
    new_h, new_w = max(1, round(height * scale)), max(1, round(width * scale))
    if (new_h, new_w) == (height, width):
        return image, masks
    scaled = _resize(image, new_h, new_w, cv2.INTER_LINEAR).astype(image.dtype)
    # Masks: bilinear on {0, 1} then >= 0.5, so they stay centred on the bilinear image
    # (cv2's INTER_NEAREST samples without the half-pixel offset and shifts them).
    scaled_masks = _resize(masks.astype(np.float32), new_h, new_w, cv2.INTER_LINEAR) >= 0.5
    out = np.zeros_like(image)
    out_masks = np.zeros(masks.shape, bool)
    # Offsets of the scaled picture in the output frame (negative: it is cropped).
    dy = int(rng.integers(min(0, height - new_h), max(0, height - new_h) + 1))
    dx = int(rng.integers(min(0, width - new_w), max(0, width - new_w) + 1))
    oy1, ox1 = max(dy, 0), max(dx, 0)
    oy2, ox2 = min(dy + new_h, height), min(dx + new_w, width)
    out[oy1:oy2, ox1:ox2] = scaled[oy1 - dy:oy2 - dy, ox1 - dx:ox2 - dx]
    out_masks[oy1:oy2, ox1:ox2] = scaled_masks[oy1 - dy:oy2 - dy, ox1 - dx:ox2 - dx]
    return out, out_masks


class ScaleJitter:
    """Zoom by a factor drawn log-uniformly from ``[low, high]``, keeping the output size.

    A factor above 1 scales up and crops a random window (a random crop); below 1 scales
    down and pads at a random place. Images: bilinear; masks: bilinear, thresholded at 0.5.
    """

    def __init__(self, low: float = 0.8, high: float = 1.25):
        if not 0 < low <= high:
            raise ValueError(f"ScaleJitter: need 0 < low <= high, got {low}, {high}")
        self.low, self.high = float(low), float(high)

    def __call__(self, image, masks, rng):
        _check(image, masks)
        scale = float(np.exp(rng.uniform(np.log(self.low), np.log(self.high))))
        return _zoom(image, masks, scale, rng)

    def __repr__(self):
        return f"ScaleJitter(low={self.low}, high={self.high})"


class RandomCrop:
    """Crop a random window of ``fraction`` ∈ [min_fraction, 1] of each side (same aspect
    ratio) and resize it back to the full size: a zoom-in random crop."""

    def __init__(self, min_fraction: float = 0.7):
        if not 0 < min_fraction <= 1:
            raise ValueError(f"RandomCrop: min_fraction must be in (0, 1], got {min_fraction}")
        self.min_fraction = float(min_fraction)

    def __call__(self, image, masks, rng):
        _check(image, masks)
        fraction = float(rng.uniform(self.min_fraction, 1.0))
        return _zoom(image, masks, 1.0 / fraction, rng)

    def __repr__(self):
        return f"RandomCrop(min_fraction={self.min_fraction})"


class Brightness:
    """Add a value drawn uniformly from ``[-delta, delta]`` to every pixel (clipped)."""

    def __init__(self, delta: float = 32):
        self.delta = float(delta)

    def __call__(self, image, masks, rng):
        _check(image, masks)
        shift = rng.uniform(-self.delta, self.delta)
        return np.clip(image.astype(np.float32) + shift, 0, 255).round().astype(np.uint8), masks

    def __repr__(self):
        return f"Brightness(delta={self.delta})"


class Contrast:
    """Scale deviations from the image mean by a factor from ``[low, high]`` (clipped)."""

    def __init__(self, low: float = 0.75, high: float = 1.25):
        if not 0 <= low <= high:
            raise ValueError(f"Contrast: need 0 <= low <= high, got {low}, {high}")
        self.low, self.high = float(low), float(high)

    def __call__(self, image, masks, rng):
        _check(image, masks)
        factor = rng.uniform(self.low, self.high)
        pixels = image.astype(np.float32)
        mean = pixels.mean(axis=(0, 1), keepdims=True)
        out = (pixels - mean) * factor + mean
        return np.clip(out, 0, 255).round().astype(np.uint8), masks

    def __repr__(self):
        return f"Contrast(low={self.low}, high={self.high})"


class Sometimes:
    """Apply ``fn`` with probability ``p`` (one draw from ``rng`` either way)."""

    def __init__(self, p: float, fn: AugmentFn):
        if not 0 <= p <= 1:
            raise ValueError(f"Sometimes: p must be in [0, 1], got {p}")
        self.p, self.fn = float(p), fn

    def __call__(self, image, masks, rng):
        if rng.random() < self.p:
            return self.fn(image, masks, rng)
        return image, masks

    def __repr__(self):
        return f"Sometimes({self.p}, {self.fn!r})"


class OneOf:
    """Apply one of ``fns``, chosen with probabilities ``weights`` (uniform by default)."""

    def __init__(self, fns: Sequence[AugmentFn], weights: Sequence[float] | None = None):
        if not fns:
            raise ValueError("OneOf: needs at least one augmentation")
        self.fns = list(fns)
        weights = np.ones(len(fns)) if weights is None else np.asarray(weights, float)
        if weights.shape != (len(fns),) or (weights < 0).any() or weights.sum() <= 0:
            raise ValueError(f"OneOf: need {len(fns)} non-negative weights, got {weights}")
        self.weights = weights / weights.sum()

    def __call__(self, image, masks, rng):
        return self.fns[int(rng.choice(len(self.fns), p=self.weights))](image, masks, rng)

    def __repr__(self):
        return f"OneOf({self.fns!r})"


class Compose:
    """Apply ``steps`` in order. A step is an augmentation, or ``(p, augmentation)`` to
    apply it with probability ``p`` (same as ``Sometimes(p, augmentation)``)."""

    def __init__(self, steps: Sequence[AugmentFn | tuple[float, AugmentFn]]):
        self.steps: list[AugmentFn] = []
        for step in steps:
            if isinstance(step, tuple):
                p, fn = step
                step = Sometimes(p, fn)
            if not callable(step):
                raise TypeError(f"Compose: {step!r} is not callable")
            self.steps.append(step)

    def __call__(self, image, masks, rng):
        for step in self.steps:
            image, masks = step(image, masks, rng)
        return image, masks

    def __repr__(self):
        return f"Compose({self.steps!r})"


def default_augmentation(flip_ud: bool = False, rotate: bool = False,
                         scale: tuple[float, float] = (0.8, 1.25),
                         scale_p: float = 0.5) -> Compose:
    """Horizontal flip (p 0.5), scale jitter in ``scale`` (p ``scale_p``), brightness or
    contrast (p 0.5); optionally vertical flips and quarter turns (for top-down imagery)."""
    steps: list = [(0.5, Fliplr())]
    if flip_ud:
        steps.append((0.5, Flipud()))
    if rotate:
        steps.append((0.5, Rot90()))
    steps += [(scale_p, ScaleJitter(*scale)),
              (0.5, OneOf([Brightness(32), Contrast(0.75, 1.25)]))]
    return Compose(steps)
