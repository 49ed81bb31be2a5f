"""Fixtures of the reliability suite: one tiny training model and one detector per session,
and a data set whose images and masks are made to order (good and broken)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
from PIL import Image

from mrcnn.data.dataset import Dataset
from mrcnn.engine.input_pipeline import build_dataset
from mrcnn.engine.trainer import make_optimizer
from mrcnn.model import MaskRCNN
from tests.helpers import TEST_SEED, tiny_config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def start_script(mode: str, *args, env_extra=None) -> subprocess.Popen:
    """``python -m tests.reliability._train_script MODE ARGS`` in a new process
    (``TF_CONFIG`` only when ``env_extra`` gives one); stdout and stderr piped together."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    env.update({"PYTHONPATH": ROOT, "TF_CPP_MIN_LOG_LEVEL": "2", **(env_extra or {})})
    return subprocess.Popen(
        [sys.executable, "-m", "tests.reliability._train_script", mode, *map(str, args)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def start_training(model_dir, epochs: int, *flags: str, env_extra=None) -> subprocess.Popen:
    """The script's ``resume`` mode: tiny training writing checkpoints to ``model_dir``."""
    return start_script("resume", model_dir, epochs, *flags, env_extra=env_extra)


def progress_events(model_dir) -> list[dict]:
    """The events the training processes of ``model_dir`` wrote, in order."""
    with open(os.path.join(model_dir, "progress.jsonl")) as f:
        return [json.loads(line) for line in f if line.strip()]


class MadeToOrder(Dataset):
    """Images described in ``image_info``: ``pixels`` (an array, or None to read ``path``),
    ``masks`` and ``class_ids`` (returned by load_mask as they are)."""

    def __init__(self, num_classes: int = 4):
        super().__init__()
        for k in range(1, num_classes):
            self.add_class("made", k, f"class{k}")

    def add(self, name, pixels=None, masks=None, class_ids=None, path=None, source="made"):
        self.add_image(source, image_id=name, path=path, pixels=pixels, masks=masks,
                       class_ids=class_ids)
        return self

    def load_image(self, image_id):
        info = self.image_info[image_id]
        if info["pixels"] is None:
            return super().load_image(image_id)
        return info["pixels"]

    def load_mask(self, image_id):
        info = self.image_info[image_id]
        if info["masks"] is None:
            return np.zeros((0, 0, 0), bool), np.zeros((0,), np.int32)
        return info["masks"], info["class_ids"]


def random_image(h=64, w=64, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def box_masks(h, w, boxes):
    masks = np.zeros((h, w, len(boxes)), bool)
    for k, (y1, x1, y2, x2) in enumerate(boxes):
        masks[y1:y2, x1:x2, k] = True
    return masks


def png_file(path, pixels) -> str:
    Image.fromarray(pixels).save(path)
    return str(path)


def one_batch(dataset, config):
    """The first batch of the real input pipeline (no shuffling)."""
    return next(iter(build_dataset(dataset, config, shuffle=False)))


def train_step_losses(model: MaskRCNN, batch) -> dict[str, float]:
    """One optimizer step on ``batch``; that step's losses (trackers reset first)."""
    model.keras_model.reset_metrics()
    logs = model.keras_model.train_on_batch(batch, return_dict=True)
    return {k: float(v) for k, v in logs.items()}


def weights_finite(model: MaskRCNN) -> bool:
    return all(np.isfinite(np.asarray(w)).all() for w in model.keras_model.get_weights())


@pytest.fixture(scope="session")
def rel_config():
    return tiny_config(MAX_GT_INSTANCES=8)


@pytest.fixture(scope="session")
def trainer(rel_config, tmp_path_factory):
    """A compiled tiny training model; tests step it with train_on_batch."""
    keras.utils.set_random_seed(TEST_SEED)  # session fixtures are built before `seeded`
    model = MaskRCNN("training", rel_config, str(tmp_path_factory.mktemp("rel_logs")))
    model.set_trainable("all")
    model.keras_model.compile(optimizer=make_optimizer(rel_config, rel_config.LEARNING_RATE),
                              jit_compile=False)
    return model


@pytest.fixture(scope="session")
def detector(tmp_path_factory):
    keras.utils.set_random_seed(TEST_SEED)
    config = tiny_config(DETECTION_MIN_CONFIDENCE=0.0)
    return MaskRCNN("inference", config, str(tmp_path_factory.mktemp("rel_det")))
