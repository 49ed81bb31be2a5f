"""Mask R-CNN configuration.

Users subclass :class:`Config` and override class attributes, as in the classic
Keras Mask R-CNN::

    class ShapesConfig(Config):
        NAME = "shapes"
        NUM_CLASSES = 1 + 3
        MASK_HEAD = "unet"

Derived fields (``BATCH_SIZE``, ``IMAGE_SHAPE``, ...) are computed at construction,
and the whole object is validated: a bad value raises :class:`ConfigError` naming
the field and saying why.

Mask-head settings (the FCN's ``MASK_HEAD_CONV_DIM``, the U-Net's ``UNET_*_FILTERS``, a
new head's own fields) are not declared here: each head registers them with their
defaults and presets (:mod:`mrcnn.heads.mask`), and a config that does not set one gets
the default, or the head's value for the config's ``MASK_HEAD_PRESET``, at construction.
Override them like any field; the selected head validates them.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np

from mrcnn.ops.image_meta import image_meta_size

# The training losses, in the order the training graph outputs them (the functions:
# mrcnn.layers.losses.LOSSES); LOSS_WEIGHTS is keyed by them.
LOSS_NAMES = ("rpn_class_loss", "rpn_bbox_loss", "mrcnn_class_loss", "mrcnn_bbox_loss",
              "mrcnn_mask_loss")


# Fields Config.__init__ computes from the others: never set by hand (MASK_SHAPE only to
# check), not stored in checkpoints, and no head's setting.
DERIVED_FIELDS = ("BATCH_SIZE", "IMAGE_SHAPE", "IMAGE_META_SIZE", "MASK_SHAPE")


class ConfigError(ValueError):
    """A configuration field has an invalid value."""


class Config:
    """Base configuration; every field can be overridden in a subclass."""

    # --- Identity and data -------------------------------------------------
    NAME: str | None = None
    NUM_CLASSES = 1  # background included
    IMAGES_PER_GPU = 2
    GPU_COUNT = 1
    STEPS_PER_EPOCH = 1000
    VALIDATION_STEPS = 50

    # --- Backbone and FPN ---------------------------------------------------
    # "resnet50", "resnet101", "resnet_light", or a callable
    # ``fn(input_image, config) -> [C2, C3, C4, C5]``.
    BACKBONE: Any = "resnet101"
    BACKBONE_STRIDES = [4, 8, 16, 32, 64]
    TOP_DOWN_PYRAMID_SIZE = 256
    TRAIN_BN: bool | None = False  # False freezes BN (small batches); True trains it
    # "batch" (BatchNorm in backbone and heads, the classic) or "group" (GroupNorm there
    # and in the FPN; from-scratch training, see mrcnn.layers.normalization).
    NORM = "batch"
    GROUP_NORM_GROUPS = 32  # at most this many groups a GroupNorm layer

    # --- RPN ------------------------------------------------------------------
    RPN_ANCHOR_SCALES = (32, 64, 128, 256, 512)
    RPN_ANCHOR_RATIOS = [0.5, 1, 2]
    RPN_ANCHOR_STRIDE = 1
    RPN_CONV_DIM = 512  # width of rpn_conv_shared
    RPN_NMS_THRESHOLD = 0.7
    RPN_TRAIN_ANCHORS_PER_IMAGE = 256
    RPN_POSITIVE_IOU = 0.7
    RPN_NEGATIVE_IOU = 0.3
    PRE_NMS_LIMIT = 6000
    POST_NMS_ROIS_TRAINING = 2000
    POST_NMS_ROIS_INFERENCE = 1000
    RPN_BBOX_STD_DEV = np.array([0.1, 0.1, 0.2, 0.2])

    # --- Images -----------------------------------------------------------------
    IMAGE_RESIZE_MODE = "square"  # none | square | pad64 | crop
    IMAGE_MIN_DIM = 800
    IMAGE_MAX_DIM = 1024
    IMAGE_MIN_SCALE = 0
    IMAGE_CHANNEL_COUNT = 3
    MEAN_PIXEL = np.array([123.7, 116.8, 103.9])

    # --- Ground truth -----------------------------------------------------------
    # Training augmentation used by runners such as mrcnn.experiments.compare: a callable
    # fn(image, masks, rng) -> (image, masks) (see mrcnn.data.augment), or None.
    AUGMENTATION: Any = None
    USE_MINI_MASK = True
    MINI_MASK_SHAPE = (56, 56)
    MAX_GT_INSTANCES = 100

    # --- RoI heads ----------------------------------------------------------------
    TRAIN_ROIS_PER_IMAGE = 200
    ROI_POSITIVE_RATIO = 0.33
    ROI_POSITIVE_IOU = 0.5
    ADD_GT_TO_PROPOSALS = True  # detectron2/torchvision practice; helps from-scratch training
    ROI_CANONICAL_SIZE = 224  # paper's k = k0 + log2(sqrt(wh) / 224)
    ROI_CANONICAL_LEVEL = 4
    # RoIAlign and mask targets on pixel centres (mrcnn.ops.geometry); False keeps the
    # classic Keras Mask R-CNN sampling, for weights trained with it.
    ROI_ALIGN_ALIGNED = True
    ROI_ALIGN_SAMPLING_RATIO = 2  # bilinear samples per bin side (aligned RoIAlign)
    POOL_SIZE = 7
    MASK_POOL_SIZE = 14
    # The predicted masks' side over MASK_POOL_SIZE: 2 gives the paper's 28x28, 4 gives
    # 56x56 (every built-in head takes both); None: the head's default (2 for the built-in
    # heads). MASK_SHAPE, the mask targets' [height, width], is derived from it: upsampling
    # x MASK_POOL_SIZE. Set MASK_SHAPE only to check.
    MASK_UPSAMPLING = None
    FPN_CLASSIF_FC_LAYERS_SIZE = 1024
    BBOX_STD_DEV = np.array([0.1, 0.1, 0.2, 0.2])

    # --- Mask head ----------------------------------------------------------------
    # A key of mrcnn.heads.mask.MASK_HEADS. Each head brings its own settings with their
    # defaults (e.g. "fcn": MASK_HEAD_CONV_DIM; "unet": UNET_*_FILTERS): see its module.
    MASK_HEAD = "fcn"
    # Which of the heads' own presets fills the head settings this config does not set
    # (None: their defaults; LightConfig: "light", see mrcnn.heads.mask).
    MASK_HEAD_PRESET = None
    # Training runs the mask head on the first ROI_POSITIVE_RATIO x TRAIN_ROIS_PER_IMAGE
    # sampled RoIs, which hold every positive (the mask loss reads positives only), as
    # Detectron2 and torchvision do: the same loss for a third of the mask-head FLOPs.
    # Its BatchNorm statistics (TRAIN_BN, NORM "batch") then come from those rows.
    # False runs it on every sampled RoI, as the classic Keras code does.
    MASK_HEAD_POSITIVES_ONLY = True

    # --- Detection ----------------------------------------------------------------
    # What detect() keeps: the deployment threshold. Evaluation scores by COCO's protocol
    # instead (every detection down to 0.05, at most 100 an image: mrcnn.evaluation.protocol).
    DETECTION_MAX_INSTANCES = 100
    DETECTION_MIN_CONFIDENCE = 0.7
    # Per-class NMS of the final detections: 0.5 as in the paper, Detectron2 and torchvision
    # (the classic Keras code's 0.3 suppresses people walking side by side).
    DETECTION_NMS_THRESHOLD = 0.5

    # --- Numerics -------------------------------------------------------------------
    # "float32", "mixed_float16" or "mixed_bfloat16" (see mrcnn.precision): the convs and
    # dense layers compute in 16 bits; boxes, NMS, targets and losses stay in float32.
    DTYPE_POLICY = "float32"
    # Inference models (detect, evaluate, export) of a float32 config compute in
    # "mixed_bfloat16" on a CPU with bfloat16 units (AVX512_BF16 or AMX) and no GPU, where
    # detect is ~1.7x faster with the same AP (bench/README.md). False opts out.
    AUTO_BFLOAT16_INFERENCE = True
    # "native": tf.image.crop_and_resize RoIAlign, CombinedNonMaxSuppression and the mask
    # head on real detections only (the fastest graph without XLA). "xla": RoIAlign by
    # gather, padded NMS and static shapes (equal outputs, mrcnn.ops.resample/nms), so the
    # graph compiles with JIT_COMPILE = True (TPUs, XLA on GPUs).
    GRAPH_OPS = "native"
    # Compile training and detect() steps with XLA (jit_compile=True); needs GRAPH_OPS
    # "xla". Chosen here, never left to Keras' "auto" (XLA whenever a GPU is present).
    JIT_COMPILE = False

    # --- Optimisation -------------------------------------------------------------
    OPTIMIZER = "sgd"  # "sgd" (with MOMENTUM) or "adamw"
    LEARNING_RATE = 0.001
    LEARNING_MOMENTUM = 0.9
    # Decoupled (Keras' weight_decay: w -= lr * WEIGHT_DECAY * w each step), not on norm
    # scales, offsets and biases. Under SGD with momentum m the coupled L2 of Detectron2's
    # recipe (decay added to the gradient, then accumulated) is 1 / (1 - m) = 10x stronger
    # at m = 0.9: match that recipe's 1e-4 with WEIGHT_DECAY = 1e-3.
    WEIGHT_DECAY = 0.0001
    GRADIENT_CLIP_NORM = 5.0  # the global batch's gradient, over all replicas; None: off
    LOSS_WEIGHTS = dict.fromkeys(LOSS_NAMES, 1.0)  # a weight per loss, all five

    def __init__(self) -> None:
        # A plain function set as a class attribute (AUGMENTATION = my_flip) would come
        # back from the instance as a bound method with the config as an extra first
        # argument: keep the function itself.
        for field in ("AUGMENTATION", "BACKBONE"):
            setattr(self, field, getattr(type(self), field))
        self.BATCH_SIZE = self.IMAGES_PER_GPU * self.GPU_COUNT
        if self.IMAGE_RESIZE_MODE == "crop":
            self.IMAGE_SHAPE = np.array(
                [self.IMAGE_MIN_DIM, self.IMAGE_MIN_DIM, self.IMAGE_CHANNEL_COUNT])
        else:
            self.IMAGE_SHAPE = np.array(
                [self.IMAGE_MAX_DIM, self.IMAGE_MAX_DIM, self.IMAGE_CHANNEL_COUNT])
        self.IMAGE_META_SIZE = image_meta_size(self.NUM_CLASSES)  # layout: mrcnn.ops.image_meta
        self._fill_mask_head_fields()
        self.validate()

    def _fill_mask_head_fields(self) -> None:
        """Give the fields the mask heads own what the config does not set: every
        registered head's settings their defaults (so a config can switch MASK_HEAD and
        ``to_dict`` shows them), and MASK_SHAPE the selected head's output size."""
        from mrcnn.heads.mask import MASK_HEADS, mask_head_settings

        for head, spec in MASK_HEADS.items():
            taken = sorted(set(spec.settings) & (Config.class_fields() | set(DERIVED_FIELDS)))
            if taken:
                raise ConfigError(f"mask head {head!r}: setting {taken[0]} is a Config field; "
                                  "give the head's setting its own name")
        for name, default in mask_head_settings(self.MASK_HEAD_PRESET).items():
            if not hasattr(self, name):
                setattr(self, name, copy.deepcopy(default))
        pool = self.MASK_POOL_SIZE
        head = MASK_HEADS.get(self.MASK_HEAD) if isinstance(self.MASK_HEAD, str) else None
        if (not hasattr(self, "MASK_SHAPE") and head is not None
                and isinstance(pool, (int, np.integer)) and not isinstance(pool, bool)):
            upsampling = self.MASK_UPSAMPLING
            if upsampling is None or upsampling in head.upsampling:
                side = head.output_size(pool, upsampling)
                self.MASK_SHAPE = [side, side]

    # ------------------------------------------------------------------
    def validate(self) -> None:
        """Check every field; raise :class:`ConfigError` naming the first bad one."""

        def fail(field: str, why: str) -> None:
            raise ConfigError(f"{type(self).__name__}.{field} = {getattr(self, field)!r}: {why}")

        def positive_int(field: str) -> None:
            value = getattr(self, field)
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
                fail(field, "must be a positive integer")

        def fraction(field: str, low_open: bool = False) -> None:
            value = getattr(self, field)
            in_range = isinstance(value, (int, float)) and 0 <= value <= 1
            if not in_range or (low_open and value == 0):
                fail(field, "must be a number in " + ("(0, 1]" if low_open else "[0, 1]"))

        for field in ("NUM_CLASSES", "IMAGES_PER_GPU", "GPU_COUNT", "STEPS_PER_EPOCH",
                      "VALIDATION_STEPS", "TOP_DOWN_PYRAMID_SIZE", "RPN_TRAIN_ANCHORS_PER_IMAGE",
                      "PRE_NMS_LIMIT", "POST_NMS_ROIS_TRAINING", "POST_NMS_ROIS_INFERENCE",
                      "MAX_GT_INSTANCES", "TRAIN_ROIS_PER_IMAGE", "POOL_SIZE", "MASK_POOL_SIZE",
                      "FPN_CLASSIF_FC_LAYERS_SIZE", "DETECTION_MAX_INSTANCES",
                      "IMAGE_MAX_DIM", "RPN_ANCHOR_STRIDE", "RPN_CONV_DIM", "IMAGE_CHANNEL_COUNT",
                      "ROI_ALIGN_SAMPLING_RATIO", "GROUP_NORM_GROUPS"):
            positive_int(field)
        from mrcnn.layers.normalization import NORMS  # local import: layers import keras

        if self.NORM not in NORMS:
            fail("NORM", f"must be one of {', '.join(map(repr, NORMS))}")
        if not isinstance(self.ROI_ALIGN_ALIGNED, (bool, np.bool_)):
            fail("ROI_ALIGN_ALIGNED", "must be True (pixel-centre sampling) or False (classic)")
        if self.GRAPH_OPS not in ("native", "xla"):
            fail("GRAPH_OPS", "must be 'native' or 'xla'")
        if not isinstance(self.JIT_COMPILE, (bool, np.bool_)):
            fail("JIT_COMPILE", "must be True or False")
        if self.JIT_COMPILE and self.GRAPH_OPS != "xla":
            fail("JIT_COMPILE", "needs GRAPH_OPS = 'xla': CropAndResize and "
                 "CombinedNonMaxSuppression have no XLA kernel")
        if self.NUM_CLASSES < 2:
            fail("NUM_CLASSES", "must count the background plus at least one class (>= 2)")
        if not (isinstance(self.NAME, str) and self.NAME):
            fail("NAME", "give the configuration a non-empty name (used for log folders)")

        from mrcnn.backbones import BACKBONES  # local import: backbones import keras

        if not callable(self.BACKBONE) and self.BACKBONE not in BACKBONES:
            fail("BACKBONE", f"must be a callable or one of {sorted(BACKBONES)}")
        if list(self.BACKBONE_STRIDES) != [4, 8, 16, 32, 64]:
            fail("BACKBONE_STRIDES", "the FPN levels P2..P6 have strides [4, 8, 16, 32, 64]")
        if len(self.RPN_ANCHOR_SCALES) != len(self.BACKBONE_STRIDES):
            fail("RPN_ANCHOR_SCALES",
                 f"needs one scale per pyramid level ({len(self.BACKBONE_STRIDES)} values)")
        if any(s <= 0 for s in self.RPN_ANCHOR_SCALES):
            fail("RPN_ANCHOR_SCALES", "scales must be positive")
        if not self.RPN_ANCHOR_RATIOS or any(r <= 0 for r in self.RPN_ANCHOR_RATIOS):
            fail("RPN_ANCHOR_RATIOS", "needs at least one positive ratio")
        for field in ("RPN_NMS_THRESHOLD", "DETECTION_NMS_THRESHOLD", "DETECTION_MIN_CONFIDENCE",
                      "RPN_NEGATIVE_IOU"):
            fraction(field)
        for field in ("RPN_POSITIVE_IOU", "ROI_POSITIVE_RATIO", "ROI_POSITIVE_IOU"):
            fraction(field, low_open=True)
        if self.RPN_NEGATIVE_IOU > self.RPN_POSITIVE_IOU:
            fail("RPN_NEGATIVE_IOU", "must not exceed RPN_POSITIVE_IOU")
        if self.POST_NMS_ROIS_TRAINING > self.PRE_NMS_LIMIT:
            fail("POST_NMS_ROIS_TRAINING", "cannot keep more proposals than PRE_NMS_LIMIT")
        if self.POST_NMS_ROIS_INFERENCE > self.PRE_NMS_LIMIT:
            fail("POST_NMS_ROIS_INFERENCE", "cannot keep more proposals than PRE_NMS_LIMIT")
        if self.TRAIN_ROIS_PER_IMAGE > self.POST_NMS_ROIS_TRAINING + (
                self.MAX_GT_INSTANCES if self.ADD_GT_TO_PROPOSALS else 0):
            fail("TRAIN_ROIS_PER_IMAGE", "cannot sample more RoIs than there are proposals")

        modes = ("none", "square", "pad64", "crop")
        if self.IMAGE_RESIZE_MODE not in modes:
            fail("IMAGE_RESIZE_MODE", f"must be one of {modes}")
        if self.IMAGE_RESIZE_MODE in ("square", "crop"):
            dim = self.IMAGE_MAX_DIM if self.IMAGE_RESIZE_MODE == "square" else self.IMAGE_MIN_DIM
            field = "IMAGE_MAX_DIM" if self.IMAGE_RESIZE_MODE == "square" else "IMAGE_MIN_DIM"
            if dim % 64:
                fail(field, "must be divisible by 64 (= 2^6) so the FPN levels align; "
                     f"try {64 * max(1, round(dim / 64))}")
        if self.IMAGE_MIN_DIM > self.IMAGE_MAX_DIM:
            fail("IMAGE_MIN_DIM", "must not exceed IMAGE_MAX_DIM")
        if len(np.asarray(self.MEAN_PIXEL)) != self.IMAGE_CHANNEL_COUNT:
            fail("MEAN_PIXEL", f"needs IMAGE_CHANNEL_COUNT ({self.IMAGE_CHANNEL_COUNT}) values")
        for field in ("RPN_BBOX_STD_DEV", "BBOX_STD_DEV"):
            std = np.asarray(getattr(self, field), dtype=float)
            if std.shape != (4,) or np.any(std <= 0):
                fail(field, "must be 4 positive numbers (dy, dx, dh, dw)")
        if self.AUGMENTATION is not None and not callable(self.AUGMENTATION):
            fail("AUGMENTATION", "must be None or a callable fn(image, masks, rng)")
        if len(self.MINI_MASK_SHAPE) != 2 or min(self.MINI_MASK_SHAPE) < 1:
            fail("MINI_MASK_SHAPE", "must be (height, width), both positive")

        from mrcnn.heads.mask import MASK_HEADS

        if not isinstance(self.MASK_HEAD, str) or self.MASK_HEAD not in MASK_HEADS:
            fail("MASK_HEAD", f"unknown mask head; registered heads are {sorted(MASK_HEADS)}")
        head = MASK_HEADS[self.MASK_HEAD]
        missing = [name for name in head.settings if not hasattr(self, name)]
        if missing:  # a head registered after this config was built
            fail("MASK_HEAD", f"the head was registered after this config was built; "
                 f"build the config again to get its settings {missing}")
        if self.MASK_UPSAMPLING is not None and self.MASK_UPSAMPLING not in head.upsampling:
            fail("MASK_UPSAMPLING", f"the {self.MASK_HEAD!r} head predicts at upsampling "
                 f"{' or '.join(map(str, head.upsampling))} (or None: its default)")
        if len(self.MASK_SHAPE) != 2:
            fail("MASK_SHAPE", "must be [height, width]")
        expected = head.output_size(self.MASK_POOL_SIZE, self.MASK_UPSAMPLING)
        if list(self.MASK_SHAPE) != [expected, expected]:
            fail("MASK_SHAPE", f"the {self.MASK_HEAD!r} head turns MASK_POOL_SIZE "
                 f"{self.MASK_POOL_SIZE} into {expected}x{expected} masks; "
                 f"set [{expected}, {expected}] (or MASK_UPSAMPLING for another size)")
        if head.validate is not None:
            head.validate(self, fail)  # the head checks its own settings

        from mrcnn.precision import POLICIES

        if self.DTYPE_POLICY not in POLICIES:
            fail("DTYPE_POLICY", f"must be one of {', '.join(POLICIES)}")
        if self.MASK_HEAD_PRESET is not None and not isinstance(self.MASK_HEAD_PRESET, str):
            fail("MASK_HEAD_PRESET", "must be None or a preset name such as 'light'")
        for flag in ("AUTO_BFLOAT16_INFERENCE", "MASK_HEAD_POSITIVES_ONLY"):
            if not isinstance(getattr(self, flag), (bool, np.bool_)):
                fail(flag, "must be True or False")
        if self.OPTIMIZER not in ("sgd", "adamw"):
            fail("OPTIMIZER", "must be 'sgd' or 'adamw'")
        if not (isinstance(self.LEARNING_RATE, (int, float)) and self.LEARNING_RATE > 0):
            fail("LEARNING_RATE", "must be a positive number")
        fraction("LEARNING_MOMENTUM")
        if self.WEIGHT_DECAY < 0:
            fail("WEIGHT_DECAY", "must be >= 0")
        if self.GRADIENT_CLIP_NORM is not None and self.GRADIENT_CLIP_NORM <= 0:
            fail("GRADIENT_CLIP_NORM", "must be positive, or None to disable clipping")
        if set(self.LOSS_WEIGHTS) != set(LOSS_NAMES):
            fail("LOSS_WEIGHTS", f"must have exactly the keys {sorted(LOSS_NAMES)}")

    # ------------------------------------------------------------------
    @classmethod
    def class_fields(cls) -> set[str]:
        """Names of the fields the class itself defines: its upper-case attributes (the
        mask heads' settings and ``MASK_SHAPE`` are filled in per instance)."""
        return {name for name in dir(cls) if name.isupper()}

    def to_dict(self) -> dict[str, Any]:
        """All upper-case fields (class defaults, overrides and derived ones)."""
        return {name: getattr(self, name) for name in sorted(dir(self))
                if name.isupper() and not callable(getattr(self, name))
                or name in ("BACKBONE", "AUGMENTATION")}

    def display(self) -> None:
        """Print every field, one per line."""
        print("\nConfigurations:")
        for name, value in self.to_dict().items():
            print(f"{name:30} {value}")
        print()

    @property
    def backbone_shapes(self) -> np.ndarray:
        """[5, 2] feature-map (height, width) of P2..P6 for IMAGE_SHAPE."""
        return np.array([[int(math.ceil(self.IMAGE_SHAPE[0] / s)),
                          int(math.ceil(self.IMAGE_SHAPE[1] / s))]
                         for s in self.BACKBONE_STRIDES])


class LightConfig(Config):
    """From-scratch training on a laptop CPU: the light ResNet, a 64-channel FPN, narrow
    box and mask heads (the U-Net widths a quarter of the proposal's), trainable BatchNorm
    (there are no pretrained statistics to keep), AdamW. Data-set presets subclass it."""

    BACKBONE = "resnet_light"
    TRAIN_BN = True
    TOP_DOWN_PYRAMID_SIZE = 64
    RPN_CONV_DIM = 64
    PRE_NMS_LIMIT = 1000
    POST_NMS_ROIS_TRAINING = 300  # at most PRE_NMS_LIMIT (the classic 2000 is not)
    POST_NMS_ROIS_INFERENCE = 100
    TRAIN_ROIS_PER_IMAGE = 32
    USE_MINI_MASK = False
    FPN_CLASSIF_FC_LAYERS_SIZE = 128
    MASK_HEAD_PRESET = "light"  # each mask head's narrow widths, from its own module
    OPTIMIZER = "adamw"
    LEARNING_RATE = 0.001
    WEIGHT_DECAY = 0.0001
    STEPS_PER_EPOCH = 100
