"""mrcnn compare: the fair mask-head comparison (mrcnn.experiments.compare) on any data set
the command line can name.

Every head trains with the same data order, initialisation of the shared layers,
augmentation and schedule, and is scored on the same held-out images; the report
(OUT/NAME/compare.{json,md} and plots) is rewritten after every run and records the data
spec, so the viewer rebuilds the held-out set from it; --resume continues an interrupted
comparison. On data other than shapes the epochs and image size default to mrcnn train's,
not the runner's shapes setting.
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
    add_runner_arguments(parser, shapes, chosen_later=("epochs", "image_size"),
                         later=f"{EPOCHS} epochs at {IMAGE_SIZE} px on real data as mrcnn "
                               f"train, {shapes.epochs} at {shapes.image_size} px on shapes")
    parser.set_defaults(run=run)


def run(args) -> int:
    import mrcnn.experiments.compare
    from mrcnn.cli.train import EPOCHS, IMAGE_SIZE, import_modules
    from mrcnn.data.catalog import SeededShapes, SpecData, register_dataset
    from mrcnn.data.specs import parse_spec
    from mrcnn.experiments.settings import CompareSettings, settings_from_args
    from mrcnn.heads.mask import check_heads

    import_modules(args.imports)
    spec = parse_spec(args.dataset)
    # Shapes without a split given: the runner's own (training images drawn per seed).
    seeded = spec.kind == "shapes" and not (args.val or args.holdout)
    name = args.name or spec.name
    if name == "shapes" and not seeded:  # "shapes" is the catalog's seeded shapes
        if args.name:
            raise ValueError("--name shapes names the runner's own shapes (no --val, no "
                             "--holdout); give this data set another name")
        name = "shapes_split"
    settings = settings_from_args(args, name)
    # Real data trains as `mrcnn train` does, shapes as the runner's shapes setting.
    defaults = (CompareSettings() if spec.kind == "shapes"
                else CompareSettings(epochs=EPOCHS, image_size=IMAGE_SIZE))
    for field in ("epochs", "image_size"):
        if getattr(settings, field) is None:
            setattr(settings, field, getattr(defaults, field))
    check_heads(settings.heads)
    if seeded:
        data = SeededShapes()
    else:
        data = SpecData(args.dataset, args.val, args.holdout, check=args.check)
        data.load()  # a data set that cannot be read stops here, before any training
    if name != "shapes":
        register_dataset(name, data, replace=True)
    mrcnn.experiments.compare.run(settings)
    return 0
