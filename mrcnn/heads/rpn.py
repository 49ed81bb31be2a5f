"""Region proposal network head, shared by every pyramid level."""

from __future__ import annotations

from typing import Sequence

import keras


def build_rpn(feature_maps: Sequence, anchors_per_location: int, conv_dim: int):
    """Objectness and box deltas for every anchor of every level.

    The same three layers (``rpn_conv_shared``, ``rpn_class_raw``, ``rpn_bbox_pred``)
    run on each of ``feature_maps`` (P2..P6); outputs are concatenated in level order,
    position-major, matching :func:`mrcnn.ops.anchors.pyramid_anchors`.

    Returns ``rpn_class_logits`` ``[B, A, 2]``, ``rpn_probs`` ``[B, A, 2]`` and
    ``rpn_bbox`` ``[B, A, 4]``.
    """
    shared = keras.layers.Conv2D(conv_dim, 3, padding="same", activation="relu",
                                 name="rpn_conv_shared")
    class_raw = keras.layers.Conv2D(2 * anchors_per_location, 1, name="rpn_class_raw")
    bbox_pred = keras.layers.Conv2D(4 * anchors_per_location, 1, name="rpn_bbox_pred")
    logits, deltas = [], []
    for p in feature_maps:
        x = shared(p)
        logits.append(keras.layers.Reshape((-1, 2))(class_raw(x)))
        deltas.append(keras.layers.Reshape((-1, 4))(bbox_pred(x)))
    rpn_class_logits = keras.layers.Concatenate(axis=1, name="rpn_class_logits")(logits)
    rpn_probs = keras.layers.Softmax(name="rpn_class")(rpn_class_logits)
    rpn_bbox = keras.layers.Concatenate(axis=1, name="rpn_bbox")(deltas)
    return rpn_class_logits, rpn_probs, rpn_bbox
