"""Training across machines: a loop over ``strategy.run`` for
``tf.distribute.MultiWorkerMirroredStrategy``.

Keras 3's ``Model.fit`` cannot take that strategy's distributed batches
(keras-team/keras#20585), so :class:`~mrcnn.engine.trainer.Trainer` runs this loop instead
under it. Each worker reads only its own shard of the images
(:func:`distributed_dataset`); every step runs the training model's own ``train_step``
on each replica inside one ``tf.function`` (the optimizer all-reduces the replicas'
gradients across workers), and the same Keras callbacks as ``fit`` see the losses
averaged over all replicas, so every worker takes the same decisions (NaN guard, stop).
Your own callbacks must decide from those logs too: one that stops one worker on local
state (a clock, a file) leaves the others waiting for it in the next step. Checkpoints,
TensorBoard and the progress bar are the chief's alone; callbacks that write files run
on every worker. BatchNorm moving statistics, which each replica updates from its own
images, are averaged over all replicas after every epoch (:func:`moving_statistics_sync`).

Every worker must see the chief's checkpoints to resume (``model_dir`` on storage all
of them can read); :func:`check_workers_agree` stops a run whose workers start from
different epochs or weights instead of letting them train apart.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import keras
import numpy as np
import tensorflow as tf

from mrcnn.engine.checkpoints import is_chief

# What a collective raises on the survivors when a worker of the cluster goes away.
WORKER_LOST_ERRORS = (tf.errors.UnavailableError, tf.errors.DeadlineExceededError,
                      tf.errors.CancelledError, tf.errors.FailedPreconditionError)


class WorkerLostError(RuntimeError):
    """A worker of the cluster stopped during training; restart every worker with
    ``resume=True`` to continue from ``checkpoint`` (the last one the chief wrote)."""

    def __init__(self, message: str, checkpoint: str | None):
        super().__init__(message)
        self.checkpoint = checkpoint


class WorkersDisagreeError(RuntimeError):
    """The workers of one cluster start training from different epochs or weights."""


def uses_own_loop(strategy) -> bool:
    """Whether training under ``strategy`` runs :func:`fit` instead of ``Model.fit``."""
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)


def distributed_dataset(strategy, make_dataset: Callable[..., tf.data.Dataset],
                        global_batch: int):
    """Per-worker input: ``make_dataset(shard=(num_pipelines, pipeline_id),
    batch_size=per_replica_batch)`` builds each worker's own share of the images."""

    def per_worker(context: tf.distribute.InputContext) -> tf.data.Dataset:
        return make_dataset(shard=(context.num_input_pipelines, context.input_pipeline_id),
                            batch_size=context.get_per_replica_batch_size(global_batch))

    return strategy.distribute_datasets_from_function(per_worker)


def weights_fingerprint(variables: Sequence[tf.Variable]) -> tf.Tensor:
    """An exact int64 digest of the variables' bits (a wrapping sum of their float32 bit
    patterns, weighted by position): equal weights give equal digests on any machine."""
    total = tf.constant(0, tf.int64)
    for index, variable in enumerate(variables):
        bits = tf.bitcast(tf.cast(tf.reshape(variable, [-1]), tf.float32), tf.int32)
        total += tf.reduce_sum(tf.cast(bits, tf.int64)) * (index + 1)
    return total


def moving_statistics_sync(strategy, keras_model: keras.Model) -> Callable[[], None]:
    """A function that sets every BatchNorm moving mean and variance to its mean over all
    replicas (each replica updates its own copy from its own images; afterwards all
    workers agree). Traced once, called after every epoch."""
    variables = [v for v in keras_model.non_trainable_weights
                 if v.path.endswith(("moving_mean", "moving_variance"))]

    @tf.function
    def sync():
        def replica():
            context = tf.distribute.get_replica_context()
            means = context.all_reduce(tf.distribute.ReduceOp.MEAN,
                                       [tf.identity(v.value) for v in variables])
            for variable, mean in zip(variables, means):
                variable.assign(mean)
        strategy.run(replica)

    return sync if variables else (lambda: None)


def gather_rows(strategy, row: Callable[[], tf.Tensor]) -> np.ndarray:
    """``row()`` (a ``[k]`` tensor) of every replica, stacked ``[replicas, k]`` on every
    worker (replica 0, the chief's, first): one collective, so also a barrier."""
    gathered = tf.function(lambda: strategy.gather(
        strategy.run(lambda: row()[None]), axis=0))()
    return gathered.numpy()


def barrier(strategy) -> None:
    """Return on every worker only when all of them got here."""
    gather_rows(strategy, lambda: tf.zeros([1]))


def chief_value(strategy, value: int) -> int:
    """The chief's ``value`` (an int64) on every worker: e.g. the time stamp that names a
    new run folder, so that all workers name the same one."""
    return int(gather_rows(strategy, lambda: tf.constant([value], tf.int64))[0, 0])


def check_workers_agree(strategy, keras_model: keras.Model, epoch: int) -> None:
    """Gather every replica's ``(epoch, weights fingerprint)``; raise
    :class:`WorkersDisagreeError` on every worker if they differ."""
    rows = gather_rows(strategy, lambda: tf.stack([
        tf.constant(epoch, tf.int64), weights_fingerprint(keras_model.weights)]))
    epochs = rows[:, 0].tolist()
    if len(set(epochs)) > 1:
        raise WorkersDisagreeError(
            f"the workers start from different epochs (per replica: {epochs}): every "
            "worker must read the chief's checkpoints to resume, so model_dir must be on "
            "storage all of them see (a shared file system)")
    if len(set(rows[:, 1].tolist())) > 1:
        raise WorkersDisagreeError(
            "the workers start from different weights (per-replica digests differ): load "
            "the same weights on every worker, e.g. from a file all of them read")


def _step_function(strategy, step: Callable, jit_compile: bool) -> Callable:
    """One step on every replica, its logs averaged over all replicas (stacked into one
    vector: one all-reduce a step, not one per loss)."""
    replica_step = tf.function(step, jit_compile=True) if jit_compile else step
    names: list[str] = []

    def stacked(batch):
        logs = replica_step(batch)
        names[:] = list(logs)
        return tf.stack([tf.cast(logs[name], tf.float32) for name in names])

    @tf.function
    def run(iterator):
        values = strategy.reduce(tf.distribute.ReduceOp.MEAN,
                                 strategy.run(stacked, args=(next(iterator),)), axis=None)
        return dict(zip(names, tf.unstack(values, num=len(names))))

    return run


def _numpy(logs: dict) -> dict[str, float]:
    return {name: float(np.asarray(value)) for name, value in logs.items()}


def fit(keras_model: keras.Model, strategy, train_data, *, initial_epoch: int, epochs: int,
        steps_per_epoch: int, callbacks: Sequence[keras.callbacks.Callback],
        val_data=None, validation_steps: int | None = None, verbose: int = 1,
        jit_compile: bool = False, last_checkpoint: Callable[[], str | None] = lambda: None,
        ) -> keras.callbacks.History:
    """``Model.fit`` for a compiled ``keras_model`` under ``strategy``, over distributed
    datasets (:func:`distributed_dataset`): epochs ``initial_epoch`` .. ``epochs - 1`` of
    ``steps_per_epoch`` steps, then ``validation_steps`` of ``val_data``; logs like fit's
    (running means over the epoch, ``val_`` prefixed). Returns the History.

    A lost worker raises :class:`WorkerLostError` naming ``last_checkpoint()``.
    """
    check_workers_agree(strategy, keras_model, initial_epoch)
    chief = is_chief(strategy)
    callback_list = keras.callbacks.CallbackList(
        list(callbacks), add_history=True, add_progbar=bool(verbose) and chief,
        model=keras_model, verbose=verbose, epochs=epochs, steps=steps_per_epoch)
    history = next(c for c in callback_list.callbacks
                   if isinstance(c, keras.callbacks.History))
    train_step = _step_function(strategy, keras_model.train_step, jit_compile)
    test_step = _step_function(strategy, keras_model.test_step, jit_compile)
    sync_moving_statistics = moving_statistics_sync(strategy, keras_model)
    train_iterator = iter(train_data)
    val_iterator = iter(val_data) if val_data is not None else None
    keras_model.stop_training = False
    logs: dict[str, float] = {}
    epoch_logs: dict[str, float] = {}
    callback_list.on_train_begin()
    try:
        for epoch in range(initial_epoch, epochs):
            keras_model.reset_metrics()
            callback_list.on_epoch_begin(epoch)
            for step in range(steps_per_epoch):
                callback_list.on_train_batch_begin(step)
                logs = _numpy(train_step(train_iterator))
                callback_list.on_train_batch_end(step, logs)
                if keras_model.stop_training:
                    break
            sync_moving_statistics()
            epoch_logs = dict(logs)
            if val_iterator is not None and not keras_model.stop_training:
                keras_model.reset_metrics()
                for _ in range(validation_steps or 1):
                    val_logs = _numpy(test_step(val_iterator))
                epoch_logs.update({f"val_{name}": value for name, value in val_logs.items()})
            callback_list.on_epoch_end(epoch, epoch_logs)
            if keras_model.stop_training:
                break
    except WORKER_LOST_ERRORS as error:
        last = last_checkpoint()
        raise WorkerLostError(
            f"a worker of the cluster stopped during training ({type(error).__name__}: "
            f"{str(error).splitlines()[0] if str(error) else ''}); restart every worker "
            "with resume=True to go on from "
            + (f"the last checkpoint, {last}" if last else "the start (no checkpoint yet)"),
            last) from error
    callback_list.on_train_end(epoch_logs)
    return history
