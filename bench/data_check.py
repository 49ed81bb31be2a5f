"""Speed of the data check (``mrcnn check``; :mod:`mrcnn.data.check`), in seconds per
1,000 images: the COCO excerpt of ``../shared/data`` where it is present, and a synthetic
COCO set of ``--images`` photos (JPEG and PNG alternating, 640x480, three polygons each,
one image in a hundred corrupt) written to a temporary folder. For comparison, the same
images decoded in full (:func:`mrcnn.data.image_io.read_image`), interleaved with the
check: what a check that loads every image would cost.

    python bench/data_check.py                 # 5,000 synthetic images
    python bench/data_check.py --quick         # 200
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.common import emit, log, machine_info, rounded, stdout_to_stderr  # noqa: E402
from mrcnn.data import CocoDataset  # noqa: E402
from mrcnn.data.check import check_dataset  # noqa: E402
from mrcnn.data.image_io import read_image  # noqa: E402

SHARED_COCO = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                           "..", "shared", "data", "coco")


def synthetic_coco(folder: str, count: int, width: int = 640, height: int = 480) -> str:
    """``count`` images with three box polygons each; every 100th file is cut short."""
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (height // 8, width // 8, 3), dtype=np.uint8)
    picture = Image.fromarray(base).resize((width, height), Image.BILINEAR)
    images, annotations = [], []
    for k in range(count):
        name = f"{k:06d}.{'jpg' if k % 2 else 'png'}"
        picture.save(os.path.join(folder, name), quality=90)
        if k % 100 == 99:
            path = os.path.join(folder, name)
            with open(path, "r+b") as f:
                f.truncate(os.path.getsize(path) // 2)
        images.append({"id": k + 1, "file_name": name, "width": width, "height": height})
        for j in range(3):
            x, y = 40 + 150 * j, 60 + 30 * j
            annotations.append({"id": 3 * k + j + 1, "image_id": k + 1, "category_id": 1,
                                "iscrowd": 0, "area": 0, "bbox": [x, y, 100, 200],
                                "segmentation": [[x, y, x + 100, y, x + 100, y + 200, x,
                                                  y + 200]]})
    path = os.path.join(folder, "annotations.json")
    with open(path, "w") as f:
        json.dump({"images": images, "annotations": annotations,
                   "categories": [{"id": 1, "name": "thing"}]}, f)
    return path


def measure(annotations: str, image_dir: str, name: str, full_decode: bool) -> dict:
    dataset = CocoDataset()
    dataset.load_coco(annotations, image_dir)
    dataset.prepare()
    report = check_dataset(dataset, name=name, progress=False)
    result = {"images": report.checked, "problems": len(report.problems),
              "check_s": rounded(report.seconds, 3),
              "check_s_per_1000": rounded(report.seconds / report.checked * 1000, 3)}
    if full_decode:
        start = time.perf_counter()
        for image_id in dataset.image_ids:
            try:
                read_image(dataset.image_info[image_id]["path"])
            except ValueError:
                pass
        seconds = time.perf_counter() - start
        result.update(full_decode_s_per_1000=rounded(seconds / report.checked * 1000, 3),
                      check_vs_full_decode=rounded(report.seconds / seconds, 3))
    log(f"{name}: {result}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--quick", action="store_true", help="200 synthetic images")
    args = parser.parse_args()
    count = 200 if args.quick else args.images
    results = {}
    with stdout_to_stderr():
        coco_json = os.path.join(SHARED_COCO, "annotations", "instances_train2017.json")
        if os.path.isfile(coco_json):
            results["coco_excerpt"] = measure(
                coco_json, os.path.join(SHARED_COCO, "images", "train2017"), "coco excerpt",
                full_decode=True)
        with tempfile.TemporaryDirectory() as folder:
            log(f"writing {count} synthetic images to {folder}")
            annotations = synthetic_coco(folder, count)
            results["synthetic"] = measure(annotations, folder, f"synthetic {count}",
                                           full_decode=True)
    emit({"quick": args.quick, "machine": machine_info(), **results})


if __name__ == "__main__":
    main()
