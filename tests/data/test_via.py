"""ViaDataset: VIA 1.x and 2.x json, polygon / circle / ellipse / rect regions."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from mrcnn.data import ViaDataset
from mrcnn.data.via import shape_to_mask

POLYGON = {"name": "polygon", "all_points_x": [5, 25, 25, 5], "all_points_y": [4, 4, 14, 14]}
CIRCLE = {"name": "circle", "cx": 40, "cy": 20, "r": 6}
ELLIPSE = {"name": "ellipse", "cx": 20, "cy": 30, "rx": 12, "ry": 3}
RECT = {"name": "rect", "x": 50, "y": 30, "width": 8, "height": 5}


def regions_v1():
    shapes = [(POLYGON, "balloon"), (CIRCLE, "kite"), (ELLIPSE, "balloon"), (RECT, "kite"),
              ({"name": "point", "cx": 3, "cy": 3}, "kite")]
    return {str(i): {"shape_attributes": s, "region_attributes": {"name": n}}
            for i, (s, n) in enumerate(shapes)}


@pytest.fixture
def via_dir(tmp_path):
    Image.fromarray(np.zeros((40, 64, 3), np.uint8)).save(tmp_path / "one.jpg")
    Image.fromarray(np.zeros((20, 30), np.uint8)).save(tmp_path / "two.png")
    v1 = {"one.jpg1234": {"filename": "one.jpg", "size": 1234, "regions": regions_v1(),
                          "file_attributes": {}},
          "two.png99": {"filename": "two.png", "size": 99, "regions": {}}}
    (tmp_path / "v1.json").write_text(json.dumps(v1))
    v2_regions = [dict(r, region_attributes={"name": {r["region_attributes"]["name"]: True}})
                  for r in regions_v1().values()]
    v2 = {"_via_settings": {}, "_via_attributes": {},
          "_via_img_metadata": {"one.jpg1234": {"filename": "one.jpg", "size": 1234,
                                                "regions": v2_regions}}}
    (tmp_path / "v2.json").write_text(json.dumps(v2))
    return tmp_path


def test_via1_one_class_per_default(via_dir):
    dataset = ViaDataset()
    dataset.load_via(via_dir / "v1.json")
    dataset.prepare()
    assert dataset.class_names == ["BG", "object"] and dataset.num_images == 2
    masks, class_ids = dataset.load_mask(0)
    assert masks.shape == (40, 64, 4) and class_ids.tolist() == [1, 1, 1, 1]
    image_two = dataset.load_mask(1)
    assert image_two[0].shape == (20, 30, 0)
    assert dataset.load_image(1).shape == (20, 30, 3)


def test_each_shape_rasterises_where_it_is(via_dir):
    dataset = ViaDataset()
    dataset.load_via(via_dir / "v1.json", via_dir, class_attribute="name")
    dataset.prepare()
    assert dataset.class_names == ["BG", "balloon", "kite"]
    masks, class_ids = dataset.load_mask(0)
    assert class_ids.tolist() == [1, 2, 1, 2]
    polygon, circle, ellipse, rect = np.moveaxis(masks, -1, 0)
    ys, xs = np.nonzero(polygon)
    assert (ys.min(), ys.max(), xs.min(), xs.max()) == (4, 14, 5, 25)
    ys, xs = np.nonzero(circle)
    assert abs(ys.mean() - 20) < 0.5 and abs(xs.mean() - 40) < 0.5
    assert abs(circle.sum() - np.pi * 36) < 0.15 * np.pi * 36
    ys, xs = np.nonzero(ellipse)
    assert xs.max() - xs.min() > 3 * (ys.max() - ys.min()), "wide: rx along x"
    assert abs(ellipse.sum() - np.pi * 36) < 0.25 * np.pi * 36
    expected = np.zeros((40, 64), bool)
    expected[30:35, 50:58] = True
    np.testing.assert_array_equal(rect, expected)


def test_ellipse_theta_turns_clockwise_on_screen():
    mask = shape_to_mask({"name": "ellipse", "cx": 30, "cy": 30, "rx": 20, "ry": 3,
                          "theta": np.pi / 4}, 60, 60)
    ys, xs = np.nonzero(mask)
    # Clockwise on screen (y down): the long axis runs from top-left to bottom-right.
    assert np.corrcoef(ys, xs)[0, 1] > 0.9


def test_via2_project_file_with_checkbox_attributes(via_dir):
    one = ViaDataset()
    one.load_via(via_dir / "v1.json", class_attribute="name")
    one.prepare()
    two = ViaDataset()
    two.load_via(via_dir / "v2.json", class_attribute="name")
    two.prepare()
    assert two.class_names == one.class_names and two.num_images == 1
    for a, b in zip(one.load_mask(0), two.load_mask(0)):
        np.testing.assert_array_equal(a, b)


def test_class_names_subset_skips_other_regions(via_dir):
    dataset = ViaDataset()
    dataset.load_via(via_dir / "v1.json", class_attribute="name", class_names=["kite"])
    dataset.prepare()
    assert dataset.class_names == ["BG", "kite"]
    assert dataset.load_mask(0)[1].tolist() == [1, 1]


def test_errors_name_the_file_image_and_region(via_dir):
    with pytest.raises(ValueError, match=r"one.jpg.*region 0.*no region attribute 'kind'"):
        ViaDataset().load_via(via_dir / "v1.json", class_attribute="kind")
    (via_dir / "two.png").unlink()
    with pytest.raises(FileNotFoundError, match="two.png"):
        ViaDataset().load_via(via_dir / "v1.json")
    dataset = ViaDataset()
    dataset.load_via(via_dir / "v1.json", missing="skip")
    assert len(dataset.image_info) == 1
    bad = {"x": {"filename": "one.jpg", "regions": [{"shape_attributes": {"name": "hexagon"}}]}}
    (via_dir / "bad.json").write_text(json.dumps(bad))
    with pytest.raises(ValueError, match=r"one.jpg, region 0: unsupported shape 'hexagon'"):
        ViaDataset().load_via(via_dir / "bad.json")
    with pytest.raises(FileNotFoundError, match="absent.json"):
        ViaDataset().load_via(via_dir / "absent.json")
