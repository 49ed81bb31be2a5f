"""Mask-head registry: a head is one file that brings its builder and its settings.

A mask head is a builder ``fn(roi_features, config) -> masks`` taking RoIAlign features
``[N, MASK_POOL_SIZE, MASK_POOL_SIZE, D]`` and returning per-class mask logits
``[N, s * MASK_POOL_SIZE, s * MASK_POOL_SIZE, NUM_CLASSES]`` (no sigmoid: the loss takes
logits, inference applies the sigmoid), where ``s`` is the ``upsampling`` it registers.
Name its layers ``mrcnn_mask_*`` so the ``heads`` training preset covers them.

As in detectron2's registry, the head owns its configuration, so adding one is one file
and :class:`~mrcnn.config.Config` knows nothing about it::

    import keras

    from mrcnn.heads.mask import check_positive_int, register_mask_head

    def validate_mine(config, fail):
        check_positive_int(config, "MINE_WIDTH", fail)

    @register_mask_head("mine", upsampling=2, settings={"MINE_WIDTH": 64},
                        validate=validate_mine, class_specific_layers=("mrcnn_mask_mine_out",))
    def build_mine(roi_features, config):
        x = keras.layers.Conv2DTranspose(config.MINE_WIDTH, 2, strides=2,
                                         name="mrcnn_mask_mine_up")(roi_features)
        return keras.layers.Conv2D(config.NUM_CLASSES, 1, name="mrcnn_mask_mine_out")(x)

then ``MASK_HEAD = "mine"`` in the config (import the file first). What registration
gives the head:

- ``settings``: config fields with their defaults. A config that does not set one reads
  the default (``config.MINE_WIDTH == 64``); a subclass overrides it the classic way
  (``MINE_WIDTH = 16``). Use immutable defaults (numbers, tuples); names are upper-case
  and must not be :class:`Config` fields (constructing a config says so) or another
  head's settings with other defaults.
- ``validate(config, fail)``: called by ``Config.validate`` when the head is selected;
  ``fail(field, why)`` raises the ConfigError naming the field.
- ``upsampling``: the factor, or a tuple of factors, the head can predict at (the first
  is its default); the config picks one with ``MASK_UPSAMPLING`` (None: the default), and
  ``MASK_SHAPE`` is derived as ``upsampling * MASK_POOL_SIZE`` (a config that sets it by
  hand is checked against it). The builder reads the factor with :func:`mask_upsampling`.
- ``fine_features``: the factors at which the head also takes a ``2 * MASK_POOL_SIZE``
  RoIAlign of P2, the finest pyramid level, as the keyword ``fine_features`` (the U-Net's
  skip at 28x28 when it predicts 56x56).
- ``class_specific_layers``: the head's layers whose shapes depend on NUM_CLASSES, left
  out when weights are loaded for other classes
  (:func:`mrcnn.weights.migration.class_specific_layers`).
- ``presets``: ``{preset: {setting: value}}``, the head's values under a config preset
  (``Config.MASK_HEAD_PRESET``; :class:`~mrcnn.config.LightConfig` is ``"light"``, the
  narrow widths that train on a laptop CPU). A setting the config class does not set takes
  the preset's value, else the default.

A bare ``@register_mask_head("name")`` still works for a head without settings.

Built-in heads: ``fcn`` (``fcn.py``, the paper's), ``unet`` (``unet.py``) and ``fcn_deep``
(``fcn_deep.py``: an FCN at the U-Net's FLOPs per RoI, the comparison's control).
"""

from mrcnn.heads.mask.registry import (
    MASK_HEADS,
    MaskHeadSpec,
    build_mask_head,
    check_heads,
    check_positive_int,
    check_widths,
    mask_head_class_specific_layers,
    mask_head_settings,
    mask_upsampling,
    register_mask_head,
    takes_fine_features,
)

# The built-in heads register themselves on import.
from mrcnn.heads.mask import fcn, fcn_deep, unet  # noqa: E402,F401  isort: skip

__all__ = ["MASK_HEADS", "MaskHeadSpec", "build_mask_head", "check_heads", "check_positive_int",
           "check_widths", "mask_head_class_specific_layers", "mask_head_settings",
           "mask_upsampling", "register_mask_head", "takes_fine_features"]
