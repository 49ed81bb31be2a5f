"""Train Mask R-CNN from scratch on the synthetic shapes data and evaluate each mask head.

    python samples/shapes/train.py --heads fcn unet

For every head: train on freshly generated shapes images (same data order and seed for
every head), evaluate mask AP on held-out images, and print a comparison table with the
wall time. Results also go to ``results/shapes/train.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ start-up logs quiet

from mrcnn.data import ShapesConfig, ShapesDataset  # noqa: E402
from mrcnn.evaluation.detection_ap import evaluate_dataset  # noqa: E402
from mrcnn.experiment import load_detector, train_head  # noqa: E402
from mrcnn.heads.mask import MASK_HEADS  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--heads", nargs="+", default=["fcn", "unet"], choices=sorted(MASK_HEADS),
                        help="mask heads to train and compare (default: fcn unet)")
    parser.add_argument("--epochs", type=int, default=15,
                        help="epochs per head; the last 20%% at a tenth of the learning rate")
    parser.add_argument("--steps-per-epoch", type=int, default=100)
    parser.add_argument("--train-images", type=int, default=2000)
    parser.add_argument("--val-images", type=int, default=50, help="held-out images for mAP")
    parser.add_argument("--image-size", type=int, default=128, help="multiple of 64")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--logs", default="logs", help="checkpoints and TensorBoard logs")
    parser.add_argument("--out", default="results/shapes", help="where train.json goes")
    parser.add_argument("--verbose", type=int, default=2, help="Keras fit verbosity")
    return parser.parse_args(argv)


def make_config(head: str, args) -> ShapesConfig:
    class Config(ShapesConfig):
        MASK_HEAD = head
        IMAGE_MIN_DIM = args.image_size
        IMAGE_MAX_DIM = args.image_size
        STEPS_PER_EPOCH = args.steps_per_epoch
    return Config()


def shapes_datasets(args) -> tuple[ShapesDataset, ShapesDataset]:
    """Training images, and held-out images from another seed stream (never trained on)."""
    train_set = ShapesDataset()
    train_set.load_shapes(args.train_images, args.image_size, args.image_size, seed=args.seed)
    train_set.prepare()
    val_set = ShapesDataset()
    val_set.load_shapes(args.val_images, args.image_size, args.image_size, seed=10_000 + args.seed)
    val_set.prepare()
    return train_set, val_set


def train_and_evaluate(head: str, args) -> dict:
    config = make_config(head, args)
    train_set, val_set = shapes_datasets(args)
    print(f"\n=== {head}: {args.epochs} epochs x {args.steps_per_epoch} steps ===")
    run = train_head(config, train_set, val_set, args.epochs, args.seed, args.logs,
                     verbose=args.verbose)
    metrics = evaluate_dataset(load_detector(config, run.checkpoint, args.logs), val_set)
    return {"head": head, "checkpoint": run.checkpoint, "train_seconds": run.train_seconds,
            "parameters": run.parameters,
            "final_losses": {k: v[-1] for k, v in run.history.items()}, **metrics}


def main(argv=None) -> list[dict]:
    args = parse_args(argv)
    tic = time.perf_counter()
    results = [train_and_evaluate(head, args) for head in args.heads]
    wall = time.perf_counter() - tic
    print(f"\nShapes, {args.val_images} held-out images, {args.epochs} epochs x "
          f"{args.steps_per_epoch} steps, seed {args.seed}")
    print(f"{'head':6} {'mask mAP@0.5':>12} {'mAP@0.75':>9} {'mAP@.5:.95':>10} "
          f"{'params':>10} {'train s':>8} {'ms/image':>9}")
    for r in results:
        print(f"{r['head']:6} {r['mAP50']:12.3f} {r['mAP75']:9.3f} {r['mAP']:10.3f} "
              f"{r['parameters']:10,} {r['train_seconds']:8.0f} {r['ms_per_image']:9.1f}")
    print(f"wall time {wall:.0f} s")
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "train.json"), "w") as f:
        json.dump({"args": vars(args), "wall_seconds": wall, "results": results}, f, indent=2)
    return results


if __name__ == "__main__":
    main()
