"""MaskRCNN: the user-facing model (train, detect, load and save weights).

Training itself is :class:`mrcnn.engine.trainer.Trainer`'s; ``MaskRCNN.train`` is its front.
"""

from __future__ import annotations

import contextlib
import glob
import os
from collections.abc import Iterable, Sequence

import keras
import numpy as np
import tensorflow as tf

from mrcnn import preprocessing
from mrcnn.engine.trainer import Trainer, TrainingModel, set_trainable
from mrcnn.graph import build_graph
from mrcnn.weights.checkpoint_info import checkpoint_info, config_from_info, read_info, stored_info
from mrcnn.weights.files import checkpoint_epoch, load_weights_by_name, save_weights_atomically
from mrcnn.weights.migration import is_classic_weights_file, load_classic_weights

__all__ = ["MaskRCNN"]


class MaskRCNN:
    """Mask R-CNN in ``mode`` "training" or "inference" for ``config``.

    Checkpoints and TensorBoard logs go to ``model_dir/<name><timestamp>/``; every
    checkpoint also stores the config and the class names (:mod:`mrcnn.weights.checkpoint_info`), so
    :meth:`from_checkpoint` needs nothing else.
    """

    def __init__(self, mode: str, config, model_dir: str = "logs", strategy=None,
                 class_names: Sequence[str] | None = None):
        """``strategy``: a ``tf.distribute.Strategy`` to build (and train) the model under;
        ``train(..., strategy=...)`` can also set it later. ``class_names``: names of the
        class ids, background first (set by :meth:`train` from its data set and by
        :meth:`load_weights` from a checkpoint that has them)."""
        if mode not in ("training", "inference"):
            raise ValueError(f"mode must be 'training' or 'inference', got {mode!r}")
        if class_names is not None and len(class_names) != config.NUM_CLASSES:
            raise ValueError(f"{len(class_names)} class names for NUM_CLASSES = "
                             f"{config.NUM_CLASSES} (background included)")
        self.mode = mode
        self.config = config
        self.class_names = list(class_names) if class_names is not None else None
        self.model_dir = model_dir
        self.epoch = 0
        self.log_dir: str | None = None
        self.strategy = strategy
        self.keras_model = self._build()
        self._predict = None
        # The fit loop, and the optimizer state it carries to the next train() call.
        self.trainer = Trainer(self) if mode == "training" else None

    def scope(self):
        """The context of the model's ``tf.distribute`` strategy (a null context without one):
        variables created inside (the optimizer's) are placed as the strategy says."""
        return self.strategy.scope() if self.strategy is not None else contextlib.nullcontext()

    def _build(self) -> keras.Model:
        with self.scope():
            graph = build_graph(self.mode, self.config)
            if self.mode == "training":
                graph = TrainingModel(graph.inputs, graph.outputs, name=graph.name,
                                      loss_weights=self.config.LOSS_WEIGHTS)
        return graph

    def use_strategy(self, strategy) -> None:
        """Rebuild the graph under ``strategy`` (keeping the weights) if it is a new one."""
        if strategy is None or strategy is self.strategy:
            return
        weights = self.keras_model.get_weights()
        self.strategy = strategy
        self.keras_model = self._build()
        self.keras_model.set_weights(weights)
        self._predict = None

    # ------------------------------------------------------------------ weights
    def find_last(self) -> str:
        """Path of the newest checkpoint of this config's newest run in ``model_dir``."""
        stamp = "[0-9]" * 8 + "T" + "[0-9]" * 6  # run folders are <name><YYYYmmddTHHMMSS>
        pattern = os.path.join(glob.escape(self.model_dir), glob.escape(self.config.NAME.lower()))
        runs = sorted(d for d in glob.glob(pattern + stamp) if os.path.isdir(d))
        for run in reversed(runs):
            checkpoints = sorted(glob.glob(os.path.join(run, "mask_rcnn_*.weights.h5")))
            if checkpoints:
                return checkpoints[-1]
        raise FileNotFoundError(f"no checkpoint of {self.config.NAME!r} under {self.model_dir!r}")

    def checkpoint_pattern(self) -> str:
        """The path of this run's checkpoints, a ``str.format`` pattern of ``epoch``."""
        return os.path.join(self.log_dir,
                            f"mask_rcnn_{self.config.NAME.lower()}_{{epoch:04d}}.weights.h5")

    def last_checkpoint(self) -> str:
        """The checkpoint of this model's own run at its current epoch (after ``train``, the
        last one it wrote). Unlike :meth:`find_last`, never another run's: a run of the
        same name started later in ``model_dir`` (another process, say) has a newer folder."""
        path = self.checkpoint_pattern().format(epoch=self.epoch) if self.log_dir else None
        if path is None or not os.path.exists(path):
            raise FileNotFoundError(f"no checkpoint of this {self.config.NAME!r} run at epoch "
                                    f"{self.epoch} (it has not trained or loaded one)")
        return path

    @classmethod
    def from_checkpoint(cls, path: str, mode: str = "inference", model_dir: str = "logs",
                        info: dict | None = None, **overrides) -> MaskRCNN:
        """The model saved in ``path`` (a ``.weights.h5`` written by this library), built
        from the config stored in it, with its weights and class names. ``overrides``
        replace config fields, e.g. ``DETECTION_MIN_CONFIDENCE=0.3`` or
        ``IMAGES_PER_GPU=1``. ``info``: the record of ``path`` if the caller has already
        read it (:func:`mrcnn.weights.checkpoint_info.stored_info`), so the file is not read
        twice."""
        if not os.path.exists(path):
            raise FileNotFoundError(f"weights file not found: {path}")
        config, class_names = config_from_info(info if info is not None else stored_info(path),
                                               **overrides)
        model = cls(mode, config, model_dir, class_names=class_names)
        report = model.load_weights(path)
        if report["mismatched"] or report["missing"]:
            raise ValueError(f"{path} does not fit the graph of its own config: mismatched "
                             f"{report['mismatched']}, missing {report['missing']}")
        return model

    def save_weights(self, path: str) -> None:
        """Save the weights with the config and class names, atomically."""
        save_weights_atomically(self.keras_model, path,
                                checkpoint_info(self.config, self.class_names))

    def load_weights(self, path: str, by_name: bool = True,
                     exclude: Sequence[str] | None = None) -> dict[str, list]:
        """Load ``.weights.h5`` weights; by layer name (so training and inference graphs,
        and graphs with other heads, share files). ``exclude`` lists layer names to skip.
        A Keras 2 HDF5 file of the classic Keras Mask R-CNN (``layer_names`` attribute) is
        migrated by name (:func:`mrcnn.weights.migration.load_classic_weights`).

        Returns a report ``{"loaded": [...], "skipped": [...], "mismatched": [...],
        "missing": [...]}`` and logs what was not loaded. A checkpoint named
        ``..._NNNN.weights.h5`` sets ``self.epoch`` so training resumes after it; on a
        training model the optimizer state saved beside it (``..._NNNN.state.npz``), if
        any, is restored by the next :meth:`train` call.
        """
        if not os.path.exists(path):
            raise FileNotFoundError(f"weights file not found: {path}")
        if by_name and is_classic_weights_file(path):
            return load_classic_weights(self.keras_model, path, exclude or ())
        if by_name:
            report = load_weights_by_name(self.keras_model, path, exclude or ())
        else:
            self.keras_model.load_weights(path)
            report = {"loaded": [layer.name for layer in self.keras_model.layers if layer.weights],
                      "skipped": [], "mismatched": [], "missing": []}
        if self.class_names is None and path.endswith(".weights.h5"):
            info = read_info(path)
            names = (info or {}).get("class_names")
            if names is not None and len(names) == self.config.NUM_CLASSES:
                self.class_names = list(names)
        epoch = checkpoint_epoch(path)
        if epoch is not None:
            self.epoch = epoch
            self.log_dir = os.path.dirname(path)
        if self.trainer is not None:
            # The optimizer state saved with the checkpoint (if any) is restored by the
            # next train() call; other weights make the previous state meaningless.
            self.trainer.load_optimizer_state(path)
        return report

    # ------------------------------------------------------------------ training
    def set_trainable(self, layers: str) -> list[str]:
        """Make layers whose name fully matches ``layers`` (preset or regex) trainable;
        returns the names of trainable layers that have weights."""
        return set_trainable(self.keras_model, layers)

    def train(self, train_dataset, val_dataset, learning_rate: float | None = None,
              epochs: int | None = None, layers: str = "heads", augmentation=None,
              custom_callbacks: Iterable | None = None,
              seed: int = 0, verbose: int = 1, resume: bool = False,
              strategy=None) -> keras.callbacks.History:
        """Train until epoch ``epochs`` (cumulative across calls, as in the classic API).

        ``learning_rate``: default ``config.LEARNING_RATE``.

        ``layers``: "heads", "3+", "4+", "5+", "all" or a regex over layer names.
        ``augmentation``: ``fn(image, masks, rng) -> (image, masks)`` applied in the input
        pipeline (or :class:`~mrcnn.data.augment.CopyPaste` wrapping one); ``None`` (the
        default) uses ``config.AUGMENTATION``, ``False`` none at all. After every epoch
        the weights and the optimizer state are written atomically (see
        :mod:`mrcnn.engine.checkpoints`); an epoch that ends with a NaN/Inf loss writes nothing.

        The optimizer state (iteration count, momentum / Adam moments) carries over to
        the next ``train`` call, also across processes: ``resume=True`` continues the
        newest checkpoint of this config under ``model_dir`` (weights, optimizer state,
        epoch numbering, log folder); ``load_weights(path)`` followed by ``train`` does
        the same for a checkpoint of your choice.

        ``strategy``: a ``tf.distribute.Strategy`` (e.g. ``MirroredStrategy``); the model
        and optimizer are (re)built under its scope and Keras splits each global batch of
        ``config.BATCH_SIZE`` images over its replicas (see README, "Scaling out").

        Raises ``ValueError`` when a data set's ``num_classes`` differs from
        ``config.NUM_CLASSES``, and :class:`NonFiniteLossError` (naming the epoch, step
        and loss term) when a loss becomes NaN/Inf; the last good checkpoint is kept.

        The loop itself is ``self.trainer``'s (:class:`mrcnn.engine.trainer.Trainer`).
        """
        if self.trainer is None:
            raise RuntimeError("create the model with mode='training' to train it")
        if epochs is None:
            raise TypeError("train() needs epochs (the epoch number to train until)")
        if learning_rate is None:
            learning_rate = self.config.LEARNING_RATE
        if augmentation is None:
            augmentation = self.config.AUGMENTATION
        elif augmentation is False:
            augmentation = None
        return self.trainer.train(train_dataset, val_dataset, learning_rate, epochs,
                                  layers=layers, augmentation=augmentation,
                                  custom_callbacks=custom_callbacks, seed=seed,
                                  verbose=verbose, resume=resume, strategy=strategy)

    # ------------------------------------------------------------------ inference
    def mold_inputs(self, images: Sequence[np.ndarray]):
        """Resize and normalise ``images``; returns ``(molded [N, H, W, 3], metas, windows)``
        (:func:`mrcnn.preprocessing.mold_inputs`)."""
        return preprocessing.mold_inputs(images, self.config)

    def _predict_fn(self):
        if self._predict is None:
            model = self.keras_model
            signature = [tf.TensorSpec([None, None, None, self.config.IMAGE_CHANNEL_COUNT],
                                       tf.float32),
                         tf.TensorSpec([None, self.config.IMAGE_META_SIZE], tf.float32)]

            # XLA only when the config asks (Config.JIT_COMPILE, GRAPH_OPS = "xla"):
            # CropAndResize and CombinedNonMaxSuppression have no XLA kernels.
            @tf.function(input_signature=signature, autograph=False,
                         jit_compile=bool(self.config.JIT_COMPILE))
            def predict(images, metas):
                return model([images, metas], training=False)

            self._predict = predict
        return self._predict

    def _check_image(self, index: int, image) -> np.ndarray:
        """One detect() input (array, PIL image or path) as the network's ``[H, W, C]``
        uint8 (or float) array (:func:`mrcnn.preprocessing.check_image`)."""
        return preprocessing.check_image(index, image, self.config.IMAGE_CHANNEL_COUNT)

    def unmold_detections(self, detections: np.ndarray, masks: np.ndarray,
                          original_shape, molded_shape, window,
                          min_score: float = 0.0) -> dict[str, np.ndarray]:
        """Map one image's detections back to its original pixels
        (:func:`mrcnn.preprocessing.unmold_detections`, with this model's class names).

        detections ``[D, 6]`` normalized (zero rows = padding), masks ``[D, h, w]``;
        detections scoring below ``min_score`` are dropped before their masks are pasted.
        """
        return preprocessing.unmold_detections(detections, masks, original_shape,
                                               molded_shape, window, min_score,
                                               self.class_names)

    def detect(self, images: Sequence, verbose: int = 0,
               min_score: float | None = None) -> list[dict]:
        """Detect instances in any number of images of any sizes.

        An image is an array, a ``PIL.Image`` or a file path (read by
        :func:`mrcnn.data.image_io.read_image`: EXIF orientation applied, CMYK and 16-bit
        files converted). Arrays are taken as RGB: an OpenCV ``cv2.imread`` array is BGR,
        so pass ``image[..., ::-1]``. Each image is converted with
        :func:`mrcnn.data.image_convert.to_rgb_uint8`, as training images are: ``[H, W]``
        / ``[H, W, 1]`` grayscale and ``[H, W, 2]`` are replicated to RGB, RGBA drops
        alpha, ``uint16`` keeps its top 8 bits, floats are taken as 0..1 when all values
        lie in [0, 1] and as 0..255 otherwise. Tiny and very elongated images are fine
        (possibly with no detections). A wrong rank, an empty image, NaN/Inf pixels or an
        unreadable file raise an error naming the image's index (and path).

        ``min_score``: keep detections scoring at least this much, for this call only
        (default ``config.DETECTION_MIN_CONFIDENCE``, the threshold built into the graph;
        a lower value needs a model built with a lower one, e.g.
        ``MaskRCNN.from_checkpoint(path, DETECTION_MIN_CONFIDENCE=0.05)``). Thresholding
        after NMS gives the same detections as thresholding before it: NMS never lets a
        lower score suppress a higher one, and the top ``DETECTION_MAX_INSTANCES`` by score
        commute with a score threshold.

        Returns one dict per image: ``rois`` ``[N, 4]`` int32 ``(y1, x1, y2, x2)`` pixels,
        ``class_ids`` ``[N]`` int32, ``scores`` ``[N]`` float32, ``masks`` ``[H, W, N]``
        bool at the image's original size, and ``class_names`` ``[N]`` when the model
        knows them (trained here or loaded from a checkpoint that stores them).
        """
        if self.mode != "inference":
            raise RuntimeError("create the model with mode='inference' to detect")
        floor = self.config.DETECTION_MIN_CONFIDENCE
        if min_score is None:
            min_score = floor
        elif min_score < floor:
            raise ValueError(
                f"min_score={min_score} is below the threshold this model was built with "
                f"(DETECTION_MIN_CONFIDENCE = {floor}); build it with a lower one, e.g. "
                f"MaskRCNN.from_checkpoint(path, DETECTION_MIN_CONFIDENCE={min_score})")
        images = [self._check_image(i, image) for i, image in enumerate(images)]
        predict = self._predict_fn()
        # Batch images whose molded shapes agree (all of them in "square" mode).
        molded = [self.mold_inputs([image]) for image in images]
        by_shape: dict[tuple, list[int]] = {}
        for i, (m, _, _) in enumerate(molded):
            by_shape.setdefault(m.shape[1:], []).append(i)
        results: list[dict | None] = [None] * len(images)
        batch = self.config.BATCH_SIZE
        for shape, indices in by_shape.items():
            for start in range(0, len(indices), batch):
                chunk = indices[start:start + batch]
                out = predict(tf.constant(np.concatenate([molded[i][0] for i in chunk])),
                              tf.constant(np.concatenate([molded[i][1] for i in chunk])))
                detections = out["detections"].numpy()
                masks = out["mrcnn_mask"].numpy()
                for k, i in enumerate(chunk):
                    results[i] = self.unmold_detections(detections[k], masks[k], images[i].shape,
                                                        shape, molded[i][2][0], min_score)
                    if verbose:
                        print(f"image {i}: {len(results[i]['class_ids'])} detections")
        return results
