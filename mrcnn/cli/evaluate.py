"""``mrcnn evaluate``: score a checkpoint on a data set: COCO mask, box and Boundary AP
(AP, AP50, AP75, AP90, by size), VOC mAP@0.5 and the mask and Boundary IoU of true
positives. Scored by COCO's protocol: every detection down to a score of 0.05, at most
100 an image, whatever threshold the checkpoint deploys with."""

from __future__ import annotations

import argparse
import json

from mrcnn.cli.help_text import plain

EXAMPLES = """examples:
  mrcnn evaluate --weights model.weights.h5 --dataset coco:val.json:val2017/ --out eval.json
  mrcnn evaluate --weights model.weights.h5 --dataset via:balloon/   # its val/ split
  mrcnn evaluate --weights model.weights.h5 --dataset labels:PNGImages:PedMasks --holdout 50
  mrcnn evaluate --weights model.weights.h5 --dataset via:balloon/ --dtype-policy float32
"""
TABLE = (("mask AP", ("segm", "AP")), ("mask AP50", ("segm", "AP50")),
         ("mask AP75", ("segm", "AP75")), ("mask AP90", ("segm", "AP90")),
         ("Boundary AP", ("boundary", "AP")), ("Boundary AP75", ("boundary", "AP75")),
         ("Boundary AP90", ("boundary", "AP90")), ("box AP", ("bbox", "AP")),
         ("VOC mAP@0.5", ("voc", "mAP50")),
         ("mask IoU (TP)", ("mask_quality", "mask_iou")),
         ("Boundary IoU (TP)", ("mask_quality", "boundary_iou")))


def add_parser(subparsers) -> None:
    from mrcnn.cli.train import add_data_arguments

    parser = subparsers.add_parser(
        "evaluate", help="COCO AP, VOC mAP and Boundary IoU of a checkpoint on a data set",
        description=plain(__doc__), epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", required=True, help="a .weights.h5 checkpoint of mrcnn")
    add_data_arguments(parser)
    parser.add_argument("--min-score", type=float, default=None,
                        help="score floor of the evaluation (default: COCO's 0.05; a "
                             "higher one truncates the precision-recall curve)")
    parser.add_argument("--dtype-policy", default=None,
                        choices=("float32", "mixed_bfloat16", "mixed_float16"),
                        help="compute in this policy (default: the checkpoint's, in "
                             "bfloat16 on CPUs with bfloat16 units)")
    parser.add_argument("--out", default=None, help="write every figure to this JSON file")
    parser.set_defaults(run=run)


def run(args) -> int:
    from mrcnn.cli.train import import_modules
    from mrcnn.data.specs import evaluation_set, load_checked
    from mrcnn.evaluation.evaluate import evaluate_run
    from mrcnn.evaluation.protocol import COCO_MAX_DETECTIONS, COCO_SCORE_FLOOR
    from mrcnn.model import MaskRCNN
    from mrcnn.precision import inference_policy
    from mrcnn.weights.checkpoint_info import json_default
    from mrcnn.weights.files import write_text_atomically

    import_modules(args.imports)
    floor = COCO_SCORE_FLOOR if args.min_score is None else args.min_score
    overrides = {"IMAGES_PER_GPU": 1, "GPU_COUNT": 1, "DETECTION_MIN_CONFIDENCE": floor,
                 "DETECTION_MAX_INSTANCES": COCO_MAX_DETECTIONS}
    if args.dtype_policy is not None:
        overrides.update(DTYPE_POLICY=args.dtype_policy, AUTO_BFLOAT16_INFERENCE=False)
    model = MaskRCNN.from_checkpoint(args.weights, **overrides)
    dataset = (load_checked(args.val, args.check)[0] if args.val
               else evaluation_set(args.dataset, args.holdout, args.check))
    if model.class_names and model.class_names != dataset.class_names:
        raise ValueError(f"{args.weights} detects {model.class_names[1:]} but the data set "
                         f"has {dataset.class_names[1:]}")
    print(f"evaluating on {dataset.num_images} images ({inference_policy(model.config)}; "
          f"detections scoring {floor} or more, at most {COCO_MAX_DETECTIONS} an image)")
    metrics = evaluate_run(model, dataset, progress=True, score_floor=floor)
    for name, (group, key) in TABLE:
        print(f"{name:20} {metrics[group][key]:.3f}")
    print(f"{'ms/image':20} {metrics['ms_per_image']:.1f}")
    if args.out:
        write_text_atomically(args.out, json.dumps(
            {"weights": args.weights, "dataset": args.dataset, **metrics}, indent=2,
            default=json_default))
        print(f"written to {args.out}")
    return 0
