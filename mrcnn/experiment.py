"""One training run of one mask head: the schedule every experiment and sample shares.

Seeding ``keras.utils.set_random_seed(seed)`` before the graph is built gives every head
the same initial backbone, FPN, RPN and box head (they are created before the mask head),
and ``build_dataset(seed=...)`` gives the same data order: across heads only the mask
head differs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import keras

from mrcnn.model import MaskRCNN


@dataclass
class TrainedHead:
    """What a run leaves behind: the checkpoint, per-epoch losses and timings."""

    head: str
    seed: int
    checkpoint: str
    parameters: int
    train_seconds: float
    history: dict[str, list[float]] = field(default_factory=dict)


def train_head(config, train_set, val_set, epochs: int, seed: int, model_dir: str,
               layers: str = "all", augmentation=None, verbose: int = 2) -> TrainedHead:
    """Train ``config.MASK_HEAD`` from scratch: 80% of ``epochs`` at LEARNING_RATE,
    the rest at a tenth of it (at least one epoch at the full rate)."""
    keras.utils.set_random_seed(seed)
    model = MaskRCNN("training", config, model_dir)
    tic = time.perf_counter()
    history: dict[str, list[float]] = {}
    main_epochs = max(1, round(0.8 * epochs))
    for learning_rate, until in ((config.LEARNING_RATE, main_epochs),
                                 (config.LEARNING_RATE / 10, epochs)):
        if until <= model.epoch:
            continue
        run = model.train(train_set, val_set, learning_rate, until, layers=layers,
                          augmentation=augmentation, seed=seed, verbose=verbose)
        for key, values in run.history.items():
            history.setdefault(key, []).extend(float(v) for v in values)
    return TrainedHead(head=config.MASK_HEAD, seed=seed, checkpoint=model.find_last(),
                       parameters=model.keras_model.count_params(),
                       train_seconds=time.perf_counter() - tic, history=history)


def load_detector(config, checkpoint: str, model_dir: str) -> MaskRCNN:
    """An inference model with the weights of ``checkpoint``."""
    detector = MaskRCNN("inference", config, model_dir)
    report = detector.load_weights(checkpoint)
    if report["mismatched"] or report["missing"]:
        raise ValueError(f"{checkpoint} does not fit the {config.MASK_HEAD!r} graph: "
                         f"mismatched {report['mismatched']}, missing {report['missing']}")
    return detector
