"""mrcnn: Mask R-CNN for Keras 3 with swappable FCN and U-Net mask heads.

The public names load on first use (PEP 562), so ``import mrcnn`` and the command line's
help start without TensorFlow.
"""

import importlib
import os

# TensorFlow's C++ INFO/WARNING lines (cost-model notes on CropAndResize, start-up banners)
# flood notebooks and the command line; errors still show. A value the user set wins.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# Public name -> the module that defines it.
_PUBLIC = {
    "Config": "mrcnn.config",
    "ConfigError": "mrcnn.config",
    "Dataset": "mrcnn.data",
    "MASK_HEADS": "mrcnn.heads.mask",
    "register_mask_head": "mrcnn.heads.mask",
    "MaskRCNN": "mrcnn.model",
}

__all__ = sorted(_PUBLIC)
__version__ = "0.1.0"


def __getattr__(name: str):
    if name in _PUBLIC:
        value = getattr(importlib.import_module(_PUBLIC[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'mrcnn' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_PUBLIC))
