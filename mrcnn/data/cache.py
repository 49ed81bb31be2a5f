"""Keep a (downscaled) copy of a small data set in memory.

Real photos are often far larger than the network input (the balloon images are up to
2048 px, the network sees 256-512 px), and decoding a JPEG and rasterising its polygons
every step costs more CPU than the training step on a laptop. ``CachedDataset`` wraps a
prepared data set: same classes, same images (same internal ids), with ``load_image`` and
``load_mask`` computed once per image and kept in memory, optionally downscaled so that
the longer side is at most ``max_dim``::

    train = CachedDataset(balloon_train, max_dim=512)   # about 0.8 MB a 512 px image

Images shrink with ``cv2.INTER_AREA``; masks shrink with it too and are thresholded at
one half, so boxes recomputed from them follow the image. Instances whose mask vanishes
(thinner than a pixel at the new size) are dropped. Evaluation on a ``CachedDataset``
happens at its (downscaled) resolution.
"""

from __future__ import annotations

import threading

import cv2
import numpy as np

from mrcnn.data.dataset import Dataset, WrappedDataset


class CachedDataset(WrappedDataset):
    """A prepared ``Dataset``'s classes and images, memoised and optionally downscaled."""

    def __init__(self, dataset: Dataset, max_dim: int | None = None, cache: bool = True):
        super().__init__(dataset)
        if max_dim is not None and max_dim < 1:
            raise ValueError(f"CachedDataset: max_dim must be positive, got {max_dim}")
        self.max_dim = max_dim
        self.cache = cache
        self.image_info = [dict(info) for info in dataset.image_info]
        for info in self.image_info:  # sizes as served (evaluation reads them)
            if "height" in info and "width" in info:
                info["height"], info["width"] = self._size(int(info["height"]),
                                                           int(info["width"]))
        self._images: dict[int, np.ndarray] = {}
        self._masks: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._crowd_masks: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._lock = threading.Lock()
        self.prepare()

    def _scale(self, height: int, width: int) -> float:
        if self.max_dim is None or max(height, width) <= self.max_dim:
            return 1.0
        return self.max_dim / max(height, width)

    def _size(self, height: int, width: int) -> tuple[int, int]:
        scale = self._scale(height, width)
        return max(1, round(height * scale)), max(1, round(width * scale))

    def load_image(self, image_id: int) -> np.ndarray:
        image = self._images.get(image_id)
        if image is None:
            image = self.dataset.load_image(image_id)
            size = self._size(*image.shape[:2])
            if size != image.shape[:2]:
                image = cv2.resize(image, size[::-1], interpolation=cv2.INTER_AREA)
            if self.cache:
                with self._lock:
                    self._images[image_id] = image
        return image

    def load_mask(self, image_id: int) -> tuple[np.ndarray, np.ndarray]:
        return self._cached(self._masks, image_id, self.dataset.load_mask)

    def load_mask_with_crowd(self, image_id: int) -> tuple[np.ndarray, np.ndarray]:
        """The wrapped data set's masks with crowd regions, downscaled and kept (training
        reads masks through this); ``load_mask``'s entry when the wrapped data set has no
        crowd regions of its own."""
        if not self.has_crowd:
            return self.load_mask(image_id)
        return self._cached(self._crowd_masks, image_id, self.dataset.load_mask_with_crowd)

    def _cached(self, store: dict, image_id: int, load) -> tuple[np.ndarray, np.ndarray]:
        """``load(image_id)`` downscaled, kept in ``store``; copies are served."""
        entry = store.get(image_id)
        if entry is None:
            entry = self._shrink(*load(image_id))
            if self.cache:
                with self._lock:
                    store[image_id] = entry
        masks, class_ids = entry
        return masks.copy(), class_ids.copy()

    def _shrink(self, masks, class_ids) -> tuple[np.ndarray, np.ndarray]:
        """Masks at the served size; instances that vanish are dropped."""
        masks = np.asarray(masks, bool)
        class_ids = np.asarray(class_ids, np.int32).reshape(-1)
        if masks.ndim == 3 and masks.shape[0] and masks.shape[1]:
            size = self._size(*masks.shape[:2])
            if size != masks.shape[:2]:
                masks = _shrink_masks(masks, size)
                keep = masks.any(axis=(0, 1))
                masks, class_ids = masks[..., keep], class_ids[keep]
        return masks, class_ids

    def image_reference(self, image_id: int) -> str:
        return self.dataset.image_reference(image_id)


def _shrink_masks(masks: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    out = np.zeros(size + (masks.shape[-1],), bool)
    for i in range(masks.shape[-1]):
        small = cv2.resize(masks[..., i].astype(np.float32), size[::-1],
                           interpolation=cv2.INTER_AREA)
        out[..., i] = small >= 0.5
    return out
