"""``mrcnn compare``: the fair mask-head comparison (:mod:`mrcnn.compare`) on any data set
the command line can name.

Every head trains with the same data order, initialisation of the shared layers,
augmentation and schedule, and is scored on the same held-out images; the report
(``<out>/<name>/compare.{json,md}`` and plots) is rewritten after every run, and
``--resume`` continues an interrupted comparison. Every option of ``python -m
mrcnn.compare`` applies (``--epochs``, ``--steps-per-epoch``, ``--image-size``, ...); on
data other than shapes the defaults are ``mrcnn train``'s (20 epochs, 256 px), not the
runner's shapes setting.
"""

from __future__ import annotations

import argparse

EXAMPLES = """examples:
  mrcnn compare --dataset labels:PennFudanPed/PNGImages:PennFudanPed/PedMasks --holdout 50 \\
      --heads fcn unet --seeds 3
  mrcnn compare --dataset via:balloon/ --heads fcn unet --epochs 40
  mrcnn compare --dataset coco:train.json:images/ --holdout 50 --heads fcn mine \\
      --import my_heads
"""


def add_parser(subparsers) -> None:
    from mrcnn.cli.train import add_data_arguments

    parser = subparsers.add_parser(
        "compare", help="compare mask heads fairly on one data set, over seeds",
        description=__doc__, epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_arguments(parser)
    parser.add_argument("--name", default=None,
                        help="result folder name (default: from the data set)")
    parser.set_defaults(run=run)


def spec_experiment(spec_text: str, val_text: str | None, holdout: int | None,
                    check: str = "stop"):
    """``fn(settings, seed) -> (config class, train set, held-out set)`` for
    :data:`mrcnn.compare.EXPERIMENTS`; the data is loaded once, the split is fixed."""
    from mrcnn.cli.data_specs import config_class_for, train_and_held_out

    train_set, val_set = train_and_held_out(spec_text, val_text, holdout, check)
    if val_set is None:
        raise ValueError(f"{spec_text!r} brings no held-out split: give --holdout N or --val")

    def experiment(settings, seed: int):
        config = config_class_for(spec_text, train_set.num_classes, settings.image_size,
                                  STEPS_PER_EPOCH=settings.steps_per_epoch)
        return config, train_set, val_set

    return experiment


def run(args, rest) -> int:
    import mrcnn.compare
    from mrcnn.cli.data_specs import parse_spec
    from mrcnn.cli.train import EPOCHS, IMAGE_SIZE, import_modules

    import_modules(args.imports)
    spec = parse_spec(args.dataset)
    # Real data trains as `mrcnn train` does; options given on the command line come later
    # and win.
    defaults = [] if spec.kind == "shapes" else ["--epochs", str(EPOCHS),
                                                 "--image-size", str(IMAGE_SIZE)]
    settings = mrcnn.compare.parse_args(["--dataset", "shapes", *defaults, *rest])
    mrcnn.compare.check_heads(settings.heads)
    name = args.name or spec.name
    if spec.kind == "shapes" and not (args.val or args.holdout):
        name = "shapes"  # the runner's own shapes experiment (seeded data per run)
    else:
        mrcnn.compare.EXPERIMENTS[name] = spec_experiment(args.dataset, args.val, args.holdout,
                                                          args.check)
    settings.dataset = name
    mrcnn.compare.run(settings)
    return 0
