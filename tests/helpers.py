"""What tests share besides fixtures: a tiny configuration, the seed, the hang guard, and
stand-ins for training and scoring. Fixtures live in ``conftest.py``, which imports these."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from mrcnn.data import ShapesConfig  # noqa: E402

# The real data sets (Penn-Fudan, balloon, the COCO excerpt) beside the repository, as CI
# has them; tests that read them carry @pytest.mark.needs_data("name").
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


class TinyConfig(ShapesConfig):
    """64x64 images and narrow layers: graphs build and step in seconds."""

    NAME = "tiny"
    AUTO_BFLOAT16_INFERENCE = False  # numerics tests compare with float32 twins
    IMAGES_PER_GPU = 2
    IMAGE_MIN_DIM = 64
    IMAGE_MAX_DIM = 64
    TOP_DOWN_PYRAMID_SIZE = 32
    RPN_CONV_DIM = 32
    PRE_NMS_LIMIT = 256
    POST_NMS_ROIS_TRAINING = 64
    POST_NMS_ROIS_INFERENCE = 32
    TRAIN_ROIS_PER_IMAGE = 16
    FPN_CLASSIF_FC_LAYERS_SIZE = 32
    MASK_HEAD_CONV_DIM = 16
    UNET_SKIP_FILTERS = (16, 16)
    UNET_BOTTLENECK_FILTERS = (16, 32, 16)
    UNET_UP14_FILTERS = (16, 8)
    UNET_UP28_FILTERS = (16, 16)
    UNET_FINE_SKIP_FILTERS = (8,)
    UNET_UP56_FILTERS = (8,)
    FCN_DEEP_CONV_DIM = 18
    FCN_DEEP_UP56_DIM = 12
    DETECTION_MAX_INSTANCES = 10
    STEPS_PER_EPOCH = 4
    VALIDATION_STEPS = 1


TEST_SEED = 0
# Limit on a test's subprocess (training script, benchmark, notebook cell): a guard against
# hangs, not a speed check, so generous enough for a machine 8x slower than an idle one.
HANG_GUARD_S = 900



def tiny_config(**overrides) -> TinyConfig:
    """A TinyConfig instance with class attributes overridden."""
    return type("TinyOverride", (TinyConfig,), overrides)()



class NetworkUsed(AssertionError):
    """A test touched the network although it must not."""



def step_losses(keras_model, batch) -> list[float]:
    """The training graph's five losses on ``batch`` without a step: BatchNorm on batch
    statistics as in a training step, and the same random draws of anchors and RoIs at
    every call, so "before" and "after" differ only by the weights."""
    import tensorflow as tf

    tf.random.set_seed(TEST_SEED + 1)
    return [float(x) for x in keras_model(batch, training=True)]



def fake_metrics(ap: float) -> dict:
    """What ``mrcnn.evaluation.evaluate.evaluate_run`` returns, with every figure equal to
    ``ap``."""
    return {"segm": {"AP": ap, "AP50": ap, "AP75": ap, "AP90": ap, "AR100": ap},
            "bbox": {"AP": ap}, "boundary": {"AP": ap, "AP75": ap, "AP90": ap},
            "voc": {"mAP50": ap},
            "mask_quality": {"mask_iou": ap, "boundary_iou": ap,
                             **{size: {"boundary_iou": ap}
                                for size in ("small", "medium", "large")}},
            "ap_vs_iou": {"iou": [0.5], "AP": [ap]}, "ms_per_image": 1.0, "held_out_images": 3}


def fake_comparison(monkeypatch, train, evaluate) -> None:
    """``mrcnn.experiments.compare.run`` with ``train`` for training and ``evaluate`` for
    scoring (no model is built, nothing is plotted), so a comparison runs in a second."""
    import mrcnn.experiments.compare

    monkeypatch.setattr(mrcnn.experiments.compare, "train_head", train)
    monkeypatch.setattr(mrcnn.experiments.compare, "load_detector", lambda *a: None)
    monkeypatch.setattr(mrcnn.experiments.compare, "evaluate_run", evaluate)
    monkeypatch.setattr(mrcnn.experiments.compare, "mask_head_profile",
                        lambda config: {"parameters": 1, "flops_per_roi": 1e9})
    monkeypatch.setattr(mrcnn.experiments.compare, "plot_report", lambda report, out: [])
