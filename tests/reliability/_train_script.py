"""Training subprocess of the reliability tests (not collected by pytest).

    [TF_CONFIG=...] python -m tests.reliability._train_script resume MODEL_DIR EPOCHS [--resume]
    python -m tests.reliability._train_script distribute OUT_JSON
    python -m tests.reliability._train_script bad_input OUT_JSON
    [TF_CONFIG=...] python -m tests.reliability._train_script multiworker OUT_JSON

``resume``: tiny shapes training writing checkpoints; one JSON line per event goes to
MODEL_DIR/progress.jsonl. With ``TF_CONFIG`` it is one worker of a two-worker
MultiWorkerMirroredStrategy cluster sharing MODEL_DIR, BatchNorm trained, that checks
at the end that all workers hold the same weights; ``HANG_AT_EPOCH=N`` makes a
non-chief worker stop answering at the start of epoch N (0-based) so that the caller can
kill it there. ``distribute``: one SGD step on the same batch without and with a
two-replica MirroredStrategy on two logical CPUs; losses and weight updates to OUT_JSON.
``bad_input``: tiny shapes training whose ``load_image`` raises once the first epoch has
ended; the InputError it raises, the checkpoints on disk and whether the newest one loads
go to OUT_JSON (the process must then exit by itself).
``multiworker``: the same step as one worker of a MultiWorkerMirroredStrategy cluster
(``TF_CONFIG``; its model_dir is its own, as on separate machines; without ``TF_CONFIG``
the step in one process); the image ids it loaded go to OUT_JSON.ids.
"""

from __future__ import annotations

import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def multi_worker_strategy():
    """A MultiWorkerMirroredStrategy from ``TF_CONFIG``, or None without it. It must exist
    before any other TensorFlow call of the process. Its peer health check runs every
    second instead of every 30 s, so a lost worker is noticed within the test's patience."""
    if not os.environ.get("TF_CONFIG"):
        return None
    import tensorflow as tf
    from tensorflow.python.distribute import collective_all_reduce_strategy as collective

    collective.CollectiveAllReduceExtended._check_health_interval = 1
    return tf.distribute.MultiWorkerMirroredStrategy()


def resume_main(model_dir: str, epochs: int, resume: bool) -> None:
    strategy = multi_worker_strategy()
    import keras
    import numpy as np

    from mrcnn.config import ConfigError
    from mrcnn.data import ShapesDataset
    from mrcnn.engine.checkpoints import is_chief, load_training_state, state_path
    from mrcnn.engine.multi_worker import check_workers_agree
    from mrcnn.engine.trainer import check_strategy
    from mrcnn.model import MaskRCNN
    from tests.helpers import tiny_config

    log = open(os.path.join(model_dir, "progress.jsonl"), "a", buffering=1)
    worker = strategy.cluster_resolver.task_id if strategy is not None else 0
    hang_at = int(os.environ.get("HANG_AT_EPOCH", -1))

    def emit(**event):
        log.write(json.dumps({"pid": os.getpid(), "worker": worker, **event}) + "\n")
        log.flush()

    class Progress(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            opt = self.model.optimizer
            event = {"train_begin_epoch": model.epoch,
                     "iterations": int(opt.iterations.numpy())}
            if model.epoch:  # compare the restored slots with the file they came from
                stored = load_training_state(state_path(model.find_last()))["variables"]
                slots = {v.name: v.numpy() for v in opt.variables if "momentum" in v.name}
                event["slots_restored"] = bool(slots) and all(
                    np.array_equal(value, stored[name]) for name, value in slots.items())
                event["slots_nonzero"] = any(np.abs(v).sum() > 0 for v in slots.values())
            emit(**event)

        def on_epoch_begin(self, epoch, logs=None):
            emit(epoch_begin=epoch, iterations=int(self.model.optimizer.iterations.numpy()))
            if epoch == hang_at and not is_chief(strategy):
                emit(hanging=epoch)
                time.sleep(600)

    # Under the strategy: one image per worker, the same global batch of 2, and BatchNorm
    # trained (each replica's moving statistics move with its own images).
    per_worker = ({"IMAGES_PER_GPU": 1, "GPU_COUNT": strategy.num_replicas_in_sync,
                   "TRAIN_BN": True} if strategy is not None else {})
    config = tiny_config(STEPS_PER_EPOCH=2, OPTIMIZER="sgd", **per_worker)
    if strategy is not None:
        try:
            check_strategy(strategy, tiny_config(DTYPE_POLICY="mixed_float16", **per_worker))
        except ConfigError as error:
            emit(mixed_float16_refused=str(error))
    dataset = ShapesDataset()
    dataset.load_shapes(4, 64, 64, seed=1)
    dataset.prepare()
    model = MaskRCNN("training", config, model_dir, strategy=strategy)
    model.train(dataset, None, 0.002, epochs=epochs, layers="all", resume=resume,
                custom_callbacks=[Progress()], verbose=0)
    if strategy is not None:  # raises unless every worker holds the same weights
        check_workers_agree(strategy, model.keras_model, model.epoch)
    emit(done=model.epoch, log_dir=model.log_dir)


CLIP_NORM = 10.0


def deterministic_setup():
    """``(config, dataset)`` of a step whose result cannot depend on rounding (see below)."""
    from mrcnn.data import ShapesDataset
    from tests.helpers import tiny_config

    # Targets that cannot depend on rounding: every anchor becomes a proposal (no top-k
    # cut, no suppression; rpn_bbox_pred starts at zero below, so the proposals are the
    # anchors, bit for bit), every proposal and anchor is used (nothing is subsampled at
    # random), BN frozen (TRAIN_BN False: per-replica batch statistics would differ from
    # whole-batch ones), plain SGD so the weight change is -lr * gradient. The gradient
    # (norm ~46) is clipped to CLIP_NORM: the global batch's, not each replica's share.
    probe = tiny_config()
    anchors = int(sum(h * w for h, w in probe.backbone_shapes)) * len(probe.RPN_ANCHOR_RATIOS)
    config = tiny_config(IMAGES_PER_GPU=1, GPU_COUNT=2, TRAIN_BN=False, MAX_GT_INSTANCES=4,
                         PRE_NMS_LIMIT=anchors, POST_NMS_ROIS_TRAINING=anchors,
                         RPN_NMS_THRESHOLD=1.0, RPN_TRAIN_ANCHORS_PER_IMAGE=2 * anchors,
                         TRAIN_ROIS_PER_IMAGE=anchors + 4, ROI_POSITIVE_RATIO=1.0,
                         OPTIMIZER="sgd", LEARNING_MOMENTUM=0.0, WEIGHT_DECAY=0.0,
                         GRADIENT_CLIP_NORM=CLIP_NORM, STEPS_PER_EPOCH=1)
    # The same picture twice: both replicas and the single device see identical halves,
    # so per-replica means equal the whole-batch mean for every loss.
    dataset = ShapesDataset()
    dataset.load_shapes(1, 64, 64, seed=4)
    extra = {k: v for k, v in dataset.image_info[0].items() if k not in ("id", "source", "path")}
    dataset.add_image("shapes", image_id=1, path=None, **extra)
    dataset.prepare()
    return config, dataset


LEARNING_RATE = 0.01


def one_step(model, dataset, out_path: str) -> dict:
    """Train ``model`` one SGD step from zeroed ``rpn_bbox_pred`` and validate it on one
    batch; write the gradient (weight change / -lr) to ``out_path.npz`` and return the
    losses (``val_*`` included) and counts."""
    import numpy as np

    bbox_pred = model.keras_model.get_layer("rpn_bbox_pred")
    bbox_pred.set_weights([np.zeros_like(w) for w in bbox_pred.get_weights()])
    initial = model.keras_model.get_weights()
    # The same images as validation data: val_* losses of the updated weights compare too.
    history = model.train(dataset, dataset, LEARNING_RATE, epochs=1, layers="all", verbose=0)
    after = model.keras_model.get_weights()
    names = [v.path for v in model.keras_model.weights]
    np.savez(out_path + ".npz",
             **{n: (b - a) / -LEARNING_RATE for n, a, b in zip(names, initial, after)})
    return {"losses": {k: float(v[-1]) for k, v in history.history.items()},
            "replicas": model.strategy.num_replicas_in_sync if model.strategy else 1,
            "iterations": int(model.keras_model.optimizer.iterations.numpy()),
            "log_dir": model.log_dir}


def distribute_main(out_path: str) -> None:
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    # Same op, same inputs, same bits: what is left between the two runs is the order of
    # float32 sums (a batch of 2 on one device against 1 + 1 on two).
    tf.config.experimental.enable_op_determinism()

    import keras

    from mrcnn.model import MaskRCNN

    config, dataset = deterministic_setup()
    keras.utils.set_random_seed(0)
    results = {}
    folder = os.path.dirname(out_path)
    single = MaskRCNN("training", config, os.path.join(folder, "single"))
    initial = single.keras_model.get_weights()
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    mirrored = MaskRCNN("training", config, os.path.join(folder, "mirror"), strategy=strategy)
    mirrored.keras_model.set_weights(initial)
    for name, model in (("single", single), ("mirrored", mirrored)):
        results[name] = one_step(model, dataset, f"{out_path}.{name}")
    with open(out_path, "w") as f:
        json.dump(results, f)


def multiworker_main(out_path: str) -> None:
    """One step as one worker of a MultiWorkerMirroredStrategy cluster (``TF_CONFIG`` set
    by the caller), or in one process without it."""
    strategy = multi_worker_strategy()
    import tensorflow as tf

    tf.config.experimental.enable_op_determinism()

    import keras

    from mrcnn.model import MaskRCNN

    config, dataset = deterministic_setup()
    loaded = open(out_path + ".ids", "a", buffering=1)
    load_image = dataset.load_image

    def recording_load_image(image_id):
        loaded.write(f"{image_id}\n")
        return load_image(image_id)

    dataset.load_image = recording_load_image
    keras.utils.set_random_seed(0)
    model = MaskRCNN("training", config, out_path + ".logs", strategy=strategy)
    result = one_step(model, dataset, out_path)
    with open(out_path, "w") as f:
        json.dump(result, f)


def bad_input_main(out_path: str) -> None:
    import glob
    import threading

    import keras

    from mrcnn.data import ShapesDataset
    from mrcnn.engine.input_pipeline import InputError
    from mrcnn.model import MaskRCNN
    from tests.helpers import tiny_config

    broken = threading.Event()

    class BreaksAfterEpochOne(ShapesDataset):
        def load_image(self, image_id):
            if broken.is_set():
                raise OSError(f"image {image_id}: disk went away")
            return super().load_image(image_id)

    class BreakAtEpochEnd(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            broken.set()

    dataset = BreaksAfterEpochOne()
    dataset.load_shapes(8, 64, 64, seed=0)
    dataset.prepare()
    config = tiny_config(STEPS_PER_EPOCH=2, IMAGES_PER_GPU=1)
    model_dir = out_path + ".logs"
    model = MaskRCNN("training", config, model_dir)
    result = {}
    try:
        model.train(dataset, None, 0.001, epochs=6, verbose=0,
                    custom_callbacks=[BreakAtEpochEnd()])
    except InputError as error:
        result.update(error=str(error), image_id=error.image_id, epoch=model.epoch)
    saved = sorted(glob.glob(os.path.join(model_dir, "*", "*.weights.h5")))
    result["checkpoints"] = saved
    if saved:
        MaskRCNN("inference", tiny_config(), model_dir).load_weights(saved[-1])
        result["newest_loads"] = True
    with open(out_path, "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    if sys.argv[1] == "resume":
        resume_main(sys.argv[2], int(sys.argv[3]), "--resume" in sys.argv[4:])
    elif sys.argv[1] == "distribute":
        distribute_main(sys.argv[2])
    elif sys.argv[1] == "bad_input":
        bad_input_main(sys.argv[2])
    elif sys.argv[1] == "multiworker":
        multiworker_main(sys.argv[2])
    else:
        raise SystemExit(__doc__)
