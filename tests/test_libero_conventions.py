"""LIBERO conventions (image, gripper, proprio, crops) and the paper-style summary table."""

from __future__ import annotations

import numpy as np
import pytest

from envs.libero.conventions import (
    apply_image_convention,
    center_crop_resize,
    detect_gripper_convention,
    gripper_env_to_open01,
    gripper_open01_to_env,
    quat2axisangle,
)
from envs.libero.summary import format_paper_table, paper_row


def test_image_conventions_on_known_pixels():
    raw = np.zeros((4, 6, 3), np.uint8)
    raw[0, 0] = (255, 0, 0)  # raw row 0 = bottom of the picture (OpenGL)
    rot = apply_image_convention(raw, "rot180")
    assert tuple(rot[3, 5]) == (255, 0, 0) and rot.flags.c_contiguous
    assert tuple(apply_image_convention(raw, "vflip")[3, 0]) == (255, 0, 0)
    assert tuple(apply_image_convention(raw, "hflip")[0, 5]) == (255, 0, 0)
    np.testing.assert_array_equal(apply_image_convention(raw, "none"), raw)
    batch = np.stack([raw, raw])
    np.testing.assert_array_equal(apply_image_convention(batch, "rot180")[1], rot)
    with pytest.raises(ValueError, match="image_flip"):
        apply_image_convention(raw, "rotate")


def test_gripper_conversions():
    np.testing.assert_array_equal(gripper_open01_to_env([1.0, 0.0, 0.7, 0.2]), [-1.0, 1.0, -1.0, 1.0])
    np.testing.assert_allclose(gripper_open01_to_env([1.0, 0.0, 0.5], binarize=False), [-1.0, 1.0, 0.0])
    np.testing.assert_array_equal(gripper_env_to_open01([-1.0, 1.0]), [1.0, 0.0])
    assert detect_gripper_convention(np.array([-1.0, -1.0, 1.0])) == "env"
    assert detect_gripper_convention(np.array([1.0, 1.0, 0.0])) == "open01"
    with pytest.raises(ValueError, match="ambiguous"):
        detect_gripper_convention(np.ones(5))


def test_quat2axisangle_matches_robosuite():
    from robosuite.utils import transform_utils as T

    rng = np.random.default_rng(0)
    for _ in range(20):
        q = rng.normal(size=4)
        q /= np.linalg.norm(q)
        np.testing.assert_allclose(quat2axisangle(q), T.quat2axisangle(q.copy()), atol=1e-12)
    np.testing.assert_array_equal(quat2axisangle(np.array([0.0, 0.0, 0.0, 1.0])), np.zeros(3))


def test_center_crop_resize():
    img = np.zeros((256, 256, 3), np.uint8)
    img[128:, :, 0] = 200  # bottom half red
    out = center_crop_resize(img, 224)
    assert out.shape == (224, 224, 3) and out.dtype == np.uint8
    assert out[-1, 0, 0] == 200 and out[0, 0, 0] == 0
    crop = center_crop_resize(np.arange(100 * 100 * 3, dtype=np.uint8).reshape(100, 100, 3), 95, crop_area=0.9025)
    assert crop.shape == (95, 95, 3)  # exact 95 px crop, no resize
    with pytest.raises(ValueError, match="crop_area"):
        center_crop_resize(img, 224, crop_area=0.0)


def test_paper_table_order_average_and_reference():
    row = paper_row({"libero_spatial": (9, 10), "libero_object": 0.5, "libero_goal": 1.0, "libero_10": (1, 4)})
    assert list(row) == ["Spatial", "Object", "Goal", "Long", "Avg"]
    assert row["Avg"] == pytest.approx((90 + 50 + 100 + 25) / 4)
    table = format_paper_table({"spatial": 0.972, "object": 0.986, "goal": 0.974, "long": 0.92}, name="ours")
    lines = table.splitlines()
    assert lines[0].split("|")[2:7] == [" Spatial ", "  Object ", "    Goal ", "    Long ", "     Avg "]
    assert "| ours" in lines[2] and "97.2" in lines[2] and "96.3" in lines[2]
    assert "Discrete Diffusion VLA (paper)" in lines[3]
    partial = format_paper_table({"libero_goal": 0.5, "libero_90": (3, 4)}, reference=False)
    assert partial.splitlines()[0].rstrip().endswith("90 |")
    cells = [c.strip() for c in partial.splitlines()[2].split("|")[2:-1]]
    assert cells == ["-", "-", "50.0", "-", "-", "75.0"]
    with pytest.raises(ValueError, match="fraction"):
        format_paper_table({"libero_goal": 97.4})
    with pytest.raises(ValueError, match="suite"):
        format_paper_table({"libero_100": 0.5})
