"""Official LIBERO HDF5 demonstrations: reader (with explicit conventions) and writer.

Layout (LIBERO ``scripts/create_dataset.py``, robomimic style)::

    data.attrs: problem_info (JSON with language_instruction), env_args (JSON),
                bddl_file_name, num_demos, total
    data/demo_<i>/actions            float [T, 7]   env convention: gripper -1 open / +1 close
    data/demo_<i>/states             float [T, S]   flattened MuJoCo states (optional)
    data/demo_<i>/obs/agentview_rgb  uint8 [T, H, W, 3]  raw robosuite frames (OpenGL, upside down)
    data/demo_<i>/obs/eye_in_hand_rgb
    data/demo_<i>/obs/ee_pos [T, 3], ee_ori [T, 3] (axis-angle), gripper_states [T, 2],
                  joint_states [T, 7]
    data/demo_<i>/obs/target_pos [T, 3], goal_pos [T, 3]   (ours, optional) world xyz of the
                  instructed object and its container: training-only labels for a grounding head

:class:`LiberoDemoFile` returns :class:`LiberoDemo` records in OUR conventions: images with
the chosen image convention applied (``"rot180"`` by default, as the env), actions in the env
gripper convention (files in the 1-open / 0-closed convention of converted datasets are
detected or declared and converted), ``proprio`` = ee_pos + ee_ori + gripper_states (8-D,
as the env's ``proprio``). :func:`write_libero_demos` writes the official layout (raw
frames), e.g. for demos recorded in simulation here.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from envs.libero.conventions import (
    DEFAULT_IMAGE_CONVENTION,
    GRIPPER_CONVENTIONS,
    apply_image_convention,
    check_image_convention,
    detect_gripper_convention,
    gripper_open01_to_env,
)

IMAGE_KEYS = ("agentview_rgb", "eye_in_hand_rgb")
LOW_DIM_KEYS = ("ee_pos", "ee_ori", "gripper_states", "joint_states")
#: privileged positions recorded beside the official keys (``vla`` reads them as grounding labels)
POINT_KEYS = ("target_pos", "goal_pos")


@dataclass
class LiberoDemo:
    """One demonstration in our conventions (images converted, env gripper sign)."""

    key: str
    instruction: str
    #: float64 [T, 7] as stored (exact replay), gripper -1 open / +1 close
    actions: np.ndarray
    #: float32 [T, 8]: ee_pos, ee_ori (axis-angle), gripper_states
    proprio: np.ndarray
    #: uint8 [T, H, W, 3] with ``image_flip`` applied; None if absent from the file
    agentview_rgb: np.ndarray | None
    eye_in_hand_rgb: np.ndarray | None
    joint_states: np.ndarray | None
    #: flattened MuJoCo states [T, S] (None if the file has none)
    states: np.ndarray | None
    image_flip: str
    #: gripper convention found in the file ("env" or "open01")
    file_gripper_convention: str

    def __len__(self) -> int:
        return int(self.actions.shape[0])

    def training_arrays(self) -> dict[str, Any]:
        """The demo as the training data layout: observation keys of the env plus ``actions``."""
        out: dict[str, Any] = {"actions": self.actions.astype(np.float32), "proprio": self.proprio, "instruction": self.instruction}
        for key in IMAGE_KEYS:
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out


def _demo_sort_key(name: str) -> tuple[int, str]:
    suffix = name.rsplit("_", 1)[-1]
    return (int(suffix), name) if suffix.isdigit() else (1 << 62, name)


class LiberoDemoFile:
    """Read an official LIBERO demo file. ``with LiberoDemoFile(path) as f: demo = f[0]``."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        image_flip: str = DEFAULT_IMAGE_CONVENTION,
        gripper: str = "auto",
        cameras: Sequence[str] = IMAGE_KEYS,
    ) -> None:
        import h5py

        self.path = str(path)
        self.image_flip = check_image_convention(image_flip)
        if gripper not in ("auto", *GRIPPER_CONVENTIONS):
            raise ValueError(f"gripper must be 'auto', 'env' or 'open01', got {gripper!r}")
        self.gripper = gripper
        for cam in cameras:
            if cam not in IMAGE_KEYS:
                raise ValueError(f"cameras entries must be in {IMAGE_KEYS}, got {cam!r}")
        self.cameras = tuple(cameras)
        if not os.path.isfile(self.path):
            raise FileNotFoundError(f"LIBERO demo file not found: {self.path}")
        self._f = h5py.File(self.path, "r")
        if "data" not in self._f:
            self._f.close()
            raise ValueError(f"{self.path}: missing group 'data' (not a LIBERO / robomimic demo file)")
        self._data = self._f["data"]
        self.demo_keys: list[str] = sorted((k for k in self._data if k.startswith("demo")), key=_demo_sort_key)
        self.problem_info: dict[str, Any] = self._json_attr("problem_info")
        self.env_args: dict[str, Any] = self._json_attr("env_args")
        self.bddl_file_name: str = _as_str(self._data.attrs.get("bddl_file_name", ""))
        instruction = self.problem_info.get("language_instruction")
        if not isinstance(instruction, str):
            raise ValueError(f"{self.path}: data.attrs['problem_info'] has no string 'language_instruction'")
        self.instruction = instruction.strip()

    def _json_attr(self, name: str) -> dict[str, Any]:
        raw = self._data.attrs.get(name)
        if raw is None:
            return {}
        try:
            value = json.loads(_as_str(raw))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{self.path}: data.attrs[{name!r}] is not valid JSON: {exc}") from exc
        if not isinstance(value, dict):
            raise ValueError(f"{self.path}: data.attrs[{name!r}] must be a JSON object")
        return value

    def __len__(self) -> int:
        return len(self.demo_keys)

    def __iter__(self) -> Iterator[LiberoDemo]:
        for key in self.demo_keys:
            yield self.read(key)

    def __getitem__(self, index: int | str) -> LiberoDemo:
        return self.read(index)

    def read(self, index: int | str) -> LiberoDemo:
        """Read ``demo_<index>`` (int) or the named demo group (str)."""
        key = f"demo_{index}" if isinstance(index, (int, np.integer)) else str(index)
        if key not in self._data:
            raise KeyError(f"{self.path}: no demo {key!r}; has {self.demo_keys[:5]}{'...' if len(self) > 5 else ''}")
        g = self._data[key]
        where = f"{self.path}:data/{key}"
        if "actions" not in g:
            raise ValueError(f"{where}: missing dataset 'actions'")
        actions = np.asarray(g["actions"], dtype=np.float64)
        if actions.ndim != 2 or actions.shape[1] != 7:
            raise ValueError(f"{where}/actions: expected shape [T, 7], got {actions.shape}")
        conv = detect_gripper_convention(actions[:, -1]) if self.gripper == "auto" else self.gripper
        if conv == "open01":
            actions = actions.copy()
            actions[:, -1] = gripper_open01_to_env(actions[:, -1])
        if "obs" not in g:
            raise ValueError(f"{where}: missing group 'obs'")
        obs = g["obs"]
        t = actions.shape[0]
        low: dict[str, np.ndarray | None] = {}
        for name, width in (("ee_pos", 3), ("ee_ori", 3), ("gripper_states", 2), ("joint_states", 7)):
            if name not in obs:
                if name == "joint_states":
                    low[name] = None
                    continue
                raise ValueError(f"{where}/obs: missing dataset {name!r} (needed for proprio)")
            arr = np.asarray(obs[name], dtype=np.float32)
            if arr.shape != (t, width):
                raise ValueError(f"{where}/obs/{name}: expected shape [{t}, {width}], got {arr.shape}")
            low[name] = arr
        proprio = np.concatenate([low["ee_pos"], low["ee_ori"], low["gripper_states"]], axis=1)  # type: ignore[list-item]
        images: dict[str, np.ndarray | None] = {}
        for cam in IMAGE_KEYS:
            if cam not in self.cameras or cam not in obs:
                images[cam] = None
                continue
            raw = np.asarray(obs[cam])
            if raw.dtype != np.uint8 or raw.ndim != 4 or raw.shape[0] != t or raw.shape[-1] != 3:
                raise ValueError(f"{where}/obs/{cam}: expected uint8 [{t}, H, W, 3], got {raw.dtype} {raw.shape}")
            images[cam] = apply_image_convention(raw, self.image_flip)
        states = np.asarray(g["states"], dtype=np.float64) if "states" in g else None
        return LiberoDemo(
            key=key,
            instruction=self.instruction,
            actions=actions,
            proprio=proprio.astype(np.float32),
            agentview_rgb=images["agentview_rgb"],
            eye_in_hand_rgb=images["eye_in_hand_rgb"],
            joint_states=low["joint_states"],
            states=states,
            image_flip=self.image_flip,
            file_gripper_convention=conv,
        )

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> LiberoDemoFile:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _as_str(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def write_libero_demos(
    path: str | os.PathLike[str],
    demos: Sequence[dict[str, np.ndarray]],
    *,
    language_instruction: str,
    problem_name: str = "libero_tabletop_manipulation",
    bddl_file_name: str = "",
    env_args: dict[str, Any] | None = None,
) -> str:
    """Write demos in the official LIBERO layout (raw frames, env gripper convention).

    Each demo dict holds ``actions`` [T, 7] and ``ee_pos``, ``ee_ori``, ``gripper_states``,
    optionally ``joint_states``, ``states``, ``agentview_rgb``, ``eye_in_hand_rgb`` (raw
    robosuite frames, uint8 [T, H, W, 3]) and ``target_pos`` / ``goal_pos`` (world xyz [T, 3],
    both or neither). Written atomically (temp file, then rename).
    """
    import h5py

    if not demos:
        raise ValueError("demos is empty")
    path = str(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp"
    total = 0
    with h5py.File(tmp, "w") as f:
        data = f.create_group("data")
        for i, demo in enumerate(demos):
            if "actions" not in demo:
                raise ValueError(f"demos[{i}]: missing 'actions'")
            actions = np.asarray(demo["actions"], dtype=np.float64)
            if actions.ndim != 2 or actions.shape[1] != 7:
                raise ValueError(f"demos[{i}]['actions']: expected shape [T, 7], got {actions.shape}")
            g = data.create_group(f"demo_{i}")
            g.create_dataset("actions", data=actions)
            t = actions.shape[0]
            g.attrs["num_samples"] = t
            total += t
            g.create_dataset("rewards", data=np.zeros(t, dtype=np.uint8))
            dones = np.zeros(t, dtype=np.uint8)
            dones[-1] = 1
            g.create_dataset("dones", data=dones)
            if "states" in demo:
                g.create_dataset("states", data=np.asarray(demo["states"], dtype=np.float64))
            obs = g.create_group("obs")
            for key in ("ee_pos", "ee_ori", "gripper_states"):
                if key not in demo:
                    raise ValueError(f"demos[{i}]: missing {key!r}")
            if sum(k in demo for k in POINT_KEYS) == 1:
                raise ValueError(f"demos[{i}]: expected both or neither of {POINT_KEYS}")
            for key in POINT_KEYS:
                if key in demo and np.asarray(demo[key]).shape != (t, 3):
                    raise ValueError(f"demos[{i}][{key!r}]: expected shape [{t}, 3], got {np.asarray(demo[key]).shape}")
            for key in (*LOW_DIM_KEYS, *IMAGE_KEYS, *POINT_KEYS):
                if key in demo:
                    arr = np.asarray(demo[key])
                    if arr.shape[0] != t:
                        raise ValueError(f"demos[{i}][{key!r}]: {arr.shape[0]} rows, expected {t}")
                    if key in IMAGE_KEYS:
                        obs.create_dataset(key, data=arr.astype(np.uint8), compression="gzip", compression_opts=4)
                    elif key in POINT_KEYS:
                        obs.create_dataset(key, data=arr.astype(np.float32))
                    else:
                        obs.create_dataset(key, data=arr.astype(np.float64))
            if "ee_pos" in demo and "ee_ori" in demo:
                obs.create_dataset("ee_states", data=np.concatenate([demo["ee_pos"], demo["ee_ori"]], axis=1))
        data.attrs["problem_info"] = json.dumps(
            {"problem_name": problem_name, "domain_name": "robosuite", "language_instruction": language_instruction}
        )
        data.attrs["env_args"] = json.dumps(env_args or {})
        data.attrs["bddl_file_name"] = bddl_file_name
        data.attrs["num_demos"] = len(demos)
        data.attrs["total"] = total
    os.replace(tmp, path)
    return path


def record_step(env: Any, buffer: dict[str, list[np.ndarray]], points: tuple[str, str] | None = None) -> None:
    """Append the env's current raw observation and state to ``buffer`` (official layout keys).

    ``env`` is a :class:`~envs.libero.env.LiberoEnv`; call before each action, as LIBERO's
    dataset script pairs obs_t with action_t. ``points``: (object, goal) names whose world
    positions are appended as ``target_pos`` / ``goal_pos`` (privileged grounding labels).
    """
    from envs.libero.conventions import quat2axisangle

    raw = env.raw_obs
    for cam, key in (("agentview", "agentview_rgb"), ("eye_in_hand", "eye_in_hand_rgb")):
        if cam in env.cameras:
            buffer.setdefault(key, []).append(env.raw_image(cam))
    buffer.setdefault("ee_pos", []).append(np.asarray(raw["robot0_eef_pos"], dtype=np.float64))
    buffer.setdefault("ee_ori", []).append(quat2axisangle(raw["robot0_eef_quat"]))
    buffer.setdefault("gripper_states", []).append(np.asarray(raw["robot0_gripper_qpos"], dtype=np.float64))
    buffer.setdefault("joint_states", []).append(np.asarray(raw["robot0_joint_pos"], dtype=np.float64))
    buffer.setdefault("states", []).append(env.sim_state())
    if points is not None:
        for key, name in zip(POINT_KEYS, points):
            buffer.setdefault(key, []).append(np.asarray(env.object_position(name), dtype=np.float32))
