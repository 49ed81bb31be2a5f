"""mrcnn: Mask R-CNN for Keras 3 with swappable FCN and U-Net mask heads."""

import os

# TensorFlow's C++ INFO/WARNING lines (cost-model notes on CropAndResize, start-up banners)
# flood notebooks and the command line; errors still show. A value the user set wins.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from mrcnn.config import Config, ConfigError  # noqa: E402
from mrcnn.data import Dataset  # noqa: E402
from mrcnn.heads.mask import MASK_HEADS, register_mask_head  # noqa: E402
from mrcnn.model import MaskRCNN  # noqa: E402

__all__ = ["Config", "ConfigError", "Dataset", "MASK_HEADS", "MaskRCNN", "register_mask_head"]
__version__ = "0.1.0"
