"""Training: the fit loop of a model built in mode "training" (a :class:`~mrcnn.model.MaskRCNN`).

:class:`Trainer` owns what one ``train()`` call does: layer presets, optimizer and
compile (under the model's ``tf.distribute`` strategy), the tf.data pipelines,
callbacks (TensorBoard, atomic checkpoints with the config and class names, the NaN
guard), resuming (newest checkpoint and optimizer state) and the optimizer state
carried to the next call. ``MaskRCNN.train`` and ``MaskRCNN.set_trainable`` are thin
fronts for it. :class:`TrainingModel` is the Keras model whose train step sums the
weighted losses.
"""

from __future__ import annotations

import datetime
import logging
import os
import re
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

import keras
import tensorflow as tf

from mrcnn.config import LOSS_NAMES, ConfigError
from mrcnn.engine import multi_worker
from mrcnn.engine.checkpoints import (
    AtomicCheckpoint,
    is_chief,
    load_training_state,
    non_finite,
    optimizer_state,
    restore_optimizer_state,
    state_path,
)
from mrcnn.engine.input_pipeline import InputError, build_dataset, input_errors_raised, layers_regex
from mrcnn.precision import training_optimizer
from mrcnn.weights.checkpoint_info import checkpoint_info
from mrcnn.weights.files import checkpoint_epoch, remove_stale_temporaries

logger = logging.getLogger(__name__)


class TrainableModel(Protocol):
    """What the trainer reads and sets on the model it drives (``MaskRCNN`` is one): the
    engine imports no model class, so the arrow points one way."""

    mode: str
    config: Any
    keras_model: keras.Model
    strategy: Any
    epoch: int
    model_dir: str
    log_dir: str | None
    class_names: list[str] | None

    def scope(self): ...

    def use_strategy(self, strategy) -> None: ...

    def find_last(self) -> str: ...

    def load_weights(self, path: str, *args, **kwargs): ...

    def checkpoint_pattern(self) -> str: ...


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
            # Under tf.distribute each replica sees 1/N of the global batch and the
            # optimizer sums the replicas' gradients: scale so the sum is the gradient
            # of the mean over replicas (N = 1 without a strategy).
            replicas = tf.distribute.get_strategy().num_replicas_in_sync
            scaled = total / tf.cast(replicas, total.dtype)
            # Loss scaling under mixed_float16 (a no-op for other optimizers).
            scaled = self.optimizer.scale_loss(scaled)
        pairs = [(g, v) for g, v in zip(tape.gradient(scaled, self.trainable_variables),
                                        self.trainable_variables) if g is not None]
        if replicas > 1:
            grads = self._clip_global_batch([g for g, _ in pairs], replicas)
            pairs = list(zip(grads, [v for _, v in pairs]))
        self.optimizer.apply_gradients(pairs)
        return self._report(losses, total)

    def _clip_global_batch(self, grads, replicas: int):
        """Each replica's share of the global batch's gradient, clipped as one gradient.

        Keras applies ``global_clipnorm`` before it sums the replicas' gradients, so each
        replica's share would be clipped on its own (up to N times the norm in all). Here
        the sum is clipped to the limit (times the loss scale under mixed precision) and
        each replica passes 1/N of it: the optimizer sums the clipped gradient, and its own
        clipping of a share (norm at most limit/N) changes nothing.
        """
        optimizer = getattr(self.optimizer, "inner_optimizer", self.optimizer)
        limit = optimizer.global_clipnorm
        if not limit:
            return grads
        total = tf.distribute.get_replica_context().all_reduce(
            tf.distribute.ReduceOp.SUM, grads)
        clipped, _ = tf.clip_by_global_norm(total, limit * self.optimizer.scale_loss(1.0))
        return [tf.math.scalar_mul(1.0 / replicas, g) for g in clipped]  # IndexedSlices too

    def test_step(self, data):
        return self._report(*self._weighted_losses(data, training=False))


# ---------------------------------------------------------------------- NaN guard
class NonFiniteLossError(FloatingPointError):
    """Training stopped because a loss became NaN or infinite.

    Attributes: ``epoch`` and ``step`` (1-based), ``losses`` (the non-finite terms),
    ``checkpoint`` (the last good checkpoint, or None) and ``history``.
    """

    def __init__(self, message: str, epoch: int, step: int | None, losses: dict,
                 checkpoint: str | None, history=None):
        super().__init__(message)
        self.epoch, self.step, self.losses = epoch, step, losses
        self.checkpoint, self.history = checkpoint, history


class StopOnNonFiniteLoss(keras.callbacks.Callback):
    """Stop training at the first step (or validation) whose loss is NaN or Inf and
    remember where: ``epoch``/``step`` (1-based) and the non-finite loss terms."""

    def __init__(self, names: Sequence[str] = (*LOSS_NAMES, "total_loss")):
        super().__init__()
        self.names = tuple(names)
        self.epoch: int | None = None
        self.step: int | None = None
        self.losses: dict[str, float] = {}
        self._current_epoch = 0

    @property
    def stopped(self) -> bool:
        return self.epoch is not None

    def on_epoch_begin(self, epoch, logs=None):
        self._current_epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.stopped:
            return
        bad = non_finite(logs, self.names)
        if bad:
            self.epoch, self.step, self.losses = self._current_epoch + 1, batch + 1, bad
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        if self.stopped:
            return
        bad = non_finite(logs, self.names + tuple(f"val_{n}" for n in self.names))
        if bad:
            self.epoch, self.step, self.losses = epoch + 1, None, bad
            self.model.stop_training = True

    def message(self) -> str:
        first = next((n for n in (*self.names, *(f"val_{n}" for n in self.names))
                      if n in self.losses), next(iter(self.losses)))
        where = (f"epoch {self.epoch}, step {self.step}" if self.step is not None
                 else f"epoch {self.epoch} (validation)")
        others = ", ".join(f"{k} = {v}" for k, v in self.losses.items() if k != first)
        return (f"non-finite loss at {where}: {first} = {self.losses[first]}"
                + (f" (also {others})" if others else "") + "; training stopped")


# ---------------------------------------------------------------------- pieces
def make_optimizer(config, learning_rate: float) -> keras.optimizers.Optimizer:
    """SGD with momentum or AdamW, decoupled weight decay (not on norm scales/offsets and biases),
    clipping."""
    kwargs = {"learning_rate": learning_rate, "weight_decay": config.WEIGHT_DECAY or None,
              "global_clipnorm": config.GRADIENT_CLIP_NORM}
    if config.OPTIMIZER == "adamw":
        optimizer = keras.optimizers.AdamW(**kwargs)
    else:
        optimizer = keras.optimizers.SGD(momentum=config.LEARNING_MOMENTUM, **kwargs)
    if config.WEIGHT_DECAY:
        optimizer.exclude_from_weight_decay(var_names=["gamma", "beta", "bias"])
    return optimizer


def set_trainable(keras_model: keras.Model, layers: str) -> list[str]:
    """Make the layers of ``keras_model`` whose name fully matches ``layers`` (preset or
    regex, :func:`mrcnn.engine.input_pipeline.layers_regex`) trainable and the others frozen;
    returns
    the names of trainable layers that have weights."""
    regex = re.compile(layers_regex(layers))
    trained = []
    for layer in keras_model.layers:
        if not layer.weights:
            continue
        layer.trainable = bool(regex.fullmatch(layer.name))
        if layer.trainable:
            trained.append(layer.name)
    if not trained:
        raise ValueError(f"layers={layers!r} matches no layer with weights")
    return trained


def check_dataset(name: str, dataset, config) -> None:
    """A data set must be prepared and have the configuration's number of classes."""
    num_classes = getattr(dataset, "num_classes", None)
    if num_classes is None:
        raise ValueError(f"{name} ({type(dataset).__name__}) has no num_classes: call "
                         "its prepare() before training")
    if num_classes != config.NUM_CLASSES:
        raise ValueError(
            f"{name} ({type(dataset).__name__}) has num_classes = {num_classes} "
            f"(background included) but {type(config).__name__}.NUM_CLASSES = "
            f"{config.NUM_CLASSES}; set NUM_CLASSES = {num_classes} (1 + the number of "
            "classes added with add_class)")


def check_strategy(strategy, config) -> None:
    """Global batches must split evenly over the strategy's replicas; no loss scaling
    across workers."""
    if strategy is None:
        return
    if multi_worker.uses_own_loop(strategy) and config.DTYPE_POLICY == "mixed_float16":
        raise ConfigError(
            f"{type(config).__name__}.DTYPE_POLICY = 'mixed_float16' cannot train under "
            "MultiWorkerMirroredStrategy: Keras' loss scaling decides on each worker's own "
            "gradients whether to apply them, so workers can disagree and wait for each "
            "other forever; use 'mixed_bfloat16' (no loss scaling) or 'float32'")
    replicas = strategy.num_replicas_in_sync
    if config.BATCH_SIZE % replicas:
        raise ConfigError(
            f"{type(config).__name__}.BATCH_SIZE = {config.BATCH_SIZE} (IMAGES_PER_GPU "
            f"x GPU_COUNT) is the global batch and must split evenly over the "
            f"strategy's {replicas} replicas; set GPU_COUNT = {replicas}")


# ---------------------------------------------------------------------- the loop
class Trainer:
    """Trains ``model`` (a :class:`TrainableModel` in mode "training") in place.

    The model keeps the weights, the epoch count, the run folder (``log_dir``), the
    strategy and the class names; the trainer keeps ``optimizer_state``, the optimizer
    variables carried to the next :meth:`train` call (from the previous call, or read
    by :meth:`load_optimizer_state` from beside a checkpoint).
    """

    def __init__(self, model: TrainableModel):
        if model.mode != "training":
            raise RuntimeError("create the model with mode='training' to train it")
        self.model = model
        self.optimizer_state: dict | None = None

    def set_trainable(self, layers: str) -> list[str]:
        """:func:`set_trainable` on the model's graph."""
        return set_trainable(self.model.keras_model, layers)

    def load_optimizer_state(self, weights_path: str) -> None:
        """Take the optimizer state saved beside the checkpoint ``weights_path``
        (``..._NNNN.state.npz``) for the next :meth:`train` call; none when there is no
        such file (other weights make the previous state meaningless) or it is damaged."""
        self.optimizer_state = None
        state_file = state_path(weights_path) if weights_path.endswith(".weights.h5") else None
        if state_file and os.path.exists(state_file):
            try:
                self.optimizer_state = load_training_state(state_file)
            except Exception as error:  # a damaged state must not block the weights
                logger.warning("could not read %s (%s): the optimizer starts fresh",
                               state_file, error)

    def train(self, train_dataset, val_dataset, learning_rate: float, epochs: int,
              layers: str = "heads", augmentation=None,
              custom_callbacks: Iterable | None = None, seed: int = 0, verbose: int = 1,
              resume: bool = False, strategy=None) -> keras.callbacks.History:
        """Train until epoch ``epochs``; see :meth:`mrcnn.model.MaskRCNN.train`, which
        resolves the defaults (``augmentation`` here is a function or None: none)."""
        model, config = self.model, self.model.config
        for name, dataset in (("train_dataset", train_dataset), ("val_dataset", val_dataset)):
            if dataset is not None:
                check_dataset(name, dataset, config)
        names = getattr(train_dataset, "class_names", None)
        if names is not None and len(names) == config.NUM_CLASSES:
            model.class_names = list(names)
        model.use_strategy(strategy)
        check_strategy(model.strategy, config)
        if resume:
            self._resume()
        self._open_log_dir()
        self.set_trainable(layers)
        optimizer = self._compile(learning_rate)
        guard = StopOnNonFiniteLoss()
        checkpoint = self._checkpoint()
        callbacks = [guard, checkpoint, *(custom_callbacks or [])]
        if is_chief(model.strategy):
            callbacks.insert(0, keras.callbacks.TensorBoard(model.log_dir, write_graph=False))

        own_loop = multi_worker.uses_own_loop(model.strategy)

        def data(dataset, **kwargs):
            if not own_loop:
                return build_dataset(dataset, config, shuffle=True, **kwargs)
            return multi_worker.distributed_dataset(
                model.strategy, lambda **shard: build_dataset(dataset, config, shuffle=True,
                                                              **kwargs, **shard),
                config.BATCH_SIZE)

        train_data = data(train_dataset, augmentation=augmentation, seed=seed + model.epoch)
        val_data = data(val_dataset, seed=seed) if val_dataset is not None else None
        validation_steps = config.VALIDATION_STEPS if val_data is not None else None
        try:
            with input_errors_raised(model.keras_model):
                if own_loop:
                    history = multi_worker.fit(
                        model.keras_model, model.strategy, train_data,
                        initial_epoch=model.epoch, epochs=epochs,
                        steps_per_epoch=config.STEPS_PER_EPOCH, callbacks=callbacks,
                        val_data=val_data, validation_steps=validation_steps,
                        verbose=verbose, jit_compile=bool(config.JIT_COMPILE),
                        last_checkpoint=lambda: checkpoint.last_saved)
                else:
                    history = model.keras_model.fit(
                        train_data, initial_epoch=model.epoch, epochs=epochs,
                        steps_per_epoch=config.STEPS_PER_EPOCH, validation_data=val_data,
                        validation_steps=validation_steps, callbacks=callbacks,
                        verbose=verbose, shuffle=False)
        except InputError as error:
            self._stopped_by_input(error, checkpoint)
        if guard.stopped:
            self._stopped(guard, checkpoint, history)
        if history.epoch:
            model.epoch = max(model.epoch, history.epoch[-1] + 1)
        self.optimizer_state = optimizer_state(optimizer, model.epoch)
        return history

    def _resume(self) -> None:
        """Load the newest checkpoint of the config under ``model_dir`` (weights, epoch,
        run folder, optimizer state), unless this model already trained or loaded one."""
        model = self.model
        if self.optimizer_state is not None or model.epoch != 0:
            return
        try:
            last = model.find_last()
        except FileNotFoundError:
            logger.info("resume=True: no checkpoint of %r under %r yet; starting fresh",
                        model.config.NAME, model.model_dir)
        else:
            model.load_weights(last)
            logger.info("resuming from %s (epoch %d)", last, model.epoch)

    def _open_log_dir(self) -> None:
        """The run folder: the one resumed or loaded from, else a new timestamped one
        (created by the chief only: the other workers of a cluster write nothing)."""
        model = self.model
        if model.log_dir is None:
            now = datetime.datetime.now()
            if multi_worker.uses_own_loop(model.strategy):  # all workers name the chief's
                chief_now = multi_worker.chief_value(model.strategy,
                                                     int(now.strftime("%Y%m%d%H%M%S")))
                now = datetime.datetime.strptime(str(chief_now), "%Y%m%d%H%M%S")
            stamp = now.strftime("%Y%m%dT%H%M%S")
            model.log_dir = os.path.join(model.model_dir, f"{model.config.NAME.lower()}{stamp}")
        if not is_chief(model.strategy):
            return
        os.makedirs(model.log_dir, exist_ok=True)
        remove_stale_temporaries(model.log_dir)

    def _compile(self, learning_rate: float) -> keras.optimizers.Optimizer:
        """Compile with a fresh optimizer (wrapped for loss scaling under mixed_float16),
        built and given the carried-over state, under the model's strategy; returns the
        inner optimizer."""
        model, config = self.model, self.model.config
        with model.scope():
            optimizer = make_optimizer(config, learning_rate)
            stepper = training_optimizer(optimizer, config.DTYPE_POLICY)  # loss scaling
            # Keras' default jit_compile="auto" turns XLA on where a GPU is present; the
            # config decides (only GRAPH_OPS = "xla" graphs compile).
            model.keras_model.compile(optimizer=stepper, jit_compile=bool(config.JIT_COMPILE))
            stepper.build(model.keras_model.trainable_variables)
            if self.optimizer_state is not None:
                restore_optimizer_state(optimizer, self.optimizer_state)
        return optimizer

    def _checkpoint(self) -> AtomicCheckpoint:
        """Per-epoch checkpoints in the run folder (written by the chief only), knowing the
        current epoch's checkpoint as the last good one when it exists."""
        model = self.model
        pattern = model.checkpoint_pattern()
        checkpoint = AtomicCheckpoint(pattern, write=is_chief(model.strategy),
                                      info=checkpoint_info(model.config, model.class_names))
        previous = pattern.format(epoch=model.epoch) if model.epoch else None
        checkpoint.last_saved = previous if previous and os.path.exists(previous) else None
        return checkpoint

    def _stopped_by_input(self, error: InputError, checkpoint: AtomicCheckpoint) -> None:
        """Raise ``error`` (an image that could not be loaded) naming the last good
        checkpoint; the model's epoch count goes back to that checkpoint's."""
        last = checkpoint.last_saved
        if last:
            self.model.epoch = checkpoint_epoch(last) or self.model.epoch
        self.optimizer_state = None
        raise InputError(
            f"{str(error).rstrip('.')}. Training stopped; "
            + (f"the last good checkpoint is {last}" if last
               else "no checkpoint was written by this run"),
            error.image_id, error.reference) from error

    def _stopped(self, guard: StopOnNonFiniteLoss, checkpoint: AtomicCheckpoint,
                 history) -> None:
        """Raise :class:`NonFiniteLossError` for a run the NaN guard stopped."""
        # The failing epoch did not finish; the weights in memory are not usable.
        self.model.epoch = guard.epoch - 1
        self.optimizer_state = None
        last = checkpoint.last_saved
        raise NonFiniteLossError(
            guard.message() + (f". The last good checkpoint is {last}: reload it with "
                               "load_weights() and lower the learning rate (or check "
                               "the data) before training on" if last else
                               ". No checkpoint was written by this run"),
            guard.epoch, guard.step, guard.losses, last, history)
