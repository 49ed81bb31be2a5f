"""Export an inference model as a TensorFlow SavedModel that takes raw images.

    from mrcnn.export import export_saved_model
    export_saved_model(detector, "export/mask_rcnn/1")      # detector: MaskRCNN("inference")

    served = tf.saved_model.load("export/mask_rcnn/1")
    out = served.signatures["serving_default"](images=tf.constant(batch_uint8))
    # or: out = served.serve(batch_uint8)

The serving function takes ``images``: a uint8 batch ``[B, H, W, 3]`` (any H, W; one
size per batch) and does in TensorFlow what :meth:`MaskRCNN.detect` does in NumPy, with
the TensorFlow path of :mod:`mrcnn.preprocessing`: resize (bilinear, bit-exactly as
``cv2.INTER_LINEAR``: :func:`~mrcnn.preprocessing.resize_like_cv2`) and pad to the
network's input as ``IMAGE_RESIZE_MODE`` says ("square", "pad64" or "none"; "crop" serves
as "square"), subtract ``MEAN_PIXEL``, run the graph, map boxes back to the original
pixels and paste the predicted (28x28 or 56x56) masks into full-size masks.

It returns, with ``D`` = the largest detection count in the batch (rows past
``num_detections[b]`` are zero):

* ``num_detections`` ``[B]`` int32
* ``boxes`` ``[B, D, 4]`` int32 ``(y1, x1, y2, x2)`` pixels of the original image
* ``class_ids`` ``[B, D]`` int32, ``scores`` ``[B, D]`` float32 (sorted by score)
* ``masks`` ``[B, D, H, W]`` uint8 (0/1), full size

These are :meth:`MaskRCNN.detect`'s ``rois``, ``class_ids``, ``scores`` and ``masks``
(transposed to instance-major), up to float rounding.

The names of the class ids (background first) travel with the model: ``served.class_names()``
returns them as a string tensor (empty when the model had none), and
``assets/class_names.json`` holds them for readers without TensorFlow.
"""

from __future__ import annotations

import json
import os

import keras
import tensorflow as tf

from mrcnn.precision import inference_policy
from mrcnn.preprocessing import mold_inputs_tf, unmold_detections_tf


def serving_function(model, config=None):
    """``fn(images uint8 [B, H, W, 3]) -> dict`` (see the module docstring), not traced."""
    keras_model = getattr(model, "keras_model", model)
    config = config if config is not None else model.config
    if getattr(model, "mode", "inference") != "inference":
        raise ValueError("export an inference model: MaskRCNN('inference', config, ...)")

    def serve(images):
        images = tf.convert_to_tensor(images)
        if images.dtype != tf.uint8:
            raise TypeError(f"serving: images must be uint8, got {images.dtype}")
        molded, metas, window, molded_hw = mold_inputs_tf(images, config)
        out = keras_model([molded, metas], training=False)
        shape = tf.shape(images)
        return unmold_detections_tf(out["detections"], out["mrcnn_mask"], window, molded_hw,
                                    shape[1], shape[2])

    return serve


def in_policy(model, dtype_policy: str | None = None):
    """``model`` (a ``MaskRCNN`` in inference mode) if it computes in ``dtype_policy``
    (default: its config's ``DTYPE_POLICY``), else a twin built in that policy with the
    same weights and class names.

    A float32 model that computes in bfloat16 only because this CPU has bfloat16 units
    (``Config.AUTO_BFLOAT16_INFERENCE``) is thus exported in float32: the machine that
    will serve the SavedModel may have none (bfloat16 emulated on such a CPU is slow).
    """
    from mrcnn.model import MaskRCNN
    from mrcnn.weights.checkpoint_info import config_fields, config_from_fields

    wanted = dtype_policy or model.config.DTYPE_POLICY
    if wanted == inference_policy(model.config):
        return model
    config = config_from_fields(config_fields(model.config), type(model.config).__name__,
                                DTYPE_POLICY=wanted, AUTO_BFLOAT16_INFERENCE=False)
    twin = MaskRCNN("inference", config, model.model_dir, class_names=model.class_names)
    twin.keras_model.set_weights(model.keras_model.get_weights())
    return twin


def export_saved_model(model, path: str | os.PathLike, verbose: bool = False,
                       dtype_policy: str | None = None) -> str:
    """Write a SavedModel of ``model`` (a ``MaskRCNN`` in inference mode) to ``path``.

    Its ``serving_default`` signature (also callable as ``.serve``) takes ``images``
    uint8 ``[B, H, W, C]`` and returns ``num_detections``, ``boxes``, ``class_ids``,
    ``scores`` and ``masks`` as described in the module docstring; ``class_names()``
    returns the model's class names. The graph computes in ``dtype_policy`` (default:
    the config's ``DTYPE_POLICY``, see :func:`in_policy`). Returns ``path``.
    """
    model = in_policy(model, dtype_policy)
    config = model.config
    keras_model = model.keras_model
    serve = serving_function(model, config)
    archive = keras.export.ExportArchive()
    archive.track(keras_model)
    spec = tf.TensorSpec([None, None, None, config.IMAGE_CHANNEL_COUNT], tf.uint8,
                         name="images")
    archive.add_endpoint(name="serve", fn=serve, input_signature=[spec])
    names = list(getattr(model, "class_names", None) or [])
    archive.add_endpoint(name="class_names",
                         fn=lambda: tf.constant(names, dtype=tf.string, shape=[len(names)]),
                         input_signature=[])
    path = os.fspath(path)
    archive.write_out(path, verbose=verbose)
    assets = os.path.join(path, "assets")
    os.makedirs(assets, exist_ok=True)
    with open(os.path.join(assets, "class_names.json"), "w") as f:
        json.dump(names, f)
    return path
