"""Train Mask R-CNN on a COCO-format data set and compare the mask heads.

    python samples/coco/train.py --annotations instances_train2017.json --images train2017/ \\
        --val-annotations instances_val2017.json --val-dir val2017/ --classes person dog \\
        --heads fcn unet

Trains each head on the training file's images (same data order, augmentation and
initialisation for every head) and evaluates on the held-out images: the
``--val-annotations`` file, or without one the ``--holdout`` images of the training file
with the largest ids. ``--classes`` keeps a subset of the categories (by name; default:
all). ``--preset light`` (default) is the from-scratch CPU setting (256 px, the light
ResNet, at most 2000 training images); ``--preset classic`` the classic COCO setting
(ResNet-101-FPN, 1024 px, every image) for a GPU. Every option of
``python -m mrcnn.experiments.compare`` applies after these (``--epochs``, ``--steps-per-epoch``,
``--image-size``, ``--train-images``, ``--seeds``...). Results go to ``results/coco/``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ start-up logs quiet
sys.path.insert(0, str(Path(__file__).resolve().parent))  # this sample's module

from coco import PRESETS, coco_experiment  # noqa: E402

# mrcnn.experiments.compare options per preset (the command line overrides them).
PRESET_DEFAULTS = {
    "light": ["--seeds", "1", "--image-size", "256", "--epochs", "20",
              "--steps-per-epoch", "100", "--train-images", "2000", "--val-images", "500"],
    "classic": ["--seeds", "1", "--image-size", "1024", "--epochs", "20",
                "--steps-per-epoch", "1000", "--train-images", "1000000",
                "--val-images", "1000000"],
}


def parse_args(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    """This sample's options, and the rest for ``mrcnn.experiments.compare``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], add_help=False)
    parser.add_argument("--annotations", required=True, help="training COCO json")
    parser.add_argument("--images", required=True,
                        help="folder the training file's image file_name are relative to")
    parser.add_argument("--val-annotations", help="held-out COCO json (default: --holdout)")
    parser.add_argument("--val-dir", help="folder of the held-out file's images")
    parser.add_argument("--classes", nargs="+", help="category names to keep (default: all)")
    parser.add_argument("--holdout", type=int, default=50,
                        help="without --val-annotations: hold out this many images")
    parser.add_argument("--preset", default="light", choices=sorted(PRESETS))
    parser.add_argument("--missing", default="error", choices=("error", "skip"),
                        help="images absent from disk: stop with the list, or leave them out")
    if "-h" in argv or "--help" in argv:
        parser.print_help()
        print("\nThen any option of python -m mrcnn.experiments.compare "
              "(python -m mrcnn.experiments.compare -h).")
        sys.exit(0)
    args, rest = parser.parse_known_args(argv)
    if args.val_annotations and not args.val_dir:
        parser.error("--val-annotations needs --val-dir (the folder of its images)")
    return args, rest


def main(argv=None) -> dict:
    import mrcnn.experiments.compare
    from mrcnn.data.catalog import register_dataset

    argv = sys.argv[1:] if argv is None else list(argv)
    args, rest = parse_args(argv)
    for path in (args.annotations, args.val_annotations):
        if path is not None and not Path(path).is_file():
            sys.exit(f"error: COCO annotation file not found: {path}")
    register_dataset("coco", coco_experiment(
        args.annotations, args.images, args.val_annotations, args.val_dir, args.classes,
        args.holdout, args.preset, args.missing), replace=True)
    return mrcnn.experiments.compare.main(
        ["--dataset", "coco", *PRESET_DEFAULTS[args.preset], *rest])


if __name__ == "__main__":
    main()
