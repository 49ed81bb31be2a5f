"""Box/class head: two "fc" layers (as convs) on 7x7 RoI features, then class and deltas.

The fc layers are followed by BatchNorm under ``NORM = "batch"`` (the classic head) and by
no normalisation under ``"group"``, as detectron2's fc heads: their outputs are 1x1 maps,
over which GroupNorm would normalise C / G values alone (a single one at narrow widths:
a constant output and no gradient).

The output layers start small, as in Detectron (class logits N(0, 0.01), box deltas
N(0, 0.001), zero biases): the initial class loss is about ln(NUM_CLASSES) and the box
loss that of the targets alone, whatever the scale of the features.
"""

from __future__ import annotations

import keras

from mrcnn.layers.normalization import Norm
from mrcnn.precision import OUTPUT_DTYPE

# Layers whose shapes depend on NUM_CLASSES (see mrcnn.weights.migration.class_specific_layers).
CLASS_SPECIFIC_LAYERS = ("mrcnn_class_logits", "mrcnn_bbox_fc", "mrcnn_bbox")


def build_box_head(roi_features, num_classes: int, fc_size: int, norm: Norm):
    """Classify RoIs and regress one box per class.

    Args:
      roi_features: ``[N, pool, pool, D]`` RoIAlign output (N = batch * RoIs).
      norm: the configured normalisation (:class:`~mrcnn.layers.normalization.Norm`).
    Returns:
      class logits ``[N, C]``, class probabilities ``[N, C]``, deltas ``[N, C, 4]``.
    """
    pool = roi_features.shape[1]
    normalise_fc = norm.kind == "batch"
    x = keras.layers.Conv2D(fc_size, pool, padding="valid", name="mrcnn_class_conv1")(roi_features)
    x = norm(x, "mrcnn_class_bn1") if normalise_fc else x
    x = keras.layers.Activation("relu")(x)
    x = keras.layers.Conv2D(fc_size, 1, name="mrcnn_class_conv2")(x)
    x = norm(x, "mrcnn_class_bn2") if normalise_fc else x
    x = keras.layers.Activation("relu")(x)
    shared = keras.layers.Flatten(name="pool_squeeze")(x)
    logits = keras.layers.Dense(num_classes, name="mrcnn_class_logits", dtype=OUTPUT_DTYPE,
                                kernel_initializer=keras.initializers.RandomNormal(
                                    stddev=0.01))(shared)
    probs = keras.layers.Softmax(name="mrcnn_class", dtype=OUTPUT_DTYPE)(logits)
    deltas = keras.layers.Dense(num_classes * 4, name="mrcnn_bbox_fc", dtype=OUTPUT_DTYPE,
                                kernel_initializer=keras.initializers.RandomNormal(
                                    stddev=0.001))(shared)
    deltas = keras.layers.Reshape((num_classes, 4), name="mrcnn_bbox", dtype=OUTPUT_DTYPE)(deltas)
    return logits, probs, deltas
