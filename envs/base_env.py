"""``RenderedSimEnv``: what the tabletop and robosuite-classic envs share, written once.

Both wrap a robosuite world (an ``MjSim`` stepped with 7-D OSC_POSE delta actions) behind the
gymnasium API and draw their cameras with the tabletop suite's fast renderer
(:mod:`envs.tabletop.render`). This base class holds the parts that are identical between them:
the observation / action spaces, the reset's choice of episode seed, the ``step`` tail (action checks, clip, step, success,
truncation), ``render``, ``close``, the lazily built camera renderer (``_render``, which also
counts renders and their seconds for the runner's time split), the 8-D ``proprio`` and
``get_state``. A subclass provides the world and the task: ``_sim`` (the ``MjSim``),
``_step_sim(action)`` (raw robosuite observation dict), ``_close_sim()``, ``check_success()``,
``_obs()`` and ``_info(success)``.

Importing this module imports neither robosuite nor MuJoCo; they load on first use.
"""

from __future__ import annotations

import time
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

#: control frequency of both envs (robosuite OSC_POSE at 20 Hz)
CONTROL_FREQ = 20
#: camera names either env can render
CAMERAS = ("agentview", "eye_in_hand")

__all__ = ["CAMERAS", "CONTROL_FREQ", "RenderedSimEnv", "check_action", "episode_seed"]


def check_action(action: Any) -> np.ndarray:
    """A 7-D action as float64, clipped to [-1, 1]; ``ValueError`` naming the problem otherwise."""
    a = np.asarray(action, dtype=np.float64).reshape(-1)
    if a.shape != (7,):
        raise ValueError(f"action: expected shape (7,), got {np.shape(action)}")
    if not np.all(np.isfinite(a)):
        raise ValueError("action: expected finite values")
    return np.clip(a, -1.0, 1.0)


def episode_seed(init_seeds: tuple[int, ...], np_random: np.random.Generator, seed: int | None,
                 options: dict[str, Any]) -> tuple[int, int | None]:
    """``(episode seed, init state index)`` of a reset: fixed init state ``i``
    (``options["init_state_index"]``, seed ``init_seeds[i]``), else ``seed``, else a draw from ``np_random``."""
    if "init_state_index" in options:
        index = int(options["init_state_index"])
        if not 0 <= index < len(init_seeds):
            raise ValueError(f"init_state_index: expected 0..{len(init_seeds) - 1}, got {index}")
        return int(init_seeds[index]), index
    if seed is not None:
        return int(seed), None
    return int(np_random.integers(0, 2**31 - 1)), None


class RenderedSimEnv(gym.Env):
    """Base of the robosuite-world envs: spaces, step tail, rendering, proprio, state, close."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": CONTROL_FREQ}

    cameras: tuple[str, ...]
    image_size: int
    render_mode: str | None
    max_steps: int
    init_seeds: tuple[int, ...]
    episode: Any
    steps: int
    _raw: dict[str, Any]

    def _init_base(self, cameras: tuple[str, ...] | list[str], image_size: int, render_mode: str | None) -> None:
        """Check and store the camera options, build the spaces and the render counters."""
        cameras = tuple(cameras)
        for cam in cameras:
            if cam not in CAMERAS:
                raise ValueError(f"cameras: expected a subset of {CAMERAS}, got {cam!r}")
        if int(image_size) <= 0:
            raise ValueError(f"image_size: expected a positive int, got {image_size!r}")
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode: expected None or 'rgb_array', got {render_mode!r}")
        self.cameras, self.image_size, self.render_mode = cameras, int(image_size), render_mode
        self._renderer: Any = None
        self.render_calls = 0
        #: seconds spent rendering camera images since construction (runners report the split)
        self.render_seconds = 0.0
        obs_spaces: dict[str, spaces.Space] = {
            f"{c}_rgb": spaces.Box(0, 255, (self.image_size, self.image_size, 3), np.uint8) for c in cameras
        }
        obs_spaces["proprio"] = spaces.Box(-np.inf, np.inf, (8,), np.float32)
        obs_spaces["instruction"] = spaces.Text(max_length=256, charset=" abcdefghijklmnopqrstuvwxyz,.'-")
        self.observation_space = spaces.Dict(obs_spaces)
        self.action_space = spaces.Box(-1.0, 1.0, (7,), np.float32)

    # --- what a subclass provides ----------------------------------------------------------------
    @property
    def _sim(self) -> Any:
        """The robosuite ``MjSim`` the cameras render and ``get_state`` reads."""
        raise NotImplementedError

    def _step_sim(self, action: np.ndarray) -> dict[str, Any]:
        """Apply one clipped 7-D action; returns robosuite's raw observation dict."""
        raise NotImplementedError

    def _close_sim(self) -> None:
        """Release the simulated world."""
        raise NotImplementedError

    def check_success(self) -> bool:
        """Whether the current episode's task is solved."""
        raise NotImplementedError

    def _obs(self) -> dict[str, Any]:
        raise NotImplementedError

    def _info(self, success: bool) -> dict[str, Any]:
        raise NotImplementedError

    def _episode_seed(self, seed: int | None, options: dict[str, Any]) -> tuple[int, int | None]:
        """``(episode seed, init state index)`` of a reset: fixed init state ``i``, else ``seed``,
        else a draw from the env's generator (``self.init_seeds`` lists the fixed states' seeds)."""
        return episode_seed(self.init_seeds, self.np_random, seed, options)

    # --- gymnasium API --------------------------------------------------------------------------
    def step(self, action: Any) -> tuple[dict[str, Any], float, bool, bool, dict[str, Any]]:
        if self.episode is None:
            raise RuntimeError("step() called before reset()")
        self._raw = self._step_sim(check_action(action))
        self.steps += 1
        success = self.check_success()
        truncated = (not success) and self.steps >= self.max_steps
        return self._obs(), float(success), success, truncated, self._info(success)

    def render(self) -> np.ndarray:
        cam = self.cameras[0] if self.cameras else "agentview"
        return self._render(cam)

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None
        self._close_sim()

    # --- helpers ----------------------------------------------------------------------------------
    def _render(self, camera: str) -> np.ndarray:
        self.render_calls += 1
        if self._renderer is None:
            from envs.tabletop.render import CameraRenderer

            sim = self._sim
            self._renderer = CameraRenderer(sim.model._model, sim.data._data, self.image_size, self.image_size)
        t = time.perf_counter()
        img = self._renderer.render(camera)
        self.render_seconds += time.perf_counter() - t
        return img

    def proprio(self) -> np.ndarray:
        """eef position (3), eef axis-angle (3), gripper qpos (2), as LIBERO / OpenVLA-OFT."""
        from robosuite.utils.transform_utils import quat2axisangle

        r = self._raw
        return np.concatenate([r["robot0_eef_pos"], quat2axisangle(r["robot0_eef_quat"]),
                               r["robot0_gripper_qpos"]]).astype(np.float32)

    def get_state(self) -> np.ndarray:
        """Flat MuJoCo state (time, qpos, qvel), as robomimic / LIBERO ``states``."""
        return np.array(self._sim.get_state().flatten())
