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

from typing import Any

import numpy as np

from envs.base_env import CAMERAS, RenderedSimEnv
from envs.registry import NUM_INIT_STATES, tabletop_init_seeds
from envs.tabletop.render import RENDER_SETTINGS
from envs.tabletop.scene import CONTROL_FREQ, TabletopScene
from envs.tabletop.tasks import Episode, get_task

__all__ = ["CAMERAS", "NUM_INIT_STATES", "TabletopEnv"]


class TabletopEnv(RenderedSimEnv):
    """A tabletop task with LIBERO-style observations and actions (step / render / close: the base)."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": CONTROL_FREQ}

    def __init__(self, task: str = "PickCube", cameras: tuple[str, ...] | list[str] = CAMERAS,
                 image_size: int = 128, max_steps: int | None = None, render_mode: str | None = None):
        self.task = get_task(task)
        self._init_base(cameras, image_size, render_mode)
        self.max_steps = int(max_steps or self.task.max_steps)
        self.init_seeds = tabletop_init_seeds(self.task.name)
        self.scene = TabletopScene()
        self.episode: Episode | None = None
        self.episode_id = 0
        self.steps = 0
        self._raw: dict[str, Any] = {}
        #: render the cameras into the next observation (a runner that will not read the next
        #: observation's images sets this False before ``step``; it resets to True after each step)
        self.render_next = True

    # --- gymnasium API --------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        ep_seed, _ = self._episode_seed(seed, dict(options or {}))
        self.episode = self.task.sample(ep_seed)
        self.scene.set_layout(self.episode.layout)
        self._raw = self.scene.reset()
        self.steps = 0
        self.episode_id += 1
        return self._obs(), self._info(False)

    # --- the world (RenderedSimEnv hooks) ---------------------------------------------------------
    @property
    def _sim(self) -> Any:
        return self.scene.sim

    def _step_sim(self, action: np.ndarray) -> dict[str, Any]:
        raw, _, _, _ = self.scene.step(action)
        return raw

    def _close_sim(self) -> None:
        self.scene.close()

    # --- helpers ----------------------------------------------------------------------------------
    def _obs(self) -> dict[str, Any]:
        render, self.render_next = self.render_next, True
        obs: dict[str, Any] = {f"{c}_rgb": self._render(c) for c in self.cameras} if render else {}
        obs["proprio"] = self.proprio()
        obs["instruction"] = self.episode.instruction if self.episode else ""
        return obs

    def _info(self, success: bool) -> dict[str, Any]:
        ep = self.episode
        return {"success": bool(success), "task": self.task.name, "instruction": ep.instruction if ep else "",
                "episode_seed": ep.seed if ep else None, "steps": self.steps}

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
