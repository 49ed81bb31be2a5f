"""``mrcnn detect``: instances in images, folders, globs and videos, drawn and listed.

Writes into ``--out``: one overlay per input image (``<name>.jpg``: masks, boxes, class
names and scores, or a colour splash), ``detections.json`` (COCO results: one entry per
instance with an RLE mask, loadable by pycocotools' ``COCO.loadRes``) and ``images.json``
(the image ids of ``detections.json`` with their file names and sizes, and the
categories), and for a video ``<name>_annotated.mp4``.
"""

from __future__ import annotations

import argparse
import glob
import json
import os

import numpy as np

from mrcnn.cli.help_text import plain

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")
EXAMPLES = """examples:
  mrcnn detect --weights logs/mine20261129T1200/mask_rcnn_mine_0020.weights.h5 \\
      --input photos/ --out detections/
  mrcnn detect --weights model.weights.h5 --input 'photos/*.jpg' --min-score 0.5 --splash
  mrcnn detect --weights model.weights.h5 --input street.mp4 --out annotated/
"""


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "detect", help="detect instances in images, folders, globs or videos",
        description=plain(__doc__.split("\n\n")[0]), epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", required=True,
                        help="a .weights.h5 checkpoint saved by mrcnn (it carries its config "
                             "and class names)")
    parser.add_argument("--input", required=True, nargs="+",
                        help="image files, folders, quoted globs or video files")
    parser.add_argument("--out", default="detections", help="output folder (default: %(default)s)")
    parser.add_argument("--min-score", type=float, default=None,
                        help="keep detections scoring at least this (default: the "
                             "checkpoint's DETECTION_MIN_CONFIDENCE)")
    parser.add_argument("--splash", action="store_true",
                        help="colour splash: grayscale image, detected instances in colour")
    parser.set_defaults(run=run)


def expand_inputs(inputs) -> tuple[list[str], list[str]]:
    """``(files, problems)``: folders become their files (sorted, not recursive), globs
    their matches; what matches nothing is reported, not raised."""
    files, problems = [], []
    for item in inputs:
        if os.path.isdir(item):
            found = sorted(os.path.join(item, name) for name in os.listdir(item)
                           if os.path.isfile(os.path.join(item, name)))
            if not found:
                problems.append(f"{item}: empty folder")
            files += found
        elif os.path.isfile(item):
            files.append(item)
        elif glob.has_magic(item):
            found = sorted(p for p in glob.glob(item) if os.path.isfile(p))
            if not found:
                problems.append(f"{item}: no file matches")
            files += found
        else:
            problems.append(f"{item}: no such file or folder")
    return files, problems


def _output_name(path: str, used: set[str], suffix: str) -> str:
    stem = os.path.splitext(os.path.basename(path))[0]
    name, n = stem + suffix, 1
    while name in used:
        n += 1
        name = f"{stem}_{n}{suffix}"
    used.add(name)
    return name


def run(args) -> int:
    import cv2
    import keras

    from mrcnn.data.image_io import read_image
    from mrcnn.evaluation.coco import detections_to_coco
    from mrcnn.model import MaskRCNN
    from mrcnn.visualize import annotate
    from mrcnn.weights.checkpoint_info import config_from_info, stored_info

    if not os.path.isfile(args.weights):
        raise FileNotFoundError(f"weights file not found: {args.weights}")
    files, problems = expand_inputs(args.input)
    for problem in problems:
        print(f"skipped {problem}")
    if not files:
        raise FileNotFoundError("no input files: " + "; ".join(problems))
    info = stored_info(args.weights)  # read once: the stored threshold, then the model
    stored = config_from_info(info)[0].DETECTION_MIN_CONFIDENCE
    floor = stored if args.min_score is None else min(args.min_score, stored)
    model = MaskRCNN.from_checkpoint(args.weights, info=info, DETECTION_MIN_CONFIDENCE=floor,
                                     IMAGES_PER_GPU=1, GPU_COUNT=1)
    names = model.class_names or [str(i) for i in range(model.config.NUM_CLASSES)]
    min_score = floor if args.min_score is None else args.min_score
    os.makedirs(args.out, exist_ok=True)
    images, entries, used = [], [], set()
    videos = [f for f in files if f.lower().endswith(VIDEO_EXTENSIONS)]
    stills = [f for f in files if f not in videos]
    bar = keras.utils.Progbar(len(stills), unit_name="image") if stills else None
    skipped = 0
    for path in stills:
        try:
            image = read_image(path)
        except (OSError, ValueError) as error:
            skipped += 1
            print(f"\nskipped {error}")  # the error names the file
            bar.add(1)
            continue
        result = model.detect([image], min_score=min_score)[0]
        image_id = len(images)
        images.append({"id": image_id, "file_name": os.path.abspath(path),
                       "height": int(image.shape[0]), "width": int(image.shape[1])})
        entries += detections_to_coco(image_id, result)
        overlay = annotate(image, result, names, splash=args.splash)
        cv2.imwrite(os.path.join(args.out, _output_name(path, used, ".jpg")),
                    overlay[..., ::-1])
        bar.add(1, values=[("instances", len(result["scores"]))])
    for path in videos:
        out_path = os.path.join(args.out, _output_name(path, used, "_annotated.mp4"))
        _annotate_video(model, path, out_path, names, min_score, args.splash)
    categories = [{"id": i, "name": n} for i, n in enumerate(names) if i > 0]
    with open(os.path.join(args.out, "detections.json"), "w") as f:
        json.dump(entries, f)
    with open(os.path.join(args.out, "images.json"), "w") as f:
        json.dump({"images": images, "categories": categories}, f, indent=1)
    print(f"{len(images)} image(s), {len(entries)} instance(s) at score >= {min_score:g}, "
          f"{len(videos)} video(s), {skipped + len(problems)} skipped; written to {args.out}")
    return 0


def _annotate_video(model, path: str, out_path: str, names, min_score: float,
                    splash: bool) -> None:
    """Detect frame by frame and write the annotated frames as an mp4 beside the others."""
    import cv2
    import keras

    from mrcnn.visualize import annotate

    capture = cv2.VideoCapture(path)
    if not capture.isOpened():
        print(f"skipped {path}: OpenCV cannot open it as a video")
        return
    fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
    frames = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) or None
    writer = None
    bar = keras.utils.Progbar(frames, unit_name="frame")
    count = 0
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            rgb = np.ascontiguousarray(frame[..., ::-1])
            result = model.detect([rgb], min_score=min_score)[0]
            drawn = annotate(rgb, result, names, splash=splash)[..., ::-1]
            if writer is None:
                height, width = drawn.shape[:2]
                writer = cv2.VideoWriter(out_path, cv2.VideoWriter_fourcc(*"mp4v"), fps,
                                         (width, height))
            writer.write(np.ascontiguousarray(drawn))
            count += 1
            bar.update(count)
    finally:
        capture.release()
        if writer is not None:
            writer.release()
    print(f"\n{path}: {count} frame(s) -> {out_path}")
