"""Data sets: the base `Dataset` registry, the synthetic shapes set, and mask helpers."""

from mrcnn.data.boxes_from_masks import extract_bboxes
from mrcnn.data.dataset import Dataset
from mrcnn.data.shapes import ShapesConfig, ShapesDataset

__all__ = ["Dataset", "ShapesConfig", "ShapesDataset", "extract_bboxes"]
