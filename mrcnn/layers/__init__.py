"""Keras layers wrapping the TensorFlow ops (every tf call of the graph lives in a Layer)."""

from mrcnn.layers.anchors import AnchorsLayer
from mrcnn.layers.batch_norm import BatchNorm
from mrcnn.layers.detection import DetectionLayer
from mrcnn.layers.detection_masks import DetectionBoxes, SelectClassMasks, ValidDetectionRows
from mrcnn.layers.losses import LossLayer
from mrcnn.layers.normalization import Norm
from mrcnn.layers.proposals import ProposalLayer
from mrcnn.layers.roi_align import PyramidROIAlign, RoiBatchReshape, assign_roi_levels
from mrcnn.layers.rpn_targets import RpnTargetLayer
from mrcnn.layers.targets import DetectionTargetLayer, LeadingRows, max_positive_rois

__all__ = [
    "AnchorsLayer", "BatchNorm", "DetectionBoxes", "DetectionLayer", "DetectionTargetLayer",
    "LeadingRows", "LossLayer", "Norm",
    "ProposalLayer", "PyramidROIAlign", "RoiBatchReshape", "RpnTargetLayer", "SelectClassMasks",
    "ValidDetectionRows", "assign_roi_levels", "max_positive_rois",
]
