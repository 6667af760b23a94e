"""Demonstration files in the robomimic / LIBERO HDF5 layout: writer and numpy reader.

Layout of one file (one task)::

    data                      attrs: env_args (JSON: env metadata), suite, task, total (steps),
                                     images_upright (True)
    data/demo_<i>             attrs: num_samples, instruction, task, seed
        actions               float32 [T, 7]   OSC_POSE delta + gripper (-1 open / +1 closed)
        obs/agentview_rgb     uint8   [T, H, W, 3]  upright (only the cameras recorded)
        obs/eye_in_hand_rgb   uint8   [T, H, W, 3]
        obs/ee_pos            float32 [T, 3]   end-effector position
        obs/ee_ori            float32 [T, 3]   end-effector axis-angle
        obs/gripper_states    float32 [T, 2]   gripper finger qpos
        obs/joint_states      float32 [T, 7]   arm joint positions
        obs/proprio           float32 [T, 8]   ee_pos ++ ee_ori ++ gripper_states
        obs/target_pos        float32 [T, 3]   (tabletop) world xyz of the instructed object
        obs/goal_pos          float32 [T, 3]   (tabletop) world xyz of its goal object (else = target)
        states                float64 [T, S]   flat MuJoCo state (time, qpos, qvel)
        rewards               float32 [T]      1 at the success step
        dones                 uint8   [T]      1 at the last step

Observation ``t`` is what the policy saw before taking ``actions[t]``. Images are stored
upright, so no ``problem_info`` attribute is written: readers (``vla.hdf5_demos``) take that
attribute as the mark of official LIBERO files, whose images are stored upside down.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import h5py
import numpy as np

OBS_KEYS = ("agentview_rgb", "eye_in_hand_rgb", "ee_pos", "ee_ori", "gripper_states", "joint_states", "proprio")
STEP_KEYS = ("actions", "states", "rewards", "dones")


def write_demo_file(path: str | Path, demos: list[dict[str, Any]], env_meta: dict[str, Any],
                    suite: str = "", task: str = "", compression: str | None = "lzf") -> None:
    """Write ``demos`` (dicts with ``STEP_KEYS``, ``obs`` dict, ``instruction``, ``seed``) to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        data = f.create_group("data")
        total = 0
        for i, demo in enumerate(demos):
            g = data.create_group(f"demo_{i}")
            n = len(demo["actions"])
            g.create_dataset("actions", data=np.asarray(demo["actions"], np.float32))
            g.create_dataset("states", data=np.asarray(demo["states"], np.float64))
            g.create_dataset("rewards", data=np.asarray(demo["rewards"], np.float32))
            g.create_dataset("dones", data=np.asarray(demo["dones"], np.uint8))
            obs = g.create_group("obs")
            for key, value in demo["obs"].items():
                arr = np.asarray(value)
                if arr.shape[0] != n:
                    raise ValueError(f"obs/{key}: expected {n} steps, got {arr.shape[0]}")
                if arr.dtype == np.uint8 and arr.ndim == 4:
                    obs.create_dataset(key, data=arr, compression=compression, chunks=(1, *arr.shape[1:]))
                else:
                    obs.create_dataset(key, data=arr.astype(np.float32))
            g.attrs["num_samples"] = n
            g.attrs["instruction"] = str(demo["instruction"])
            g.attrs["task"] = str(demo.get("task", task))
            g.attrs["seed"] = int(demo.get("seed", -1))
            if "success" in demo:
                g.attrs["success"] = bool(demo["success"])
            total += n
        data.attrs["total"] = total
        data.attrs["suite"] = suite
        data.attrs["task"] = task
        data.attrs["env_args"] = json.dumps(env_meta)
        data.attrs["images_upright"] = True


def _files(path: str | Path) -> list[Path]:
    path = Path(path)
    if path.is_dir():
        files = sorted(path.glob("*.hdf5"))
        if not files:
            raise FileNotFoundError(f"path: no *.hdf5 files in directory {path}")
        return files
    if not path.exists():
        raise FileNotFoundError(f"path: {path} does not exist")
    return [path]


def iter_demos(path: str | Path, keys: tuple[str, ...] | None = None) -> Iterator[dict[str, Any]]:
    """Yield demos one at a time (see ``read_demos``); ``keys`` limits which arrays are loaded."""
    for file in _files(path):
        with h5py.File(file, "r") as f:
            if "data" not in f:
                raise ValueError(f"{file}: expected a 'data' group (robomimic layout)")
            data = f["data"]
            env_args = json.loads(data.attrs.get("env_args", "{}"))
            names = sorted(data.keys(), key=lambda k: int(k.split("_")[-1]))
            for name in names:
                g = data[name]
                demo: dict[str, Any] = {
                    "instruction": str(g.attrs.get("instruction", "")),
                    "task": str(g.attrs.get("task", data.attrs.get("task", ""))),
                    "seed": int(g.attrs.get("seed", -1)),
                    "file": str(file),
                    "demo": name,
                    "env_args": env_args,
                }
                for k in STEP_KEYS:
                    if k in g and (keys is None or k in keys):
                        demo[k] = g[k][()]
                for k in g.get("obs", {}):
                    if keys is None or k in keys:
                        demo[k] = g["obs"][k][()]
                yield demo


def read_demos(path: str | Path, keys: tuple[str, ...] | None = None) -> list[dict[str, Any]]:
    """Load every demo of an HDF5 file (or of every ``*.hdf5`` in a directory) as numpy.

    Each dict has ``actions`` [T, 7] float32, ``states``, ``rewards``, ``dones``, the ``obs/*``
    arrays at top level (``agentview_rgb``, ``eye_in_hand_rgb`` uint8 [T, H, W, 3],
    ``ee_pos``, ``ee_ori``, ``gripper_states``, ``joint_states``, ``proprio`` [T, 8]) and the
    metadata ``instruction``, ``task``, ``seed``, ``file``, ``demo``, ``env_args`` (dict).
    ``keys`` (array names) loads only those arrays, e.g. ``("actions", "proprio")``.
    """
    return list(iter_demos(path, keys))
