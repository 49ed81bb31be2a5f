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

from mrcnn.engine.schedule import train_on_schedule
from mrcnn.model import MaskRCNN
from mrcnn.weights.migration import class_specific_layers
from mrcnn.weights.pretrained import load_pretrained


@dataclass
class TrainedHead:
    """What a run leaves behind: the checkpoint, per-epoch losses and timings."""

    head: str
    seed: int
    checkpoint: str
    parameters: int
    train_seconds: float
    history: dict[str, list[float]] = field(default_factory=dict)
    # With pretrained weights: {"weights", "loaded" (layer names), "fresh" (mask head)}.
    pretrained: dict | None = None


def train_head(config, train_set, val_set, epochs: int, seed: int, model_dir: str,
               layers: str = "all", augmentation=None, verbose: int = 2,
               weights: str | None = None) -> TrainedHead:
    """Train ``config.MASK_HEAD`` on the shared schedule
    (:func:`mrcnn.engine.schedule.lr_stages`: 80% of ``epochs`` at LEARNING_RATE, the rest
    at a tenth of it).

    From scratch, or with ``weights`` ("coco", "imagenet" or a path, see
    :func:`mrcnn.weights.pretrained.load_pretrained`) loaded into every layer except the mask
    head's (``mrcnn_mask*``) and the class-specific ones: so every head of a comparison
    starts from the same pretrained shared layers and a fresh mask head of its own.
    """
    keras.utils.set_random_seed(seed)
    model = MaskRCNN("training", config, model_dir)
    pretrained = shared_layers_from(model, weights) if weights is not None else None
    tic = time.perf_counter()
    history = train_on_schedule(model, train_set, val_set, config.LEARNING_RATE, epochs,
                                layers=layers, augmentation=augmentation, seed=seed,
                                verbose=verbose)
    return TrainedHead(head=config.MASK_HEAD, seed=seed, checkpoint=model.last_checkpoint(),
                       parameters=model.keras_model.count_params(),
                       train_seconds=time.perf_counter() - tic, history=history,
                       pretrained=pretrained)


def shared_layers_from(model: MaskRCNN, weights: str) -> dict:
    """Load ``weights`` into every layer of ``model`` but its mask head (``mrcnn_mask*``)
    and its class-specific layers; ``{"weights", "loaded", "fresh"}`` (layer names)."""
    fresh = sorted(layer.name for layer in model.keras_model.layers
                   if layer.name.startswith("mrcnn_mask") and layer.weights)
    report = load_pretrained(model, weights, exclude=[*class_specific_layers(), *fresh])
    return {"weights": str(weights), "loaded": sorted(report["loaded"]), "fresh": fresh}


def load_detector(config, checkpoint: str, model_dir: str) -> MaskRCNN:
    """An inference model with the weights of ``checkpoint``."""
    detector = MaskRCNN("inference", config, model_dir)
    report = detector.load_weights(checkpoint)
    if report["mismatched"] or report["missing"]:
        raise ValueError(f"{checkpoint} does not fit the {config.MASK_HEAD!r} graph: "
                         f"mismatched {report['mismatched']}, missing {report['missing']}")
    return detector
