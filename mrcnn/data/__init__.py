"""Data sets: the base ``Dataset`` registry, the synthetic shapes set, loaders for COCO json,
VIA json and instance label images, augmentations, and mask helpers. Data sets by name live
in submodules imported on demand: ``specs`` (one string names a data set), ``catalog``
(a name -> the data a comparison runs on), ``public`` (Penn-Fudan, balloon: where they are,
fetching them)."""

from mrcnn.data import augment
from mrcnn.data.boxes_from_masks import extract_bboxes
from mrcnn.data.cache import CachedDataset
from mrcnn.data.coco import CocoDataset, export_coco, export_detections
from mrcnn.data.dataset import Dataset
from mrcnn.data.label_images import LabelImageDataset
from mrcnn.data.shapes import ShapesConfig, ShapesDataset
from mrcnn.data.via import ViaDataset

__all__ = ["CachedDataset", "CocoDataset", "Dataset", "LabelImageDataset", "ShapesConfig",
           "ShapesDataset", "ViaDataset", "augment", "export_coco", "export_detections",
           "extract_bboxes"]
