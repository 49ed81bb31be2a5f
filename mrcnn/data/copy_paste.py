"""Simple Copy-Paste (Ghiasi et al., CVPR 2021): objects of another training image pasted on.

For a training sample, with probability ``p``: another image of the training set is
loaded and augmented independently (its own flip and scale jitter), a random subset of its
instances (one to all, crowd regions never) is pasted on the sample's pixels without
blending (blending made no difference in the paper, Table 10), the pasted pixels are taken
out of the sample's own masks (occlusion) and instances left empty are dropped. The paper
reports its largest gains when training from random initialisation on little data (about
+10 box AP at 10% of COCO, Fig. 1).

Use it as the training augmentation, wrapping the per-image one::

    AUGMENTATION = CopyPaste(augment.default_augmentation(), p=0.5)

:func:`mrcnn.training.load_image_gt` gives it the data set; it cannot run as a plain
per-image step (inside ``Compose``).
"""

from __future__ import annotations

import numpy as np


def paste(image: np.ndarray, masks: np.ndarray, class_ids: np.ndarray,
          source_image: np.ndarray, source_masks: np.ndarray, source_ids: np.ndarray,
          rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Paste a random non-empty subset of the source's objects on ``image``.

    Args:
      image: ``[H, W, C]`` uint8; masks ``[H, W, N]`` bool; class_ids ``[N]`` (crowd < 0).
      source_*: the same for the other image, any size: it is laid on ``image`` from the
        top-left corner, cropped to ``[H, W]``.
    Returns:
      ``(image, masks [H, W, N' + K], class_ids [N' + K])``: the sample's instances still
      visible (masks minus the pasted pixels), then the ``K`` pasted ones.
    """
    height, width = image.shape[:2]
    src_masks = np.zeros((height, width, source_masks.shape[2]), bool)
    h, w = min(height, source_masks.shape[0]), min(width, source_masks.shape[1])
    src_masks[:h, :w] = source_masks[:h, :w]
    candidates = np.flatnonzero((np.asarray(source_ids) > 0) & src_masks.any(axis=(0, 1)))
    if len(candidates) == 0:
        return image, masks, class_ids
    count = int(rng.integers(1, len(candidates) + 1))
    chosen = np.sort(rng.choice(candidates, size=count, replace=False))
    pasted = src_masks[..., chosen]
    covered = pasted.any(axis=2)
    out = image.copy()
    out[:h, :w][covered[:h, :w]] = source_image[:h, :w][covered[:h, :w]]
    kept_masks = masks & ~covered[..., None]
    visible = kept_masks.any(axis=(0, 1))
    return (out, np.concatenate([kept_masks[..., visible], pasted], axis=2),
            np.concatenate([np.asarray(class_ids)[visible],
                            np.asarray(source_ids)[chosen]]).astype(np.asarray(class_ids).dtype))


class CopyPaste:
    """The training augmentation that pastes objects of another training image (with
    probability ``p``) after ``per_image`` ran on both images (see the module docstring)."""

    def __init__(self, per_image=None, p: float = 0.5):
        if not 0 <= p <= 1:
            raise ValueError(f"CopyPaste: p must be in [0, 1], got {p}")
        if per_image is not None and not callable(per_image):
            raise TypeError(f"CopyPaste: {per_image!r} is not an augmentation")
        self.per_image, self.p = per_image, float(p)

    def __call__(self, image, masks, rng):
        raise TypeError("CopyPaste needs the training data set: give it as the training "
                        "augmentation (Config.AUGMENTATION or train(augmentation=...)), not "
                        "as a step of another augmentation")

    def __repr__(self):
        return f"CopyPaste({self.per_image!r}, p={self.p})"
