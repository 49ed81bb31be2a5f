"""mrcnn: Mask R-CNN for Keras 3 with swappable FCN and U-Net mask heads."""

from mrcnn.config import Config, ConfigError
from mrcnn.data import Dataset
from mrcnn.heads.mask import MASK_HEADS, register_mask_head
from mrcnn.model import MaskRCNN

__all__ = ["Config", "ConfigError", "Dataset", "MASK_HEADS", "MaskRCNN", "register_mask_head"]
__version__ = "0.1.0"
