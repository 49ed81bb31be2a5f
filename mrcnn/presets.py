"""Configuration presets for training from scratch on real photos on a CPU.

``LightConfig`` (mrcnn.config) narrows the network; :class:`RealDataConfig` adds what
real photos need at that size. The Penn-Fudan, balloon and COCO samples and the command
line (``mrcnn train``) start from it and override only what their data differs in.
"""

from __future__ import annotations

from mrcnn.config import LightConfig
from mrcnn.data import augment


class RealDataConfig(LightConfig):
    """The light preset on 256 px squares: anchors 16-256 px (objects of 12-250 px at that
    size), 4 images a step, 300 proposals and 128 RPN anchors per training image, detections
    kept from score 0.3, and horizontal flips with mild scale/photometric jitter
    (``augment.default_augmentation``)."""

    NAME = "real_data"
    IMAGES_PER_GPU = 4
    IMAGE_MIN_DIM = 256
    IMAGE_MAX_DIM = 256
    RPN_ANCHOR_SCALES = (16, 32, 64, 128, 256)
    POST_NMS_ROIS_TRAINING = 300
    RPN_TRAIN_ANCHORS_PER_IMAGE = 128
    DETECTION_MIN_CONFIDENCE = 0.3
    VALIDATION_STEPS = 5
    AUGMENTATION = augment.default_augmentation()
