"""Region proposal network head, shared by every pyramid level."""

from __future__ import annotations

from collections.abc import Sequence

import keras

from mrcnn.precision import OUTPUT_DTYPE


def build_rpn(feature_maps: Sequence, anchors_per_location: int, conv_dim: int):
    """Objectness and box deltas for every anchor of every level.

    The same three layers (``rpn_conv_shared``, ``rpn_class_raw``, ``rpn_bbox_pred``)
    run on each of ``feature_maps`` (P2..P6); outputs are concatenated in level order,
    position-major, matching :func:`mrcnn.ops.anchors.pyramid_anchors`.

    Returns ``rpn_class_logits`` ``[B, A, 2]``, ``rpn_probs`` ``[B, A, 2]`` and
    ``rpn_bbox`` ``[B, A, 4]``, in float32 whatever the dtype policy (the 1x1 output
    convs and what follows them compute in ``OUTPUT_DTYPE``). The two output convs start
    at N(0, 0.01) (Detectron, torchvision), so initial objectness is near 0.5 everywhere
    instead of saturating on the scale of the features.
    """
    out = OUTPUT_DTYPE
    shared = keras.layers.Conv2D(conv_dim, 3, padding="same", activation="relu",
                                 name="rpn_conv_shared")
    small = keras.initializers.RandomNormal(stddev=0.01)
    class_raw = keras.layers.Conv2D(2 * anchors_per_location, 1, name="rpn_class_raw", dtype=out,
                                    kernel_initializer=small)
    bbox_pred = keras.layers.Conv2D(4 * anchors_per_location, 1, name="rpn_bbox_pred", dtype=out,
                                    kernel_initializer=small)
    logits, deltas = [], []
    for p in feature_maps:
        x = shared(p)
        logits.append(keras.layers.Reshape((-1, 2), dtype=out)(class_raw(x)))
        deltas.append(keras.layers.Reshape((-1, 4), dtype=out)(bbox_pred(x)))
    rpn_class_logits = keras.layers.Concatenate(axis=1, name="rpn_class_logits",
                                                dtype=out)(logits)
    rpn_probs = keras.layers.Softmax(name="rpn_class", dtype=out)(rpn_class_logits)
    rpn_bbox = keras.layers.Concatenate(axis=1, name="rpn_bbox", dtype=out)(deltas)
    return rpn_class_logits, rpn_probs, rpn_bbox
