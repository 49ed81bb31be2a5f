"""Instance label images: one label PNG per image, 0 = background, 1..N = instances.

    dataset = LabelImageDataset()
    dataset.load_label_images(sorted(glob("PNGImages/*.png")),
                              sorted(glob("PedMasks/*_mask.png")), class_name="pedestrian")
    dataset.prepare()

This is the layout of Penn-Fudan (``PedMasks``), of many medical and cell data sets and
of panoptic-style instance maps. Label images are read with Pillow without colour
conversion: 8-bit grey ("L"), palette ("P": the palette index is the label) and 16/32-bit
integer images ("I;16", "I") are accepted, so more than 255 instances fit. Every
non-zero value is one instance (values need not be contiguous); all instances are of
one class, ``class_name``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence

import numpy as np
from PIL import Image

from mrcnn.data.dataset import Dataset

logger = logging.getLogger(__name__)

LABEL_MODES = ("1", "L", "P", "I", "I;16", "I;16B", "I;16L")


class LabelImageDataset(Dataset):
    """A ``Dataset`` of (image, instance label image) file pairs."""

    def load_label_images(self, image_paths: Sequence[str | os.PathLike],
                          label_paths: Sequence[str | os.PathLike],
                          class_name: str = "object", source: str = "label_image",
                          check_sizes: bool = True) -> None:
        """Register one class and the image / label pairs (paired by position).

        Missing files raise FileNotFoundError naming the pair. With ``check_sizes`` (the
        default) each label image's size is compared with its image's (headers only, no
        decoding) and a mismatch raises ValueError. Image ids are the images' file names
        without extension.
        """
        image_paths = [os.fspath(p) for p in image_paths]
        label_paths = [os.fspath(p) for p in label_paths]
        if len(image_paths) != len(label_paths):
            raise ValueError(f"load_label_images: {len(image_paths)} images but "
                             f"{len(label_paths)} label images; they pair by position")
        self.add_class(source, 1, class_name)
        for index, (image_path, label_path) in enumerate(zip(image_paths, label_paths)):
            for kind, path in (("image", image_path), ("label image", label_path)):
                if not os.path.isfile(path):
                    raise FileNotFoundError(f"load_label_images: pair {index}: {kind} not "
                                            f"found: {path}")
            with Image.open(label_path) as label:
                label_size, label_mode = label.size, label.mode
            if label_mode not in LABEL_MODES:
                raise ValueError(f"load_label_images: {label_path}: label image mode "
                                 f"{label_mode!r}; expected one channel of integer labels "
                                 f"({', '.join(LABEL_MODES)})")
            if check_sizes:
                with Image.open(image_path) as image:
                    image_size = image.size
                if image_size != label_size:
                    raise ValueError(f"load_label_images: {label_path} is {label_size[0]}x"
                                     f"{label_size[1]} but its image {image_path} is "
                                     f"{image_size[0]}x{image_size[1]} (width x height)")
            image_id = os.path.splitext(os.path.basename(image_path))[0]
            self.add_image(source, image_id=image_id, path=image_path, label_path=label_path,
                           width=label_size[0], height=label_size[1])

    def load_labels(self, image_id: int) -> np.ndarray:
        """The label image ``[H, W]`` (integers, 0 = background) of image ``image_id``."""
        info = self.image_info[image_id]
        path = info["label_path"]
        if not os.path.isfile(path):
            raise FileNotFoundError(f"image {image_id} ({info['path']}): label image not "
                                    f"found: {path}")
        try:
            with Image.open(path) as label:
                labels = np.array(label)
        except Exception as error:
            raise ValueError(f"image {image_id}: cannot read label image {path}: {error}") \
                from error
        if labels.ndim != 2:
            raise ValueError(f"image {image_id}: label image {path} has shape {labels.shape}; "
                             "expected [H, W] integer labels")
        return labels

    def load_mask(self, image_id: int) -> tuple[np.ndarray, np.ndarray]:
        """One mask per distinct non-zero label, in increasing label order; class id 1."""
        info = self.image_info[image_id]
        if "label_path" not in info:
            return super().load_mask(image_id)
        labels = self.load_labels(image_id)
        values = np.unique(labels)
        values = values[values != 0]
        masks = labels[..., None] == values[None, None, :]
        class_id = self.map_source_class_id(f"{info['source']}.1")
        return masks, np.full(len(values), class_id, np.int32)
