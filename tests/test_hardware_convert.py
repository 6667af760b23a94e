"""ROS message <-> numpy conversions (no ROS needed: plain objects with the same fields)."""

from __future__ import annotations

from types import SimpleNamespace as NS

import cv2
import numpy as np
import pytest

from hardware import ros_convert


def _img(h: int = 5, w: int = 4, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_image_encodings_and_row_padding() -> None:
    rgb = _img()
    msg = ros_convert.fill_image(NS(), rgb)
    np.testing.assert_array_equal(ros_convert.image_to_array(msg), rgb)
    bgr = NS(encoding="bgr8", height=5, width=4, step=4 * 3 + 4, data=b"".join(r[:, ::-1].tobytes() + b"\0" * 4 for r in rgb))
    np.testing.assert_array_equal(ros_convert.image_to_array(bgr), rgb)
    rgba = np.concatenate([rgb, np.full((5, 4, 1), 9, np.uint8)], axis=2)
    np.testing.assert_array_equal(ros_convert.image_to_array(NS(encoding="rgba8", height=5, width=4, step=16, data=rgba.tobytes())), rgb)
    mono = rgb[:, :, 0].copy()
    out = ros_convert.image_to_array(NS(encoding="mono8", height=5, width=4, step=4, data=list(mono.tobytes())))
    assert out.shape == (5, 4, 3) and np.all(out[:, :, 2] == mono)
    with pytest.raises(ValueError, match="encoding '32FC1' not supported"):
        ros_convert.image_to_array(NS(encoding="32FC1", height=1, width=1, step=4, data=b"\0" * 4))
    with pytest.raises(ValueError, match="too short"):
        ros_convert.image_to_array(NS(encoding="rgb8", height=5, width=4, step=12, data=b"\0" * 10))


def test_png_codec_and_compressed_images() -> None:
    rgb = _img(17, 9, seed=1)
    png = ros_convert.encode_png(rgb)
    np.testing.assert_array_equal(ros_convert.decode_png(png), rgb)
    np.testing.assert_array_equal(cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)[:, :, ::-1], rgb)
    # PNGs from another encoder use all filter types: the built-in decoder handles them
    ok, other = cv2.imencode(".png", rgb[:, :, ::-1], [cv2.IMWRITE_PNG_COMPRESSION, 9])
    assert ok
    np.testing.assert_array_equal(ros_convert.decode_png(other.tobytes()), rgb)
    msg = ros_convert.fill_compressed(NS(), rgb)
    np.testing.assert_array_equal(ros_convert.compressed_to_array(msg), rgb)
    ok, jpg = cv2.imencode(".jpg", np.full((8, 8, 3), 128, np.uint8))
    out = ros_convert.compressed_to_array(NS(format="jpeg", data=jpg.tobytes()))
    assert out.shape == (8, 8, 3) and abs(int(out.mean()) - 128) <= 2
    with pytest.raises(ValueError, match="could not be decoded"):
        ros_convert.compressed_to_array(NS(format="jpeg", data=b"junk"))


def test_pose_and_joint_state() -> None:
    s = np.sin(np.pi / 4)
    pose = NS(pose=NS(position=NS(x=1.0, y=2.0, z=3.0), orientation=NS(x=0.0, y=0.0, z=s, w=np.cos(np.pi / 4))))
    np.testing.assert_allclose(ros_convert.pose_to_vector(pose), [1, 2, 3, 0, 0, np.pi / 2], atol=1e-6)
    np.testing.assert_allclose(ros_convert.quat_to_axis_angle(0, 0, 0, 1), [0, 0, 0])
    np.testing.assert_allclose(ros_convert.quat_to_axis_angle(0, 0, -s, -np.cos(np.pi / 4)), [0, 0, np.pi / 2], atol=1e-6)
    with pytest.raises(ValueError, match="zero norm"):
        ros_convert.quat_to_axis_angle(0, 0, 0, 0)
    js = NS(name=["a", "b", "c"], position=[0.1, 0.2, 0.3])
    np.testing.assert_allclose(ros_convert.joint_positions(js, ["c", "a"]), [0.3, 0.1])
    np.testing.assert_allclose(ros_convert.joint_positions(js, []), [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match=r"lacks joints \['d'\]"):
        ros_convert.joint_positions(js, ["d"])


def test_twist_fill() -> None:
    msg = NS(twist=NS(linear=NS(), angular=NS()))
    ros_convert.fill_twist(msg, np.array([1, 2, 3, 4, 5, 6, 7.0]), 0.5, 2.0)
    assert ros_convert.twist_to_list(msg) == [0.5, 1.0, 1.5, 8.0, 10.0, 12.0]


def test_axis_angle_quaternion_round_trip() -> None:
    for v in ([0.3, -0.2, 1.1], [0.0, 0.0, 0.0], [np.pi - 1e-3, 0, 0]):
        q = ros_convert.axis_angle_to_quat(v)
        assert abs(np.linalg.norm(q) - 1) < 1e-9
        np.testing.assert_allclose(ros_convert.quat_to_axis_angle(*q), v, atol=1e-6)
