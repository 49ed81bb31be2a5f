"""A view of some images of a prepared data set, and a fixed hold-out split.

The command line (``python -m mrcnn train --dataset ... --holdout N``) and any script can
train on part of a data set and evaluate on the rest without loading it twice.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from mrcnn.data.dataset import Dataset, WrappedDataset


class DatasetSubset(WrappedDataset):
    """The images ``image_ids`` of a prepared ``dataset``, renumbered 0..N-1; same classes.

    Image ``i`` of the subset is image ``image_ids[i]`` of ``dataset``: images, masks
    (with crowd regions) and references are the wrapped data set's.
    """

    def __init__(self, dataset: Dataset, image_ids: Sequence[int]):
        super().__init__(dataset)
        ids = [int(i) for i in image_ids]
        bad = [i for i in ids if not 0 <= i < dataset.num_images]
        if bad:
            raise ValueError(f"DatasetSubset: image ids {bad[:5]} are not in the data set "
                             f"({dataset.num_images} images)")
        self.parent_ids = ids
        self.image_info = [dict(dataset.image_info[i]) for i in ids]
        self.prepare()

    def load_image(self, image_id: int) -> np.ndarray:
        return self.dataset.load_image(self.parent_ids[image_id])

    def load_mask(self, image_id: int) -> tuple[np.ndarray, np.ndarray]:
        return self.dataset.load_mask(self.parent_ids[image_id])

    def load_mask_with_crowd(self, image_id: int) -> tuple[np.ndarray, np.ndarray]:
        return self.dataset.load_mask_with_crowd(self.parent_ids[image_id])

    def image_reference(self, image_id: int) -> str:
        return self.dataset.image_reference(self.parent_ids[image_id])

    def check_image(self, image_id: int, config=None) -> list[str]:
        return self.dataset.check_image(self.parent_ids[image_id], config)

    @property
    def repairs(self) -> dict[str, list[str]]:
        return self.dataset.repairs


def holdout_split(dataset: Dataset, holdout: int) -> tuple[DatasetSubset, DatasetSubset]:
    """``(train, held out)``: the last ``holdout`` images in registration order are held
    out (fixed, so every run and every head is scored on the same images)."""
    n = dataset.num_images
    if not 0 < holdout < n:
        raise ValueError(f"cannot hold out {holdout} of {n} images: need 0 < holdout < {n}")
    return (DatasetSubset(dataset, range(n - holdout)),
            DatasetSubset(dataset, range(n - holdout, n)))
