"""Draw trained heads' detections on a held-out Penn-Fudan photo, beside the ground truth.

    python samples/pennfudan/picture.py \\
        --weights fcn=logs/pennfudan_fcn<stamp>/mask_rcnn_pennfudan_fcn_0020.weights.h5 \\
        --weights unet=logs/pennfudan_unet<stamp>/mask_rcnn_pennfudan_unet_0020.weights.h5 \\
        --image PennPed00066 --out notebooks/figures/pennfudan_heads.png

One panel of ground truth, one per head (the same colour for the same pedestrian in every
panel, grey for detections matching none), and the map of pixels where the first two
heads disagree, coloured by which head is right (``mrcnn.visualize.compare_heads``).
Checkpoints saved by this version carry their config; older ones are rebuilt with
``PennFudanConfig`` and the head named before ``=``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # this sample's module

from pennfudan import PennFudanConfig  # noqa: E402

from mrcnn.data.public import load_pennfudan  # noqa: E402
from mrcnn.model import MaskRCNN  # noqa: E402
from mrcnn.visualize import compare_heads  # noqa: E402
from mrcnn.weights.checkpoint_info import read_info  # noqa: E402


def load_head(head: str, path: str, min_score: float) -> MaskRCNN:
    """An inference model of ``path``: from its stored config, or PennFudanConfig."""
    if read_info(path) is not None:
        return MaskRCNN.from_checkpoint(path, DETECTION_MIN_CONFIDENCE=min_score,
                                        IMAGES_PER_GPU=1)
    config = type(f"PennFudan_{head}", (PennFudanConfig,),
                  {"MASK_HEAD": head, "IMAGES_PER_GPU": 1,
                   "DETECTION_MIN_CONFIDENCE": min_score})()
    model = MaskRCNN("inference", config, class_names=["BG", "pedestrian"])
    report = model.load_weights(path)
    if report["mismatched"] or report["missing"]:
        raise ValueError(f"{path} is not a {head!r} Penn-Fudan checkpoint")
    return model


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", action="append", required=True, metavar="HEAD=PATH")
    parser.add_argument("--image", default="PennPed00066",
                        help="a held-out image's file name without extension")
    parser.add_argument("--min-score", type=float, default=0.5)
    parser.add_argument("--out", default="pennfudan_heads.png")
    args = parser.parse_args(argv)
    val = load_pennfudan("val", cache=False)
    names = [Path(val.image_reference(i)).stem for i in val.image_ids]
    if args.image not in names:
        parser.error(f"{args.image} is not a held-out image; those are {names[0]}..{names[-1]}")
    index = names.index(args.image)
    image = val.load_image(index)
    gt_masks, gt_class_ids = val.load_mask(index)
    results = {}
    for item in args.weights:
        head, _, path = item.partition("=")
        results[head] = load_head(head, path, args.min_score).detect([image])[0]
    compare_heads(image, results, ["BG", "pedestrian"], gt_masks=gt_masks,
                  gt_class_ids=gt_class_ids, save_path=args.out)
    print(f"{args.image}: " + ", ".join(f"{h} {len(r['scores'])} detections"
                                        for h, r in results.items()) + f" -> {args.out}")
    return os.path.abspath(args.out)


if __name__ == "__main__":
    main()
