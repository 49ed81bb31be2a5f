"""Boundary AP (Cheng et al., "Boundary IoU", CVPR 2021): COCO's AP where a detection
matches a ground-truth mask by ``min(mask IoU, Boundary IoU)`` instead of mask IoU, with
the boundary band of :func:`mrcnn.evaluation.boundary.mask_to_boundary` (2% of the image
diagonal). Mask IoU barely moves with the contour of a large object; the band does, so
Boundary AP ranks masks by their outline, which is what a U-Net mask branch claims to
improve.

:class:`BoundaryCOCOeval` is pycocotools' ``COCOeval`` with only the IoU replaced, so
matching, crowd regions (a band's IoU with a crowd band is its intersection over the
detection's band, as pycocotools treats crowd masks), area ranges and maxDets are COCO's.
"""

from __future__ import annotations

import numpy as np
from pycocotools import mask as mask_utils
from pycocotools.cocoeval import COCOeval

from mrcnn.evaluation.boundary import COCO_DILATION_RATIO, mask_to_boundary


class BoundaryCOCOeval(COCOeval):
    """``COCOeval(gt, dt, "segm")`` scoring matches by min(mask IoU, Boundary IoU)."""

    def __init__(self, coco_gt=None, coco_dt=None,
                 dilation_ratio: float = COCO_DILATION_RATIO):
        super().__init__(coco_gt, coco_dt, iouType="segm")
        self.dilation_ratio = dilation_ratio
        self._bands: dict[tuple[str, int], dict] = {}

    def _band(self, kind: str, annotation: dict) -> dict:
        """RLE of one annotation's boundary band (``annotation["segmentation"]`` is an RLE
        once ``COCOeval._prepare`` has run)."""
        key = (kind, int(annotation["id"]))
        if key not in self._bands:
            mask = mask_utils.decode(annotation["segmentation"]).astype(bool)
            band = mask_to_boundary(mask, self.dilation_ratio)
            self._bands[key] = mask_utils.encode(np.asfortranarray(band.astype(np.uint8)))
        return self._bands[key]

    def computeIoU(self, imgId, catId):  # noqa: N802 (pycocotools' name)
        masks = super().computeIoU(imgId, catId)
        if len(masks) == 0:
            return masks
        params = self.params
        if params.useCats:
            gt, dt = self._gts[imgId, catId], self._dts[imgId, catId]
        else:
            gt = [g for c in params.catIds for g in self._gts[imgId, c]]
            dt = [d for c in params.catIds for d in self._dts[imgId, c]]
        # The same detections, in the same order, as COCOeval.computeIoU keeps.
        order = np.argsort([-d["score"] for d in dt], kind="mergesort")
        dt = [dt[i] for i in order][:params.maxDets[-1]]
        bands = mask_utils.iou([self._band("dt", d) for d in dt],
                               [self._band("gt", g) for g in gt],
                               [int(g["iscrowd"]) for g in gt])
        return np.minimum(masks, bands)
