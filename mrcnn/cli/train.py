"""``mrcnn train``: train one mask head on a data set named on the command line.

Checkpoints (one per epoch, written atomically, each carrying the config and the class
names) and TensorBoard logs go to ``--logs/<name><timestamp>/``; ``--resume`` continues
the newest run of the same name. After training the held-out images are evaluated
(COCO mask and box AP) unless there are none.

``--strategy mirrored`` trains on every GPU of the machine (``MirroredStrategy``);
``--strategy multiworker`` is one worker of a ``MultiWorkerMirroredStrategy`` cluster
described by ``TF_CONFIG`` (start the same command on every machine, with ``--logs`` on
storage all of them read). Each replica takes ``IMAGES_PER_GPU`` images a step.
"""

from __future__ import annotations

import argparse
import os

from mrcnn.cli.help_text import plain
from mrcnn.data.specs import KINDS
from mrcnn.experiments.config_overrides import add_config_arguments

EXAMPLES = """examples:
  mrcnn train --dataset via:balloon/ --head unet --epochs 20
  mrcnn train --dataset coco:annotations.json:images/ --holdout 50 --head fcn --image-size 384
  mrcnn train --dataset labels:PNGImages:PedMasks --holdout 50 --weights last --epochs 30
  mrcnn train --dataset via:balloon/ --set NORM=group --copy-paste 0.5 --epochs 40
  mrcnn train --dataset coco:train.json:train2017/ --val coco:val.json:val2017/ \\
      --weights coco --backbone resnet101 --layers heads --image-size 1024
  TF_CONFIG='{"cluster": {"worker": ["host0:2222", "host1:2222"]},
              "task": {"type": "worker", "index": 0}}' \\
      mrcnn train --dataset via:/shared/balloon/ --strategy multiworker --logs /shared/logs
"""
STRATEGIES = ("none", "mirrored", "multiworker")
# Config fields that options of this command set (--set refuses them).
OPTION_FIELDS = {"MASK_HEAD": "--head", "STEPS_PER_EPOCH": "--steps-per-epoch",
                 "BACKBONE": "--backbone", "NAME": "--name", "GPU_COUNT": "--strategy",
                 "IMAGE_MIN_DIM": "--image-size", "IMAGE_MAX_DIM": "--image-size"}
BACKBONE_FOR_WEIGHTS = {"coco": "resnet101", "imagenet": "resnet50"}
# The schedule and input size of a run on the user's data (the samples' setting); `mrcnn
# compare` uses them too, so that a comparison trains as `mrcnn train` does.
EPOCHS, IMAGE_SIZE = 20, 256


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "train", help="train a mask head on a COCO, VIA, label-image or shapes data set",
        description=plain(__doc__.split("\n\n")[0]), epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_arguments(parser)
    parser.add_argument("--head", default="fcn", help="mask head (default: %(default)s)")
    parser.add_argument("--weights", default="none",
                        help="none (from scratch), last (newest checkpoint of this run's "
                             "name), coco, imagenet, or a .weights.h5/.h5 path")
    parser.add_argument("--backbone", default=None,
                        help="resnet_light (default from scratch), resnet50 (default with "
                             "imagenet), resnet101 (default with coco)")
    parser.add_argument("--epochs", type=int, default=EPOCHS,
                        help="epochs to train; the last 20%% at a tenth of the learning rate, "
                             "as mrcnn compare trains (default: %(default)s)")
    parser.add_argument("--steps-per-epoch", type=int, default=100)
    parser.add_argument("--image-size", type=int, default=IMAGE_SIZE,
                        help="square input side, a multiple of 64 (default: %(default)s)")
    parser.add_argument("--layers", default="all",
                        help="heads, 3+, 4+, 5+, all, or a regex (default: %(default)s)")
    parser.add_argument("--lr", type=float, default=None,
                        help="learning rate (default: the config's LEARNING_RATE)")
    parser.add_argument("--logs", default="logs", help="checkpoint folder (default: %(default)s)")
    parser.add_argument("--name", default=None, help="run name (default: from the data set)")
    parser.add_argument("--resume", action="store_true",
                        help="continue the newest checkpoint of this name under --logs")
    parser.add_argument("--seed", type=int, default=0)
    add_config_arguments(parser, "the run")
    parser.add_argument("--strategy", choices=STRATEGIES, default="none",
                        help="tf.distribute strategy: mirrored (the GPUs of this machine), "
                             "multiworker (one worker of the TF_CONFIG cluster); "
                             "default: %(default)s")
    parser.set_defaults(run=run)


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    """``--dataset``, ``--val``, ``--holdout``, ``--import`` and the data check's
    ``--no-check`` / ``--skip-bad``: shared by train, evaluate and compare."""
    parser.add_argument("--dataset", required=True,
                        help=f"data set spec, kinds {', '.join(KINDS)} (see mrcnn -h)")
    split = parser.add_mutually_exclusive_group()
    split.add_argument("--val", default=None, help="held-out data set spec")
    split.add_argument("--holdout", type=int, default=None,
                       help="hold out the last N images of --dataset (file order)")
    parser.add_argument("--import", dest="imports", action="append", default=[],
                        metavar="MODULE",
                        help="import a module first (e.g. one that registers a mask head)")
    check = parser.add_mutually_exclusive_group()
    check.add_argument("--no-check", dest="check", action="store_const", const="off",
                       default="stop",
                       help="skip the data check that runs before the first step (see "
                            "mrcnn check -h)")
    check.add_argument("--skip-bad", dest="check", action="store_const", const="skip",
                       help="leave out the images the data check finds problems with, "
                            "instead of stopping")

def import_modules(names) -> None:
    import importlib

    for name in names:
        importlib.import_module(name)


def make_strategy(name: str):
    """The ``tf.distribute`` strategy named by ``--strategy`` (None for "none"). A
    multi-worker strategy must be the process's first TensorFlow call."""
    import tensorflow as tf

    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multiworker":
        if not os.environ.get("TF_CONFIG"):
            raise ValueError("--strategy multiworker needs TF_CONFIG: the cluster's workers "
                             "and this process's index (see mrcnn train -h)")
        return tf.distribute.MultiWorkerMirroredStrategy()
    return None


def run(args) -> int:
    strategy = make_strategy(args.strategy)
    import keras

    from mrcnn.config import Config
    from mrcnn.data.specs import config_class_for, train_and_held_out
    from mrcnn.engine.checkpoints import is_chief
    from mrcnn.engine.multi_worker import barrier, uses_own_loop
    from mrcnn.engine.schedule import train_on_schedule
    from mrcnn.evaluation.evaluate import evaluate_run
    from mrcnn.evaluation.protocol import COCO_MAX_DETECTIONS, COCO_SCORE_FLOOR
    from mrcnn.experiments.config_overrides import check_config_fields, parse_field, with_fields
    from mrcnn.heads.mask import check_heads
    from mrcnn.model import MaskRCNN
    from mrcnn.weights.pretrained import load_pretrained, resolve_weights

    import_modules(args.imports)
    check_heads([args.head])
    extra = dict(parse_field(item) for item in args.config)
    check_config_fields(Config, extra, OPTION_FIELDS)  # before data or weights are read
    backbone = args.backbone or BACKBONE_FOR_WEIGHTS.get(args.weights, "resnet_light")
    if args.weights not in ("none", "last"):  # fetch (or fail) before anything is built
        resolve_weights(args.weights, backbone=backbone)
    train_set, val_set = train_and_held_out(args.dataset, args.val, args.holdout, args.check)
    fields = {"MASK_HEAD": args.head, "STEPS_PER_EPOCH": args.steps_per_epoch,
              "BACKBONE": backbone}
    if args.name:
        fields["NAME"] = args.name
    if backbone != "resnet_light":  # pretrained backbones keep their frozen BN statistics
        fields["TRAIN_BN"] = False
    if strategy is not None:
        fields["GPU_COUNT"] = strategy.num_replicas_in_sync
    config_class = config_class_for(args.dataset, train_set.num_classes, args.image_size,
                                    **fields)
    config = with_fields(config_class, extra, args.copy_paste)()
    print(f"training {config.MASK_HEAD!r} on {train_set.num_images} images "
          f"({', '.join(train_set.class_names[1:])}); held out: "
          f"{val_set.num_images if val_set is not None else 0}")
    if strategy is not None:
        print(f"{type(strategy).__name__}: {config.GPU_COUNT} replica(s) x "
              f"{config.IMAGES_PER_GPU} image(s) a step")
    keras.utils.set_random_seed(args.seed)
    model = MaskRCNN("training", config, args.logs, strategy=strategy)
    if args.weights == "last":
        model.load_weights(model.find_last())
    elif args.weights != "none":
        report = load_pretrained(model, args.weights)
        print(f"weights {args.weights}: {len(report['loaded'])} layers loaded, "
              f"{len(report['skipped']) + len(report['missing'])} start fresh")
    learning_rate = config.LEARNING_RATE if args.lr is None else args.lr
    train_on_schedule(model, train_set, val_set, learning_rate, args.epochs, resume=args.resume,
                      layers=args.layers, seed=args.seed, verbose=1)
    if is_chief(strategy):  # the chief wrote the checkpoints and evaluates them
        checkpoint = model.last_checkpoint()
        print(f"checkpoint: {checkpoint}")
        if val_set is not None:
            detector = MaskRCNN.from_checkpoint(
                checkpoint, model_dir=args.logs, DETECTION_MIN_CONFIDENCE=COCO_SCORE_FLOOR,
                DETECTION_MAX_INSTANCES=COCO_MAX_DETECTIONS)
            metrics = evaluate_run(detector, val_set)
            print(f"held-out ({val_set.num_images} images, COCO protocol): mask AP "
                  f"{metrics['segm']['AP']:.3f}, AP50 {metrics['segm']['AP50']:.3f}, "
                  f"Boundary AP {metrics['boundary']['AP']:.3f}, "
                  f"box AP {metrics['bbox']['AP']:.3f}")
    if uses_own_loop(strategy):  # the other workers stay in the cluster until the chief ends
        barrier(strategy)
    return 0
