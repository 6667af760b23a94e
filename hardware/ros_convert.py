"""Conversions between ROS messages and numpy, shared by ROS 1 and ROS 2 (same field names).

* ``sensor_msgs/Image`` (rgb8, bgr8, rgba8, bgra8, mono8; row padding via ``step``) -> RGB uint8
  ``[H, W, 3]``; ``sensor_msgs/CompressedImage`` (PNG built in; JPEG via OpenCV or Pillow when
  installed) -> the same;
* ``geometry_msgs/PoseStamped`` -> position (3) + axis-angle (3);
* ``sensor_msgs/JointState`` -> positions ordered by configured joint names;
* policy action -> ``TwistStamped`` + gripper ``Float64`` or ``JointTrajectory`` fields.

The stamp type differs between ROS 1 and ROS 2, so stamping is left to the transport.
Runs under the robot's Python (3.8+): numpy and zlib only.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from typing import Any

import numpy as np

_CHANNELS = {"rgb8": 3, "bgr8": 3, "rgba8": 4, "bgra8": 4, "mono8": 1, "8uc1": 1, "8uc3": 3, "8uc4": 4}


def _as_bytes(data: Any) -> bytes:
    if isinstance(data, (bytes, bytearray)):
        return bytes(data)
    try:
        return memoryview(data).tobytes()  # array.array in ROS 2
    except TypeError:
        return bytes(bytearray(data))  # list of ints


def image_to_array(msg: Any) -> np.ndarray:
    """``sensor_msgs/Image`` -> RGB uint8 ``[H, W, 3]``."""
    enc = str(msg.encoding).lower()
    if enc not in _CHANNELS:
        raise ValueError(f"Image.encoding {msg.encoding!r} not supported; expected one of {sorted(_CHANNELS)}")
    ch, h, w = _CHANNELS[enc], int(msg.height), int(msg.width)
    step = int(msg.step) or w * ch
    buf = np.frombuffer(_as_bytes(msg.data), dtype=np.uint8)
    if step < w * ch or buf.size < step * h:
        raise ValueError(f"Image data of {buf.size} bytes too short for {h}x{w}x{ch} with step {step}")
    img = buf[: step * h].reshape(h, step)[:, : w * ch].reshape(h, w, ch)
    if enc in ("bgr8", "bgra8"):
        img = img[:, :, 2::-1]
    elif ch == 1:
        img = np.repeat(img, 3, axis=2)
    else:
        img = img[:, :, :3]
    return np.ascontiguousarray(img)


def fill_image(msg: Any, rgb: np.ndarray) -> Any:
    """Fill a ``sensor_msgs/Image`` with an RGB uint8 ``[H, W, 3]`` array (rgb8)."""
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"image must be [H, W, 3] uint8, got {rgb.shape}")
    msg.height, msg.width = int(rgb.shape[0]), int(rgb.shape[1])
    msg.encoding, msg.is_bigendian, msg.step = "rgb8", 0, int(rgb.shape[1] * 3)
    msg.data = rgb.tobytes()
    return msg


# -- PNG (stdlib only) ---------------------------------------------------------------------
def encode_png(rgb: np.ndarray) -> bytes:
    """Minimal PNG encoder for RGB uint8 ``[H, W, 3]`` (filter 0)."""
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    h, w = rgb.shape[:2]
    raw = np.concatenate([np.zeros((h, 1), np.uint8), rgb.reshape(h, w * 3)], axis=1).tobytes()

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw, 1)) + chunk(b"IEND", b"")


def _unfilter(rows: np.ndarray, bpp: int) -> np.ndarray:
    h, stride = rows.shape[0], rows.shape[1] - 1
    out = np.zeros((h, stride), np.uint8)
    prev = np.zeros(stride, np.int32)
    for y in range(h):
        f, line = int(rows[y, 0]), rows[y, 1:].astype(np.int32)
        if f == 0:
            cur = line
        elif f == 2:
            cur = (line + prev) & 0xFF
        else:
            cur = line.copy()
            for x in range(stride):
                a = int(cur[x - bpp]) if x >= bpp else 0
                b = int(prev[x])
                c = int(prev[x - bpp]) if x >= bpp else 0
                if f == 1:
                    pred = a
                elif f == 3:
                    pred = (a + b) >> 1
                elif f == 4:
                    p = a + b - c
                    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                    pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                else:
                    raise ValueError(f"PNG filter type {f} is invalid")
                cur[x] = (int(cur[x]) + pred) & 0xFF
        out[y] = cur
        prev = cur
    return out


def decode_png(data: bytes) -> np.ndarray:
    """Minimal PNG decoder: 8-bit gray / RGB / RGBA, not interlaced -> RGB uint8."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG image")
    pos, idat, ihdr = 8, [], None
    while pos + 8 <= len(data):
        (n,) = struct.unpack(">I", data[pos : pos + 4])
        tag, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + n]
        if tag == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif tag == b"IDAT":
            idat.append(body)
        elif tag == b"IEND":
            break
        pos += 12 + n
    if ihdr is None:
        raise ValueError("PNG without IHDR")
    w, h, depth, ctype, _, _, interlace = ihdr
    ch = {0: 1, 2: 3, 6: 4}.get(ctype)
    if depth != 8 or ch is None or interlace:
        raise ValueError(f"PNG with depth {depth}, color type {ctype}, interlace {interlace} not supported")
    rows = np.frombuffer(zlib.decompress(b"".join(idat)), np.uint8).reshape(h, 1 + w * ch)
    img = _unfilter(rows, ch).reshape(h, w, ch)
    return np.ascontiguousarray(np.repeat(img, 3, axis=2) if ch == 1 else img[:, :, :3])


def compressed_to_array(msg: Any) -> np.ndarray:
    """``sensor_msgs/CompressedImage`` (png / jpeg) -> RGB uint8 ``[H, W, 3]``."""
    data = _as_bytes(msg.data)
    try:
        import cv2  # the robot computer usually has OpenCV

        img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        if img is None:
            raise ValueError(f"CompressedImage (format {msg.format!r}) could not be decoded")
        return np.ascontiguousarray(img[:, :, ::-1])
    except ImportError:
        pass
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return decode_png(data)
    try:
        import io

        from PIL import Image as PILImage

        return np.asarray(PILImage.open(io.BytesIO(data)).convert("RGB"))
    except ImportError as e:
        raise ValueError(f"CompressedImage format {msg.format!r} needs OpenCV or Pillow (PNG works without)") from e


def fill_compressed(msg: Any, rgb: np.ndarray) -> Any:
    """Fill a ``sensor_msgs/CompressedImage`` with a PNG of ``rgb``."""
    msg.format = "rgb8; png compressed"
    msg.data = encode_png(rgb)
    return msg


# -- state ---------------------------------------------------------------------------------
def quat_to_axis_angle(x: float, y: float, z: float, w: float) -> np.ndarray:
    """Unit quaternion (x, y, z, w) -> axis-angle 3-vector (angle in [0, pi])."""
    q = np.array([x, y, z, w], dtype=np.float64)
    norm = np.linalg.norm(q)
    if not norm > 0:
        raise ValueError("orientation quaternion has zero norm")
    q /= norm
    if q[3] < 0:
        q = -q
    s = np.linalg.norm(q[:3])
    if s < 1e-12:
        return np.zeros(3)
    angle = 2.0 * np.arctan2(s, q[3])
    return q[:3] / s * angle


def axis_angle_to_quat(v: Sequence[float]) -> np.ndarray:
    """Axis-angle 3-vector -> unit quaternion (x, y, z, w)."""
    v = np.asarray(v, dtype=np.float64)
    angle = float(np.linalg.norm(v))
    if angle < 1e-12:
        return np.array([0.0, 0.0, 0.0, 1.0])
    axis = v / angle
    return np.concatenate([axis * np.sin(angle / 2), [np.cos(angle / 2)]])


def pose_to_vector(pose: Any) -> np.ndarray:
    """``geometry_msgs/Pose`` (or PoseStamped) -> position (3) + axis-angle (3), float32."""
    pose = getattr(pose, "pose", pose)
    p, o = pose.position, pose.orientation
    return np.concatenate([[p.x, p.y, p.z], quat_to_axis_angle(o.x, o.y, o.z, o.w)]).astype(np.float32)


def joint_positions(msg: Any, names: Sequence[str]) -> np.ndarray:
    """``sensor_msgs/JointState`` -> positions in the order of ``names`` (all, if empty)."""
    pos = list(msg.position)
    if not names:
        return np.asarray(pos, dtype=np.float32)
    index = {n: i for i, n in enumerate(msg.name)}
    missing = [n for n in names if n not in index]
    if missing:
        raise ValueError(f"JointState lacks joints {missing} (has {list(msg.name)})")
    return np.asarray([pos[index[n]] for n in names], dtype=np.float32)


# -- actions -------------------------------------------------------------------------------
def fill_twist(msg: Any, action: np.ndarray, linear_scale: float, angular_scale: float) -> Any:
    """Fill ``TwistStamped.twist`` from action[0:3] (linear) and action[3:6] (angular)."""
    t = msg.twist
    t.linear.x, t.linear.y, t.linear.z = (float(v) * linear_scale for v in action[0:3])
    t.angular.x, t.angular.y, t.angular.z = (float(v) * angular_scale for v in action[3:6])
    return msg


def twist_to_list(msg: Any) -> list[float]:
    t = msg.twist
    return [t.linear.x, t.linear.y, t.linear.z, t.angular.x, t.angular.y, t.angular.z]
