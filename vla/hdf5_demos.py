"""Read demonstrations in the robomimic / LIBERO HDF5 layout (h5py only, no simulator).

``data/demo_i/actions [T, 7]``, ``data/demo_i/obs/{agentview_rgb, eye_in_hand_rgb} [T, H, W, 3]``
uint8, and ``obs/proprio [T, 8]`` or ``obs/ee_pos [3] + obs/ee_ori [3] + obs/gripper_states [2]``.
The instruction comes from the demo's attrs, the file's or ``data``'s attrs ``instruction``, or
``data.attrs["problem_info"]`` JSON ``language_instruction`` (official LIBERO). Official LIBERO
images are stored upside down: ``flip`` rotates them 180 degrees (default: only for files
carrying ``problem_info``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

#: privileged point labels, in this order (the grounding head's K points)
POINT_KEYS = ("target_pos", "goal_pos")


@dataclass
class Demo:
    """One demonstration."""

    actions: np.ndarray  # [T, D] float32
    images: dict[str, np.ndarray]  # camera -> [T, H, W, 3] uint8
    proprio: np.ndarray  # [T, P] float32
    instruction: str
    source: str = ""
    #: privileged 3-D points per step ``[T, K, 3]`` (``obs/target_pos``, ``obs/goal_pos``) when
    #: recorded: training labels of the grounding head, never a policy input
    points: np.ndarray | None = None


def expand_paths(data: str | Path | list[str | Path]) -> list[Path]:
    """Files from a directory (``*.hdf5`` / ``*.h5``, sorted), a file, or a list of either."""
    items = data if isinstance(data, list | tuple) else [data]
    out: list[Path] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            found = sorted([*p.rglob("*.hdf5"), *p.rglob("*.h5")])
            if not found:
                raise FileNotFoundError(f"data: no *.hdf5 / *.h5 files under {p}")
            out += found
        elif p.is_file():
            out.append(p)
        else:
            raise FileNotFoundError(f"data: {p} is neither a file nor a directory")
    return out


def _attr_str(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _instruction(f: h5py.File, demo: h5py.Group) -> str:
    for attrs in (demo.attrs, f["data"].attrs, f.attrs):
        if "instruction" in attrs:
            return _attr_str(attrs["instruction"])
    for attrs in (f["data"].attrs, f.attrs):
        if "problem_info" in attrs:
            return str(json.loads(_attr_str(attrs["problem_info"]))["language_instruction"])
    raise ValueError(f"{f.filename}: no instruction (attrs 'instruction' or data.attrs['problem_info'])")


def _proprio(obs: h5py.Group, name: str) -> np.ndarray:
    if "proprio" in obs:
        return np.asarray(obs["proprio"], dtype=np.float32)
    keys = ("ee_pos", "ee_ori", "gripper_states")
    if all(k in obs for k in keys):
        return np.concatenate([np.asarray(obs[k], dtype=np.float32) for k in keys], axis=1)
    raise ValueError(f"{name}: obs has neither 'proprio' nor {list(keys)}")


def _demo_key(k: str) -> tuple[int, str]:
    tail = k.rsplit("_", 1)[-1]
    return (int(tail), k) if tail.isdigit() else (1 << 30, k)


def load_demos(data: str | Path | list[str | Path], cameras: tuple[str, ...] = ("agentview_rgb", "eye_in_hand_rgb"),
               flip: bool | None = None, last_per_file: int = 0, image_size: int | None = None) -> list[Demo]:
    """Every demonstration of the given files / directories (``last_per_file``: only each file's last N).

    ``image_size``: resize each demo's images to that square size as it is read (what the training
    dataset would do later, bit for bit), so memory holds the small images only.
    """
    if image_size:
        from .observation import resize_uint8
    demos: list[Demo] = []
    for path in expand_paths(data):
        with h5py.File(path, "r") as f:
            if "data" not in f:
                raise ValueError(f"{path}: expected a 'data' group (robomimic / LIBERO layout)")
            # official LIBERO files are stored upside down; our writers mark upright images
            official = "problem_info" in f["data"].attrs and not bool(f["data"].attrs.get("images_upright", False))
            do_flip = official if flip is None else flip
            keys = sorted(f["data"].keys(), key=_demo_key)
            for key in keys[-last_per_file:] if last_per_file > 0 else keys:
                g = f["data"][key]
                name = f"{path}:{key}"
                if "actions" not in g or "obs" not in g:
                    raise ValueError(f"{name}: expected 'actions' and 'obs'")
                actions = np.asarray(g["actions"], dtype=np.float32)
                images = {}
                for cam in cameras:
                    if cam not in g["obs"]:
                        raise ValueError(f"{name}: obs/{cam} missing (expected uint8 [T, H, W, 3])")
                    img = np.asarray(g["obs"][cam])
                    if img.dtype != np.uint8 or img.ndim != 4 or img.shape[-1] != 3:
                        raise ValueError(f"{name}: obs/{cam} expected uint8 [T, H, W, 3], got {img.dtype} {img.shape}")
                    img = img[:, ::-1, ::-1].copy() if do_flip else img
                    if image_size:
                        img = resize_uint8(img, int(image_size)).permute(0, 2, 3, 1).contiguous().numpy()
                    images[cam] = img
                proprio = _proprio(g["obs"], name)
                t = len(actions)
                if any(len(v) != t for v in images.values()) or len(proprio) != t:
                    raise ValueError(f"{name}: actions, images and proprio differ in length")
                points = None
                if all(k in g["obs"] for k in POINT_KEYS):
                    points = np.stack([np.asarray(g["obs"][k], dtype=np.float32) for k in POINT_KEYS], axis=1)
                demos.append(Demo(actions, images, proprio, _instruction(f, g), name, points))
    if not demos:
        raise ValueError(f"data: no demonstrations found in {data}")
    return demos
