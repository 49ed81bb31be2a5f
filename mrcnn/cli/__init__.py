"""The ``mrcnn`` command line (also ``python -m mrcnn``).

    mrcnn detect   --weights CKPT --input PATH|GLOB|DIR|VIDEO --out DIR [--min-score S]
    mrcnn train    --dataset SPEC [--val SPEC | --holdout N] --head NAME --weights none|...
    mrcnn evaluate --weights CKPT --dataset SPEC [--holdout N] [--out FILE.json]
    mrcnn compare  --dataset SPEC --heads fcn unet --seeds 3 [--import MODULE]
    mrcnn check    --dataset SPEC

Data set specs (``coco:ANNOTATIONS.json:IMAGES``, ``via:DIR``, ``labels:IMAGES:LABELS``,
``shapes``, ``pennfudan``, ``balloon``) are described in :mod:`mrcnn.data.specs`. Expected
failures (a missing file, a bad spec, weights that cannot be fetched, an image that cannot
be loaded during training) print one ``error:`` line and exit with status 2, never a
traceback (set ``MRCNN_DEBUG=1`` to see one).
"""

from __future__ import annotations

import argparse
import os
import sys

from mrcnn.cli import check, compare, detect, evaluate, train
from mrcnn.cli.help_text import data_set_specs

COMMANDS = (detect, train, evaluate, compare, check)
EXAMPLES = """examples:
  mrcnn train --dataset via:balloon/ --head unet --epochs 20
  mrcnn detect --weights logs/via_balloon20261129T1200/mask_rcnn_via_balloon_0020.weights.h5 \\
      --input photos/ --out detections/
  mrcnn evaluate --weights model.weights.h5 --dataset coco:val.json:val2017/
  mrcnn compare --dataset labels:PNGImages:PedMasks --holdout 50 --heads fcn unet --seeds 3

`mrcnn COMMAND -h` describes each command.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mrcnn", description="Mask R-CNN with swappable FCN and U-Net mask heads.",
        epilog=EXAMPLES + "\n" + data_set_specs(),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in COMMANDS:
        command.add_parser(subparsers)
    return parser


def expected_errors() -> tuple[type[BaseException], ...]:
    """Errors that are the user's to fix: reported in one line, without a traceback."""
    from mrcnn.config import ConfigError
    from mrcnn.weights.pretrained import WeightsUnavailable

    return (FileNotFoundError, ConfigError, WeightsUnavailable, ValueError)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except expected_errors() as error:
        if os.environ.get("MRCNN_DEBUG"):
            raise
        if type(error).__name__ == "InputError":  # a progress bar may hold the line
            print(flush=True)
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
