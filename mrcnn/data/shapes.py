"""Synthetic "shapes" data set: squares, circles and triangles on a flat background.

Needs no download: each image's content is drawn from an RNG seeded by
(seed, image index), stored as a small spec in ``image_info``, and rendered on
demand with OpenCV. Useful for smoke tests and quick training runs.
"""

from typing import Any

import cv2
import numpy as np

from mrcnn.config import LightConfig
from mrcnn.data.dataset import Dataset

SOURCE = "shapes"
SHAPE_CLASSES: dict[str, int] = {"square": 1, "circle": 2, "triangle": 3}
MAX_SHAPES = 4
MAX_BOX_IOU = 0.3
PLACEMENT_TRIES = 5
MIN_COLOR_DISTANCE = 60

Spec = tuple[str, tuple[int, int, int], tuple[int, int, int]]


class ShapesDataset(Dataset):
    """Generated images of 1-4 coloured shapes each, with exact instance masks.

    Every image's ``image_info`` holds ``bg_color`` (RGB), ``shapes`` (list of
    (name, RGB colour, (cy, cx, size)) with ``size`` the half-extent in pixels),
    ``height``, ``width``, ``seed`` and ``index``.
    """

    def load_shapes(self, count: int, height: int, width: int, seed: int = 0) -> None:
        """Register the three shape classes and ``count`` images of [height, width]."""
        if count < 0:
            raise ValueError(f"ShapesDataset.load_shapes: count must be >= 0, got {count}")
        if min(height, width) < 8:
            raise ValueError(
                f"ShapesDataset.load_shapes: image must be at least 8x8, got {height}x{width}"
            )
        for name, class_id in SHAPE_CLASSES.items():
            self.add_class(SOURCE, class_id, name)
        for index in range(count):
            rng = np.random.default_rng([seed, index])
            bg_color, shapes = random_image_spec(rng, height, width)
            self.add_image(
                SOURCE,
                image_id=index,
                path=None,
                width=width,
                height=height,
                bg_color=bg_color,
                shapes=shapes,
                seed=seed,
                index=index,
            )

    def load_image(self, image_id: int) -> np.ndarray:
        """Render the image as [H, W, 3] uint8; later shapes are drawn on top."""
        info = self.image_info[image_id]
        if info["source"] != SOURCE:
            return super().load_image(image_id)
        image = np.empty([info["height"], info["width"], 3], dtype=np.uint8)
        image[:] = np.asarray(info["bg_color"], dtype=np.uint8)
        for name, color, dims in info["shapes"]:
            _draw_shape(image, name, dims, tuple(int(c) for c in color))
        return image

    def load_mask(self, image_id: int) -> tuple[np.ndarray, np.ndarray]:
        """Visible-pixel masks [H, W, N] bool and internal class ids [N] int32.

        Later shapes occlude earlier ones, so masks never overlap; a shape
        hidden entirely by later ones is dropped together with its class id.
        """
        info = self.image_info[image_id]
        if info["source"] != SOURCE:
            return super().load_mask(image_id)
        height, width = info["height"], info["width"]
        shapes = info["shapes"]
        masks = np.zeros([height, width, len(shapes)], dtype=np.uint8)
        for i, (name, _, dims) in enumerate(shapes):
            canvas = np.zeros([height, width], dtype=np.uint8)
            _draw_shape(canvas, name, dims, 1)
            masks[:, :, i] = canvas
        masks = masks.astype(bool)

        covered = np.zeros([height, width], dtype=bool)
        for i in range(len(shapes) - 1, -1, -1):
            masks[:, :, i] &= ~covered
            covered |= masks[:, :, i]

        keep = masks.any(axis=(0, 1))
        class_ids = np.array(
            [self.map_source_class_id(f"{SOURCE}.{SHAPE_CLASSES[name]}") for name, _, _ in shapes],
            dtype=np.int32,
        )
        return masks[:, :, keep], class_ids[keep]

    def image_reference(self, image_id: int) -> str:
        """Reference of the form "shapes:<seed>:<index>" for generated images."""
        info = self.image_info[image_id]
        if info["source"] != SOURCE:
            return super().image_reference(image_id)
        return f"{SOURCE}:{info['seed']}:{info['index']}"


def random_image_spec(
    rng: np.random.Generator, height: int, width: int
) -> tuple[tuple[int, int, int], list[Spec]]:
    """Random background colour and 1-4 shape specs for one image.

    A candidate shape whose bounding box has IoU > MAX_BOX_IOU with an already
    placed one is redrawn up to PLACEMENT_TRIES times, then skipped; the first
    shape is always placed.
    """
    bg_color = _random_color(rng)
    num_shapes = int(rng.integers(1, MAX_SHAPES + 1))
    shapes: list[Spec] = []
    boxes: list[np.ndarray] = []
    for _ in range(num_shapes):
        for _ in range(PLACEMENT_TRIES):
            name, color, dims = _random_shape(rng, height, width, bg_color)
            box = _shape_box(dims)
            if all(_box_iou(box, other) <= MAX_BOX_IOU for other in boxes):
                shapes.append((name, color, dims))
                boxes.append(box)
                break
    return bg_color, shapes


def _random_color(rng: np.random.Generator) -> tuple[int, int, int]:
    """RGB tuple with components in 0..255."""
    r, g, b = rng.integers(0, 256, size=3)
    return int(r), int(g), int(b)


def _random_shape(
    rng: np.random.Generator, height: int, width: int, bg_color: tuple[int, int, int]
) -> Spec:
    """One shape: class name, colour distinct from the background, (cy, cx, size).

    ``size`` is the half-extent, between min(H, W)/8 and min(H, W)/4, and the
    centre keeps the shape's box inside the image.
    """
    name = str(rng.choice(list(SHAPE_CLASSES)))
    color = _random_color(rng)
    while np.abs(np.subtract(color, bg_color)).sum() < MIN_COLOR_DISTANCE:
        color = _random_color(rng)
    short_side = min(height, width)
    low = max(1, short_side // 8)
    high = max(low, short_side // 4)
    size = int(rng.integers(low, high + 1))
    cy = int(rng.integers(size, height - size))
    cx = int(rng.integers(size, width - size))
    return name, color, (cy, cx, size)


def _shape_box(dims: tuple[int, int, int]) -> np.ndarray:
    """Box (y1, x1, y2, x2) of a shape's square extent, y2/x2 exclusive."""
    cy, cx, size = dims
    return np.array([cy - size, cx - size, cy + size + 1, cx + size + 1])


def _box_iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two (y1, x1, y2, x2) boxes."""
    height = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    width = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    intersection = height * width
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - intersection
    return float(intersection / union)


def _draw_shape(canvas: np.ndarray, name: str, dims: tuple[int, int, int], color: Any) -> None:
    """Fill one shape into ``canvas`` in place (same pixels for image and mask)."""
    cy, cx, size = dims
    if name == "square":
        cv2.rectangle(canvas, (cx - size, cy - size), (cx + size, cy + size), color, thickness=-1)
    elif name == "circle":
        cv2.circle(canvas, (cx, cy), size, color, thickness=-1)
    elif name == "triangle":
        half_base = size * np.sqrt(3.0) / 2.0
        points = np.array(
            [
                [cx, cy - size],
                [round(cx - half_base), round(cy + size / 2.0)],
                [round(cx + half_base), round(cy + size / 2.0)],
            ],
            dtype=np.int32,
        )
        cv2.fillPoly(canvas, [points], color)
    else:
        raise ValueError(f"Unknown shape {name!r}; expected one of {list(SHAPE_CLASSES)}")


class ShapesConfig(LightConfig):
    """Trains on the shapes data set from scratch on a laptop CPU: the light preset on
    128x128 images, anchors sized for shapes of 16-64 px."""

    NAME = "shapes"
    NUM_CLASSES = 1 + len(SHAPE_CLASSES)
    IMAGES_PER_GPU = 8
    IMAGE_MIN_DIM = 128
    IMAGE_MAX_DIM = 128
    RPN_ANCHOR_SCALES = (8, 16, 32, 64, 128)
    POST_NMS_ROIS_TRAINING = 200
    RPN_TRAIN_ANCHORS_PER_IMAGE = 64
    MAX_GT_INSTANCES = MAX_SHAPES
    DETECTION_MAX_INSTANCES = 20
    DETECTION_MIN_CONFIDENCE = 0.7
    VALIDATION_STEPS = 5


def demo_dataset(count: int = 8, size: int = 64, seed: int = 0) -> ShapesDataset:
    """A small prepared shapes data set (a zero-argument factory for
    ``python -m mrcnn.check_dataset mrcnn.data.shapes:demo_dataset``)."""
    dataset = ShapesDataset()
    dataset.load_shapes(count, size, size, seed=seed)
    dataset.prepare()
    return dataset
