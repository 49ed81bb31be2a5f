"""Simple Copy-Paste: pasted pixels and masks, occlusion of the sample's own objects, crowd
regions never pasted, and the augmentation inside the training input."""

from __future__ import annotations

import numpy as np
import pytest

from mrcnn.data import augment
from mrcnn.data.copy_paste import CopyPaste, paste
from mrcnn.engine.input_pipeline import load_image_gt
from tests.helpers import tiny_config


def box_mask(shape, y1, x1, y2, x2) -> np.ndarray:
    mask = np.zeros(shape, bool)
    mask[y1:y2, x1:x2] = True
    return mask


def scene():
    """A 20x30 sample with two objects and a crowd region, and a 24x24 source with two
    objects and a crowd region; the source's first object covers all of the sample's first
    and part of its crowd region."""
    image = np.full((20, 30, 3), 10, np.uint8)
    masks = np.stack([box_mask((20, 30), 2, 2, 6, 6), box_mask((20, 30), 10, 20, 18, 28),
                      box_mask((20, 30), 0, 4, 3, 12)], -1)  # the last: a crowd region
    source = np.arange(24 * 24 * 3, dtype=np.uint32).reshape(24, 24, 3).astype(np.uint8)
    source_masks = np.stack([box_mask((24, 24), 1, 1, 8, 8), box_mask((24, 24), 12, 18, 22, 24),
                             box_mask((24, 24), 0, 10, 5, 16)], -1)
    return image, masks, np.array([1, 2, -1], np.int32), source, source_masks, np.array([3, 1, -1])


def expected_paste(image, masks, ids, source, source_masks, source_ids, subset):
    """The definition for the source objects ``subset``: the source laid on the sample from
    the top-left corner, its chosen objects' pixels replace the sample's, the sample's
    masks lose those pixels (empty ones dropped), the chosen masks and ids follow."""
    height, width = image.shape[:2]
    laid = np.zeros((height, width, source_masks.shape[2]), bool)
    laid_pixels = np.zeros_like(image)
    h, w = min(height, source.shape[0]), min(width, source.shape[1])
    laid[:h, :w], laid_pixels[:h, :w] = source_masks[:h, :w], source[:h, :w]
    chosen = laid[..., list(subset)]
    covered = chosen.any(axis=2)
    out = np.where(covered[..., None], laid_pixels, image)
    own = [masks[..., k] & ~covered for k in range(masks.shape[2])]
    visible = [k for k, m in enumerate(own) if m.any()]
    out_masks = np.stack([own[k] for k in visible] + [chosen[..., j]
                                                     for j in range(len(subset))], -1)
    return out, out_masks, np.array([ids[k] for k in visible]
                                    + [source_ids[j] for j in subset])


def test_pasted_objects_replace_the_pixels_and_occlude_the_samples_objects():
    image, masks, ids, source, source_masks, source_ids = scene()
    subsets = [(0,), (1,), (0, 1)]  # object 2 is a crowd region: never pasted
    expected = [expected_paste(image, masks, ids, source, source_masks, source_ids, s)
                for s in subsets]
    seen = set()
    for seed in range(40):
        out = paste(image, masks, ids, source, source_masks, source_ids,
                    np.random.default_rng(seed))
        matches = [i for i, e in enumerate(expected)
                   if all(np.array_equal(x, y) for x, y in zip(out, e))]
        assert len(matches) == 1, seed
        seen.add(matches[0])
    assert seen == {0, 1, 2}  # a random subset, one object to all
    # Source object 0 covers the sample's first object: it is dropped, not kept empty; the
    # sample's crowd region stays, less the pasted pixels.
    assert list(expected[0][2]) == [2, -1, 3]
    assert not expected[0][1][1:8, 4:8, 1].any() and expected[0][1][0:3, 8:12, 1].all()


def test_no_more_objects_are_pasted_than_max_gt_instances_leaves_room_for():
    image, masks, ids, source, source_masks, source_ids = scene()
    for seed in range(20):
        rng = np.random.default_rng(seed)
        assert len(paste(image, masks, ids, source, source_masks, source_ids, rng, 4)[2]) <= 4
    unchanged = paste(image, masks, ids, source, source_masks, source_ids,
                      np.random.default_rng(0), 3)  # the sample holds 3 already
    assert unchanged[0] is image and unchanged[2] is ids


def test_a_source_without_pasteable_objects_leaves_the_sample_alone():
    image, masks, ids, source, source_masks, _ = scene()
    out, out_masks, out_ids = paste(image, masks, ids, source, source_masks,
                                    np.array([-1, -1, -1]), np.random.default_rng(0))
    assert out is image and out_masks is masks and out_ids is ids


def test_copy_paste_adds_objects_in_the_training_input(shapes64):
    config = tiny_config()
    per_image = augment.default_augmentation()
    rngs = np.random.default_rng(3), np.random.default_rng(3)
    plain = load_image_gt(shapes64, config, 0, per_image, rngs[0])
    # p = 0 draws nothing more: the same sample, and the same draws after it (padding).
    unpasted = load_image_gt(shapes64, config, 0, CopyPaste(per_image, p=0.0), rngs[1])
    for x, y in zip(plain, unpasted):
        np.testing.assert_array_equal(x, y)
    assert rngs[0].random() == rngs[1].random()
    more = 0
    for seed in range(6):
        image, _, class_ids, boxes, masks = load_image_gt(
            shapes64, config, 0, CopyPaste(per_image, p=1.0), np.random.default_rng(seed))
        again = load_image_gt(shapes64, config, 0, CopyPaste(per_image, p=1.0),
                              np.random.default_rng(seed))
        np.testing.assert_array_equal(image, again[0])  # repeatable from the generator
        assert len(class_ids) == len(boxes) == masks.shape[-1]
        assert (boxes[:, 2] > boxes[:, 0]).all() and (boxes[:, 3] > boxes[:, 1]).all()
        more += len(class_ids) > len(plain[2])
    assert more >= 3


def test_copy_paste_is_not_a_per_image_step():
    with pytest.raises(TypeError, match="needs the training data set"):
        augment.Compose([CopyPaste()])(np.zeros((4, 4, 3), np.uint8), np.zeros((4, 4, 0), bool),
                                       np.random.default_rng(0))
    with pytest.raises(ValueError, match="p must be in"):
        CopyPaste(p=2)
    with pytest.raises(ValueError, match="p must be in"):
        CopyPaste(p=float("nan"))
    with pytest.raises(ValueError, match="already a CopyPaste"):
        CopyPaste(CopyPaste())
    with pytest.raises(ValueError, match="not an augmentation"):
        CopyPaste("flip")


@pytest.mark.parametrize("text", ["2", "-0.1", "nan", "half"])
def test_copy_paste_option_takes_a_fraction(text):
    import argparse

    from mrcnn.experiments.config_overrides import add_config_arguments, with_fields

    parser = argparse.ArgumentParser()
    add_config_arguments(parser, "the run")
    assert parser.parse_args(["--copy-paste", "0.25"]).copy_paste == 0.25
    with pytest.raises(SystemExit):
        parser.parse_args(["--copy-paste", text])
    # Given twice (the config's and the option), the option sets the probability.
    config_class = type(tiny_config()).__mro__[1]
    twice = with_fields(config_class, {"AUGMENTATION": CopyPaste(augment.Fliplr(), p=0.9)}, 0.3)
    assert twice.AUGMENTATION.p == 0.3 and isinstance(twice.AUGMENTATION.per_image,
                                                       augment.Fliplr)
