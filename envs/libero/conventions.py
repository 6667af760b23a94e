"""LIBERO conventions made explicit: image orientation, gripper sign, proprio, model-input crops.

Images
    robosuite 1.4 renders with the OpenGL convention (``macros.IMAGE_CONVENTION = "opengl"``):
    row 0 of the array is the BOTTOM of the picture, so a raw frame looks upside down. The
    official LIBERO HDF5 demos store frames exactly like that. Conventions, applied to the raw
    (OpenGL) frame:

    - ``"rot180"`` (default): ``img[::-1, ::-1]``, what OpenVLA / OpenVLA-OFT / openpi apply at
      evaluation and in their converted training sets (RLDS / LeRobot). Upright, mirrored.
    - ``"vflip"``: ``img[::-1]``, the geometrically correct upright view (openvla#295).
    - ``"hflip"``: ``img[:, ::-1]``, horizontal-only flip of the raw frame.
    - ``"none"``: the raw frame as robosuite returns it.

    A policy must be evaluated with the convention of its training data (lerobot#3830).

Gripper (last action dimension)
    - LIBERO env and the official LIBERO HDF5 ``actions``: ``-1`` = open, ``+1`` = close.
    - OpenVLA / openpi converted datasets (RLDS, LeRobot ``*_no_noops``): ``1`` = open,
      ``0`` = closed ("open01"). Convert with :func:`gripper_open01_to_env` (OpenVLA's
      ``normalize_gripper_action(binarize=True)`` followed by ``invert_gripper_action``).
    - ``obs/gripper_states`` / ``robot0_gripper_qpos``: the two finger joint positions
      (about ``+0.04, -0.04`` open, near ``0`` closed), not an action.

Proprio (OpenVLA-OFT / openpi)
    8-D float32: eef position (3), eef orientation as axis-angle (3, from robosuite's
    ``quat2axisangle`` of the xyzw quaternion), gripper finger qpos (2).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

IMAGE_CONVENTIONS: tuple[str, ...] = ("rot180", "vflip", "hflip", "none")
DEFAULT_IMAGE_CONVENTION = "rot180"
GRIPPER_CONVENTIONS: tuple[str, ...] = ("env", "open01")

CONVENTION_NOTES: dict[str, Any] = {
    "raw_image_convention": "robosuite opengl (row 0 = bottom of the picture)",
    "image_conventions": {
        "rot180": "img[::-1, ::-1] (OpenVLA / openpi)",
        "vflip": "img[::-1] (upright, not mirrored)",
        "hflip": "img[:, ::-1]",
        "none": "raw robosuite frame",
    },
    "gripper_env": "-1 open / +1 close (env actions and official LIBERO HDF5 actions)",
    "gripper_open01": "1 open / 0 closed (OpenVLA RLDS, LeRobot LIBERO datasets)",
    "proprio": "eef_pos(3) + axis_angle(3) + gripper_qpos(2), float32",
}


def check_image_convention(convention: str) -> str:
    if convention not in IMAGE_CONVENTIONS:
        raise ValueError(f"image_flip must be one of {IMAGE_CONVENTIONS}, got {convention!r}")
    return convention


def apply_image_convention(raw: np.ndarray, convention: str) -> np.ndarray:
    """Apply ``convention`` to a raw (OpenGL, robosuite) frame ``[..., H, W, C]``; contiguous copy."""
    check_image_convention(convention)
    img = np.asarray(raw)
    if img.ndim < 3:
        raise ValueError(f"image must be [..., H, W, C], got shape {img.shape}")
    if convention == "rot180":
        img = img[..., ::-1, ::-1, :]
    elif convention == "vflip":
        img = img[..., ::-1, :, :]
    elif convention == "hflip":
        img = img[..., :, ::-1, :]
    return np.ascontiguousarray(img)


def gripper_open01_to_env(g: np.ndarray | float, binarize: bool = True) -> np.ndarray:
    """1 open / 0 closed  ->  env -1 open / +1 close (binarized at 0.5 by default, as OpenVLA)."""
    g = np.asarray(g, dtype=np.float64)
    env = 1.0 - 2.0 * g
    if binarize:
        env = np.where(env > 0.0, 1.0, -1.0)
    return env


def gripper_env_to_open01(a: np.ndarray | float) -> np.ndarray:
    """env -1 open / +1 close  ->  1 open / 0 closed (clipped to [0, 1])."""
    a = np.asarray(a, dtype=np.float64)
    return np.clip((1.0 - a) / 2.0, 0.0, 1.0)


def detect_gripper_convention(gripper: np.ndarray) -> str:
    """Guess the convention of a gripper action column: ``"env"`` or ``"open01"``.

    Any negative value means ``env`` (-1 open). Values all in [0, 1] with a 0 or a fraction
    mean ``open01``. All exactly ``1`` is ambiguous (always-closed env, always-open open01)
    and raises: pass the convention explicitly.
    """
    g = np.asarray(gripper, dtype=np.float64).ravel()
    if g.size == 0:
        raise ValueError("gripper column is empty")
    if np.any(g < 0):
        return "env"
    if np.all(g <= 1.0) and np.any(g < 1.0):
        return "open01"
    raise ValueError("gripper convention is ambiguous (all values are 1); pass it explicitly ('env' or 'open01')")


def quat2axisangle(quat: np.ndarray) -> np.ndarray:
    """xyzw quaternion -> axis-angle (3,), exactly robosuite / OpenVLA-OFT's ``quat2axisangle``."""
    q = np.array(quat, dtype=np.float64)
    q[3] = min(1.0, max(-1.0, q[3]))
    den = math.sqrt(1.0 - q[3] * q[3])
    if math.isclose(den, 0.0):
        return np.zeros(3)
    return (q[:3] * 2.0 * math.acos(q[3])) / den


def proprio_from_obs(raw_obs: dict[str, np.ndarray]) -> np.ndarray:
    """8-D proprio (eef pos, axis-angle, gripper qpos) from a raw robosuite observation."""
    return np.concatenate(
        [raw_obs["robot0_eef_pos"], quat2axisangle(raw_obs["robot0_eef_quat"]), raw_obs["robot0_gripper_qpos"]]
    ).astype(np.float32)


def center_crop_resize(img: np.ndarray, size: int, crop_area: float = 1.0) -> np.ndarray:
    """Center-crop a square of ``crop_area`` of the image area, then resize to ``size`` x ``size``.

    ``crop_area=1.0`` is a plain resize (OpenVLA / openpi: 256 -> 224); OpenVLA-OFT evaluates
    with ``crop_area=0.9`` (center crop of 90 % of the area, side scale ``sqrt(0.9)``). Works on
    ``[H, W, C]`` uint8 frames; uses area interpolation when shrinking, linear when growing.
    """
    import cv2

    arr = np.asarray(img)
    if arr.ndim != 3:
        raise ValueError(f"img must be [H, W, C], got shape {arr.shape}")
    if not 0.0 < crop_area <= 1.0:
        raise ValueError(f"crop_area must be in (0, 1], got {crop_area}")
    if size <= 0:
        raise ValueError(f"size must be positive, got {size}")
    h, w = arr.shape[:2]
    scale = math.sqrt(crop_area)
    ch, cw = max(1, round(h * scale)), max(1, round(w * scale))
    top, left = (h - ch) // 2, (w - cw) // 2
    crop = arr[top : top + ch, left : left + cw]
    if crop.shape[:2] == (size, size):
        return np.ascontiguousarray(crop)
    interp = cv2.INTER_AREA if size < min(ch, cw) else cv2.INTER_LINEAR
    return cv2.resize(np.ascontiguousarray(crop), (size, size), interpolation=interp)
