"""``mrcnn check``: check a data set before training on it.

Every image is read once: the file decodes (PNG checksums verified and JPEGs decoded at
1/8 scale where the annotations give the image size, as COCO json does; other data sets
load each image and its masks) and has the size its annotations say; every mask fits
the image; class ids are known; crowd regions have the image's size; no image id is
registered twice. All problems are listed at once (data set, image id, file, what),
and faults that loading repairs (an empty segmentation or an unknown category left out,
a polygon past the border clipped) are summarised one line per kind. ``mrcnn train``,
``evaluate`` and ``compare`` run the same check first unless ``--no-check``; with
``--skip-bad`` they leave out the images with problems instead of stopping.

Exit status: 0 when no image has a problem, 1 when some do, 2 when the data set cannot be
read at all.
"""

from __future__ import annotations

import argparse

from mrcnn.cli.help_text import plain

EXAMPLES = """examples:
  mrcnn check --dataset coco:annotations/instances_train.json:images/
  mrcnn check --dataset via:balloon/
  mrcnn check --dataset labels:PennFudanPed/PNGImages:PennFudanPed/PedMasks
"""


def add_parser(subparsers) -> None:
    from mrcnn.cli.train import KINDS

    parser = subparsers.add_parser(
        "check", help="check a data set: every image decodes, masks fit, ids are known",
        description=plain(__doc__), epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", required=True,
                        help=f"data set spec, kinds {', '.join(KINDS)} (see mrcnn -h)")
    parser.add_argument("--val", default=None, help="a held-out data set spec to check too")
    parser.set_defaults(run=run)


def run(args) -> int:
    from mrcnn.data.check import check_dataset
    from mrcnn.data.specs import load_spec, parse_spec, print_findings

    status = 0
    for text in (args.dataset, *([args.val] if args.val else [])):
        dataset, own_split = load_spec(parse_spec(text))
        parts = [(text, dataset)] + ([(f"{text} (its held-out split)", own_split)]
                                     if own_split is not None else [])
        for name, part in parts:
            report = check_dataset(part, name=name)
            print_findings(report, problems=True)
            status = max(status, 1 if report.problems else 0)
    return status
