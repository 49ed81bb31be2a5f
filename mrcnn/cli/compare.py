"""mrcnn compare: the fair mask-head comparison (mrcnn.experiments.compare) on any data set
the command line can name.

Every head trains with the same data order, initialisation of the shared layers,
augmentation and schedule, and is scored on the same held-out images; the report
(OUT/NAME/compare.{json,md} and plots) is rewritten after every run, and
--resume continues an interrupted comparison. On data other than shapes the epochs and
image size default to mrcnn train's, not the runner's shapes setting.
"""

from __future__ import annotations

import argparse

from mrcnn.cli.help_text import plain

EXAMPLES = """examples:
  mrcnn compare --dataset labels:PennFudanPed/PNGImages:PennFudanPed/PedMasks --holdout 50 \\
      --heads fcn unet --seeds 3
  mrcnn compare --dataset via:balloon/ --heads fcn unet --epochs 40
  mrcnn compare --dataset coco:train.json:images/ --holdout 50 --heads fcn mine \\
      --import my_heads
"""


def add_parser(subparsers) -> None:
    from mrcnn.cli.train import EPOCHS, IMAGE_SIZE, add_data_arguments
    from mrcnn.experiments.settings import CompareSettings, add_runner_arguments

    parser = subparsers.add_parser(
        "compare", help="compare mask heads fairly on one data set, over seeds",
        description=plain(__doc__), epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_arguments(parser)
    parser.add_argument("--name", default=None,
                        help="result folder name (default: from the data set)")
    shapes = CompareSettings()
    add_runner_arguments(parser, CompareSettings(epochs=None, image_size=None),
                         later=f"{EPOCHS} epochs at {IMAGE_SIZE} px on real data as mrcnn "
                               f"train, {shapes.epochs} at {shapes.image_size} px on shapes")
    parser.set_defaults(run=run)


def spec_experiment(spec_text: str, val_text: str | None, holdout: int | None,
                    check: str = "stop"):
    """``fn(settings, seed) -> (config class, train set, held-out set)`` for
    :data:`mrcnn.experiments.compare.EXPERIMENTS`; the data is loaded once, the split is fixed."""
    from mrcnn.cli.data_specs import config_class_for, train_and_held_out

    train_set, val_set = train_and_held_out(spec_text, val_text, holdout, check)
    if val_set is None:
        raise ValueError(f"{spec_text!r} brings no held-out split: give --holdout N or --val")

    def experiment(settings, seed: int):
        config = config_class_for(spec_text, train_set.num_classes, settings.image_size,
                                  STEPS_PER_EPOCH=settings.steps_per_epoch)
        return config, train_set, val_set

    return experiment


def run(args) -> int:
    import mrcnn.experiments.compare
    from mrcnn.cli.data_specs import parse_spec
    from mrcnn.cli.train import EPOCHS, IMAGE_SIZE, import_modules
    from mrcnn.experiments.settings import CompareSettings, settings_from_args
    from mrcnn.heads.mask import check_heads

    import_modules(args.imports)
    spec = parse_spec(args.dataset)
    name = args.name or spec.name
    if spec.kind == "shapes" and not (args.val or args.holdout):
        name = "shapes"  # the runner's own shapes experiment (seeded data per run)
    settings = settings_from_args(args, name)
    # Real data trains as `mrcnn train` does, shapes as the runner's shapes setting.
    defaults = (CompareSettings() if name == "shapes"
                else CompareSettings(epochs=EPOCHS, image_size=IMAGE_SIZE))
    for field in ("epochs", "image_size"):
        if getattr(settings, field) is None:
            setattr(settings, field, getattr(defaults, field))
    check_heads(settings.heads)
    if name != "shapes":
        mrcnn.experiments.compare.EXPERIMENTS[name] = spec_experiment(
            args.dataset, args.val, args.holdout, args.check)
    mrcnn.experiments.compare.run(settings)
    return 0
