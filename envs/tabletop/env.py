"""``TabletopEnv``: one tabletop task behind the gymnasium API (LIBERO conventions).

Observation dict: ``agentview_rgb`` / ``eye_in_hand_rgb`` (uint8 ``[H, W, 3]``, upright; only
the cameras asked for; left out of one step's observation when ``render_next`` was set False
before it, so that runners skip renders nobody reads), ``proprio`` (float32 ``[8]``: eef position 3, eef axis-angle 3, gripper
qpos 2, as LIBERO in OpenVLA-OFT / openpi) and ``instruction`` (str). Action: 7-D OSC_POSE delta
``(dx, dy, dz, droll, dpitch, dyaw, gripper)`` in ``[-1, 1]``, gripper -1 open / +1 closed, 20 Hz.
Reward 1 on success; ``terminated`` at success, ``truncated`` at the task's max steps;
``info["success"]``.

Episodes: ``reset(seed=s)`` samples the episode from seed ``s``; ``reset(options={
"init_state_index": i})`` starts from the task's fixed initial state ``i`` (a fixed seed list,
like LIBERO's init files); ``reset()`` draws the next seed from the env's generator.
"""

from __future__ import annotations

import time
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from robosuite.utils import transform_utils as T

from envs.registry import NUM_INIT_STATES, tabletop_init_seeds
from envs.tabletop.render import RENDER_SETTINGS, CameraRenderer
from envs.tabletop.scene import CONTROL_FREQ, TabletopScene
from envs.tabletop.tasks import Episode, get_task

CAMERAS = ("agentview", "eye_in_hand")
__all__ = ["CAMERAS", "NUM_INIT_STATES", "TabletopEnv"]


class TabletopEnv(gym.Env):
    """A tabletop task with LIBERO-style observations and actions."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": CONTROL_FREQ}

    def __init__(self, task: str = "PickCube", cameras: tuple[str, ...] | list[str] = CAMERAS,
                 image_size: int = 128, max_steps: int | None = None, render_mode: str | None = None):
        self.task = get_task(task)
        cameras = tuple(cameras)
        for cam in cameras:
            if cam not in CAMERAS:
                raise ValueError(f"cameras: expected a subset of {CAMERAS}, got {cam!r}")
        if int(image_size) <= 0:
            raise ValueError(f"image_size: expected a positive int, got {image_size!r}")
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode: expected None or 'rgb_array', got {render_mode!r}")
        self.cameras, self.image_size, self.render_mode = cameras, int(image_size), render_mode
        self.max_steps = int(max_steps or self.task.max_steps)
        self.init_seeds = tabletop_init_seeds(self.task.name)
        self.scene = TabletopScene()
        self._renderer: CameraRenderer | None = None
        self.episode: Episode | None = None
        self.episode_id = 0
        self.steps = 0
        self._raw: dict[str, Any] = {}
        #: render the cameras into the next observation (a runner that will not read the next
        #: observation's images sets this False before ``step``; it resets to True after each step)
        self.render_next = True
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

    # --- gymnasium API --------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        options = dict(options or {})
        if "init_state_index" in options:
            i = int(options["init_state_index"])
            if not 0 <= i < len(self.init_seeds):
                raise ValueError(f"init_state_index: expected 0..{len(self.init_seeds) - 1}, got {i}")
            ep_seed = self.init_seeds[i]
        elif seed is not None:
            ep_seed = int(seed)
        else:
            ep_seed = int(self.np_random.integers(0, 2**31 - 1))
        self.episode = self.task.sample(ep_seed)
        self.scene.set_layout(self.episode.layout)
        self._raw = self.scene.reset()
        self.steps = 0
        self.episode_id += 1
        return self._obs(), self._info(False)

    def step(self, action):
        if self.episode is None:
            raise RuntimeError("step() called before reset()")
        a = np.asarray(action, dtype=np.float64).reshape(-1)
        if a.shape != (7,):
            raise ValueError(f"action: expected shape (7,), got {np.shape(action)}")
        if not np.all(np.isfinite(a)):
            raise ValueError("action: expected finite values")
        self._raw, _, _, _ = self.scene.step(np.clip(a, -1.0, 1.0))
        self.steps += 1
        success = self.task.success(self.scene, self.episode)
        truncated = (not success) and self.steps >= self.max_steps
        return self._obs(), float(success), success, truncated, self._info(success)

    def render(self):
        cam = self.cameras[0] if self.cameras else "agentview"
        return self._render(cam)

    def close(self):
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None
        self.scene.close()

    # --- helpers ----------------------------------------------------------------------------------
    def _render(self, camera: str) -> np.ndarray:
        self.render_calls += 1
        if self._renderer is None:
            self._renderer = CameraRenderer(self.scene.sim.model._model, self.scene.sim.data._data,
                                            self.image_size, self.image_size)
        t = time.perf_counter()
        img = self._renderer.render(camera)
        self.render_seconds += time.perf_counter() - t
        return img

    def _obs(self) -> dict[str, Any]:
        render, self.render_next = self.render_next, True
        obs: dict[str, Any] = {f"{c}_rgb": self._render(c) for c in self.cameras} if render else {}
        obs["proprio"] = self.proprio()
        obs["instruction"] = self.episode.instruction if self.episode else ""
        return obs

    def proprio(self) -> np.ndarray:
        """eef position (3), eef axis-angle (3), gripper qpos (2), as LIBERO / OpenVLA-OFT."""
        r = self._raw
        return np.concatenate([r["robot0_eef_pos"], T.quat2axisangle(r["robot0_eef_quat"]),
                               r["robot0_gripper_qpos"]]).astype(np.float32)

    def _info(self, success: bool) -> dict[str, Any]:
        ep = self.episode
        return {"success": bool(success), "task": self.task.name, "instruction": ep.instruction if ep else "",
                "episode_seed": ep.seed if ep else None, "steps": self.steps}

    def get_state(self) -> np.ndarray:
        """Flat MuJoCo state (time, qpos, qvel), as robomimic / LIBERO ``states``."""
        return np.array(self.scene.sim.get_state().flatten())

    def privileged_positions(self) -> dict[str, np.ndarray]:
        """World xyz (float32) of the episode's ``target`` object and its ``goal``.

        The goal is the container / object named by the instruction; for tasks whose goal is a
        direction or absent (push, pick) it is the target itself. Training labels only: a policy
        never reads these at evaluation.
        """
        ep = self.episode
        if ep is None:
            raise RuntimeError("privileged_positions() called before reset()")
        target = self.scene.object_pos(ep.target).astype(np.float32)
        goal = self.scene.object_pos(ep.goal).astype(np.float32) if ep.goal in self.scene.body_ids else target
        return {"target_pos": target, "goal_pos": goal}

    def object_positions(self) -> dict[str, np.ndarray]:
        """World xyz of every object placed in this episode (parked ones left out)."""
        if self.episode is None:
            raise RuntimeError("object_positions() called before reset()")
        return {n: self.scene.object_pos(n) for n in self.episode.layout.poses}

    def check_success(self) -> bool:
        return bool(self.episode is not None and self.task.success(self.scene, self.episode))

    def metadata_dict(self) -> dict[str, Any]:
        """Environment facts stored with demonstrations (JSON-serialisable)."""
        return {"env_name": "Tabletop", "task": self.task.name, "robot": "Panda", "controller": "OSC_POSE",
                "control_freq": CONTROL_FREQ, "cameras": list(self.cameras), "image_size": self.image_size,
                "max_steps": self.max_steps, "render": dict(RENDER_SETTINGS), "action_dim": 7,
                "gripper": "-1 open, +1 closed"}
