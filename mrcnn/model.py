"""MaskRCNN: the user-facing model (train, detect, load and save weights)."""

from __future__ import annotations

import datetime
import glob
import logging
import os
import re
from typing import Iterable, Sequence

import keras
import numpy as np
import tensorflow as tf

from mrcnn.checkpoints import AtomicCheckpoint, load_weights_by_name
from mrcnn.data.image_meta import compose_image_meta
from mrcnn.data.resize import resize_image
from mrcnn.graph import LOSS_NAMES, build_graph
from mrcnn.ops.boxes import denorm_boxes
from mrcnn.ops.masks import paste_masks
from mrcnn.training import build_dataset, layers_regex, mold_image

logger = logging.getLogger(__name__)


class TrainingModel(keras.Model):
    """The functional training graph with a train step that sums the weighted losses.

    Each loss and their weighted total are reported under their own names
    (``rpn_class_loss`` ... ``total_loss``).
    """

    def __init__(self, *args, loss_weights: dict[str, float] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.loss_weights_by_name = dict(loss_weights or {n: 1.0 for n in LOSS_NAMES})
        self.trackers = {name: keras.metrics.Mean(name=name)
                         for name in (*LOSS_NAMES, "total_loss")}

    @property
    def metrics(self):
        return list(self.trackers.values())

    def _weighted_losses(self, data, training: bool):
        inputs, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        losses = dict(zip(LOSS_NAMES, self(inputs, training=training)))
        total = tf.add_n([self.loss_weights_by_name[n] * losses[n] for n in LOSS_NAMES])
        return losses, total

    def _report(self, losses, total):
        for name, value in losses.items():
            self.trackers[name].update_state(value)
        self.trackers["total_loss"].update_state(total)
        return {name: tracker.result() for name, tracker in self.trackers.items()}

    def train_step(self, data):
        with tf.GradientTape() as tape:
            losses, total = self._weighted_losses(data, training=True)
        variables = self.trainable_variables
        grads = tape.gradient(total, variables)
        self.optimizer.apply_gradients(
            [(g, v) for g, v in zip(grads, variables) if g is not None])
        return self._report(losses, total)

    def test_step(self, data):
        return self._report(*self._weighted_losses(data, training=False))


def make_optimizer(config, learning_rate: float) -> keras.optimizers.Optimizer:
    """SGD with momentum or AdamW, decoupled weight decay (not on BN and biases), clipping."""
    kwargs = {"learning_rate": learning_rate, "weight_decay": config.WEIGHT_DECAY or None,
              "global_clipnorm": config.GRADIENT_CLIP_NORM}
    if config.OPTIMIZER == "adamw":
        optimizer = keras.optimizers.AdamW(**kwargs)
    else:
        optimizer = keras.optimizers.SGD(momentum=config.LEARNING_MOMENTUM, **kwargs)
    if config.WEIGHT_DECAY:
        optimizer.exclude_from_weight_decay(var_names=["gamma", "beta", "bias"])
    return optimizer


class MaskRCNN:
    """Mask R-CNN in ``mode`` "training" or "inference" for ``config``.

    Checkpoints and TensorBoard logs go to ``model_dir/<name><timestamp>/``.
    """

    def __init__(self, mode: str, config, model_dir: str = "logs"):
        if mode not in ("training", "inference"):
            raise ValueError(f"mode must be 'training' or 'inference', got {mode!r}")
        self.mode = mode
        self.config = config
        self.model_dir = model_dir
        self.epoch = 0
        self.log_dir: str | None = None
        graph = build_graph(mode, config)
        if mode == "training":
            graph = TrainingModel(graph.inputs, graph.outputs, name=graph.name,
                                  loss_weights=config.LOSS_WEIGHTS)
        self.keras_model = graph
        self._predict = None

    # ------------------------------------------------------------------ weights
    def find_last(self) -> str:
        """Path of the newest checkpoint of this config's newest run in ``model_dir``."""
        prefix = os.path.join(self.model_dir, self.config.NAME.lower())
        runs = sorted(d for d in glob.glob(prefix + "*") if os.path.isdir(d))
        for run in reversed(runs):
            checkpoints = sorted(glob.glob(os.path.join(run, "mask_rcnn_*.weights.h5")))
            if checkpoints:
                return checkpoints[-1]
        raise FileNotFoundError(f"no checkpoint of {self.config.NAME!r} under {self.model_dir!r}")

    def save_weights(self, path: str) -> None:
        self.keras_model.save_weights(path)

    def load_weights(self, path: str, by_name: bool = True,
                     exclude: Sequence[str] | None = None) -> dict[str, list]:
        """Load ``.weights.h5`` weights; by layer name (so training and inference graphs,
        and graphs with other heads, share files). ``exclude`` lists layer names to skip.

        Returns a report ``{"loaded": [...], "skipped": [...], "mismatched": [...],
        "missing": [...]}`` and logs what was not loaded. A checkpoint named
        ``..._NNNN.weights.h5`` sets ``self.epoch`` so training resumes after it.
        """
        if not os.path.exists(path):
            raise FileNotFoundError(f"weights file not found: {path}")
        if by_name:
            report = load_weights_by_name(self.keras_model, path, exclude or ())
        else:
            self.keras_model.load_weights(path)
            report = {"loaded": [layer.name for layer in self.keras_model.layers if layer.weights],
                      "skipped": [], "mismatched": [], "missing": []}
        match = re.search(r"_(\d{4})\.weights\.h5$", path)
        if match:
            self.epoch = int(match.group(1))
            self.log_dir = os.path.dirname(path)
        return report

    # ------------------------------------------------------------------ training
    def set_trainable(self, layers: str) -> list[str]:
        """Make layers whose name fully matches ``layers`` (preset or regex) trainable;
        returns the names of trainable layers that have weights."""
        regex = re.compile(layers_regex(layers))
        trained = []
        for layer in self.keras_model.layers:
            if not layer.weights:
                continue
            layer.trainable = bool(regex.fullmatch(layer.name))
            if layer.trainable:
                trained.append(layer.name)
        if not trained:
            raise ValueError(f"layers={layers!r} matches no layer with weights")
        return trained

    def train(self, train_dataset, val_dataset, learning_rate: float, epochs: int,
              layers: str = "heads", augmentation=None, custom_callbacks: Iterable | None = None,
              seed: int = 0, verbose: int = 1) -> keras.callbacks.History:
        """Train until epoch ``epochs`` (cumulative across calls, as in the classic API).

        ``layers``: "heads", "3+", "4+", "5+", "all" or a regex over layer names.
        ``augmentation``: ``fn(image, masks, rng) -> (image, masks)`` applied in the input
        pipeline. A checkpoint is written atomically after every epoch.
        """
        if self.mode != "training":
            raise RuntimeError("create the model with mode='training' to train it")
        config = self.config
        if self.log_dir is None:
            stamp = datetime.datetime.now().strftime("%Y%m%dT%H%M%S")
            self.log_dir = os.path.join(self.model_dir, f"{config.NAME.lower()}{stamp}")
        os.makedirs(self.log_dir, exist_ok=True)
        self.set_trainable(layers)
        self.keras_model.compile(optimizer=make_optimizer(config, learning_rate),
                                 jit_compile=False)
        train_data = build_dataset(train_dataset, config, shuffle=True,
                                   augmentation=augmentation, seed=seed + self.epoch)
        val_data = (build_dataset(val_dataset, config, shuffle=True, seed=seed)
                    if val_dataset is not None else None)
        pattern = os.path.join(self.log_dir,
                               f"mask_rcnn_{config.NAME.lower()}_{{epoch:04d}}.weights.h5")
        callbacks = [keras.callbacks.TensorBoard(self.log_dir, write_graph=False),
                     AtomicCheckpoint(pattern), *(custom_callbacks or [])]
        history = self.keras_model.fit(
            train_data, initial_epoch=self.epoch, epochs=epochs,
            steps_per_epoch=config.STEPS_PER_EPOCH, validation_data=val_data,
            validation_steps=config.VALIDATION_STEPS if val_data is not None else None,
            callbacks=callbacks, verbose=verbose, shuffle=False)
        self.epoch = max(self.epoch, epochs)
        return history

    # ------------------------------------------------------------------ inference
    def mold_inputs(self, images: Sequence[np.ndarray]):
        """Resize and normalise ``images``; returns ``(molded [N, H, W, 3], metas, windows)``."""
        config = self.config
        molded, metas, windows = [], [], []
        for image in images:
            resized, window, scale, _, _ = resize_image(
                image, config.IMAGE_MIN_DIM, config.IMAGE_MAX_DIM, config.IMAGE_MIN_SCALE,
                "square" if config.IMAGE_RESIZE_MODE == "crop" else config.IMAGE_RESIZE_MODE)
            molded.append(mold_image(resized, config))
            metas.append(compose_image_meta(0, image.shape, resized.shape, window, scale,
                                            np.ones(config.NUM_CLASSES, np.int32)))
            windows.append(window)
        return np.stack(molded), np.stack(metas), np.array(windows)

    def _predict_fn(self):
        if self._predict is None:
            model = self.keras_model
            signature = [tf.TensorSpec([None, None, None, self.config.IMAGE_CHANNEL_COUNT],
                                       tf.float32),
                         tf.TensorSpec([None, self.config.IMAGE_META_SIZE], tf.float32)]

            @tf.function(input_signature=signature)
            def predict(images, metas):
                return model([images, metas], training=False)

            self._predict = predict
        return self._predict

    def unmold_detections(self, detections: np.ndarray, masks: np.ndarray,
                          original_shape, molded_shape, window) -> dict[str, np.ndarray]:
        """Map one image's detections back to its original pixels.

        detections ``[D, 6]`` normalized (zero rows = padding), masks ``[D, h, w]``.
        """
        n = int(np.sum(detections[:, 4] > 0))
        boxes = denorm_boxes(detections[:n, :4], molded_shape[:2]).numpy()
        wy1, wx1, wy2, wx2 = window
        scale_y = original_shape[0] / max(wy2 - wy1, 1)
        scale_x = original_shape[1] / max(wx2 - wx1, 1)
        boxes = (boxes - np.array([wy1, wx1, wy1, wx1])) * np.array([scale_y, scale_x] * 2)
        rois = np.round(boxes).astype(np.int32)
        keep = (rois[:, 2] > rois[:, 0]) & (rois[:, 3] > rois[:, 1])
        height, width = original_shape[:2]
        if keep.any():
            full = paste_masks(masks[:n][keep], boxes[keep].astype(np.float32), (height, width))
            full = np.transpose(full.numpy(), (1, 2, 0))
        else:
            full = np.zeros((height, width, 0), bool)
        return {"rois": rois[keep], "class_ids": detections[:n, 4][keep].astype(np.int32),
                "scores": detections[:n, 5][keep].astype(np.float32), "masks": full}

    def detect(self, images: Sequence[np.ndarray], verbose: int = 0) -> list[dict]:
        """Detect instances in any number of RGB images of any sizes.

        Returns one dict per image: ``rois`` ``[N, 4]`` int32 ``(y1, x1, y2, x2)`` pixels,
        ``class_ids`` ``[N]`` int32, ``scores`` ``[N]`` float32, ``masks`` ``[H, W, N]``
        bool at the image's original size.
        """
        if self.mode != "inference":
            raise RuntimeError("create the model with mode='inference' to detect")
        images = list(images)
        for i, image in enumerate(images):
            if not (isinstance(image, np.ndarray) and image.ndim == 3
                    and image.shape[2] == self.config.IMAGE_CHANNEL_COUNT):
                channels = self.config.IMAGE_CHANNEL_COUNT
                raise ValueError(f"image {i}: expected an [H, W, {channels}] array, "
                                 f"got {getattr(image, 'shape', type(image))}")
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
                                                        shape, molded[i][2][0])
                    if verbose:
                        print(f"image {i}: {len(results[i]['class_ids'])} detections")
        return results
