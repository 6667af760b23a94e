"""``ManiSkillEnv``: one ManiSkill3 task behind the tabletop suite's gymnasium interface.

Observation dict (as ``envs.tabletop.env.TabletopEnv``): ``agentview_rgb`` (ManiSkill's
``base_camera``, third person) / ``eye_in_hand_rgb`` (the ``hand_camera`` of the
``panda_wristcam`` robot), uint8 ``[H, W, 3]``, upright, only the cameras asked for (left out of
one step's observation when ``render_next`` was set False before it); ``proprio`` (float32
``[8]``: TCP position 3 and TCP axis-angle 3 in the world frame, finger qpos 2 with the second
finger negated as robosuite / LIBERO report it); ``instruction`` (str). The goal marker of
PickCube (a green ball, hidden from ManiSkill's own sensor images) is drawn, since a policy
that sees only images and the instruction could not know the goal otherwise.

Action: 7-D ``(dx, dy, dz, droll, dpitch, dyaw, gripper)`` in ``[-1, 1]``, gripper -1 open /
+1 closed, 20 Hz, through ManiSkill's ``pd_ee_delta_pose`` controller: ``xyz * 0.1`` m added
to the TCP position in the robot-base frame (axes aligned with the world's), ``rpy * 0.1`` rad
(XYZ Euler, clipped to norm 1 first) applied about base-frame axes, positive = right-handed
(ManiSkill's own rotation sign is the opposite, so it is negated), and the gripper sign
flipped (ManiSkill: -1 closed / +1 open, finger target -0.01..0.04 m). The targets are set
relative to the current pose each step, so a step moves about 40% of the commanded delta.

Reward 1 on success; ``terminated`` at success (the task's ``evaluate()["success"]``),
``truncated`` at the task's max steps; ``info["success"]``. Episodes:
``reset(options={"init_state_index": i})`` starts fixed initial state ``i`` (ManiSkill's reset
under the seed ``init_seeds[i]``); ``reset(seed=s)`` under seed ``s``; ``reset()`` draws one.

Building an env imports ``mani_skill`` (torch, SAPIEN) and needs Vulkan, cameras or not
(SAPIEN makes render materials while loading the robot; ``envs.maniskill.vulkan``: a one-line
error names what is missing); without cameras no camera renderer is created. Simulation:
PhysX on the CPU, one env.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from envs.base_env import check_action, episode_seed
from envs.maniskill.tasks import (
    CONTROL_FREQ,
    INSTRUCTIONS,
    MANISKILL_ENV_IDS,
    MANISKILL_MAX_STEPS,
    check_task,
    maniskill_init_seeds,
)

#: our camera name -> ManiSkill sensor uid
CAMERAS = {"agentview": "base_camera", "eye_in_hand": "hand_camera"}
ROBOT = "panda_wristcam"
CONTROL_MODE = "pd_ee_delta_pose"
#: ManiSkill pd_ee_delta_pose limits per unit action (Panda defaults)
POS_SCALE_M = 0.1
ROT_SCALE_RAD = 0.1
#: robot links whose visual meshes are not drawn (see ``ManiSkillEnv._hide_heavy_visuals``)
HIDDEN_LINKS = ("camera_link",)

__all__ = ["CAMERAS", "CONTROL_MODE", "ManiSkillEnv", "quat_wxyz_to_axis_angle", "to_maniskill_action"]


def to_maniskill_action(action: np.ndarray) -> np.ndarray:
    """Our 7-D action -> ManiSkill ``pd_ee_delta_pose``'s: rotation and gripper negated.

    ManiSkill 3.0.1 scales the rotation part by ``rot_lower`` (-0.1), so its +1 turns -0.1 rad;
    negated, our +1 is a positive (right-handed) 0.1 rad turn about the base axis, as robosuite's
    OSC_POSE. Its gripper is -1 closed / +1 open; ours is -1 open / +1 closed.
    """
    a = np.array(action, dtype=np.float32).reshape(7)
    a[3:7] = -a[3:7]
    return a


def quat_wxyz_to_axis_angle(q: np.ndarray) -> np.ndarray:
    """Axis-angle of a ``(w, x, y, z)`` quaternion, by robosuite's ``quat2axisangle`` formula
    (no sign canonicalisation, so numbers match the tabletop / LIBERO proprio convention)."""
    w, xyz = float(np.clip(q[0], -1.0, 1.0)), np.asarray(q[1:4], dtype=np.float64)
    den = np.sqrt(1.0 - w * w)
    if np.isclose(den, 0.0):
        return np.zeros(3)
    return xyz * 2.0 * np.arccos(w) / den


@dataclass(frozen=True)
class Episode:
    """What defines one episode: the task, its seed, (fixed init states) the index, the objects."""

    task: str
    seed: int
    instruction: str
    init_state_index: int | None = None
    target: str = "cube"  # the object the instruction is about (GraspTracker reads this)


def _quiet_maniskill() -> None:
    """ManiSkill warns for every env whose robot is not in the task's list (panda_wristcam)."""
    from mani_skill.utils.logging_utils import logger

    logger.setLevel(logging.ERROR)


class ManiSkillEnv(gym.Env):
    """A ManiSkill3 task with the tabletop suite's observations, actions and resets."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": CONTROL_FREQ}
    #: frames are upright as rendered (the runner must not flip them again)
    image_flip_applied = True

    def __init__(self, task: str = "PickCube", cameras: tuple[str, ...] | list[str] = tuple(CAMERAS),
                 image_size: int = 128, max_steps: int | None = None, render_mode: str | None = None,
                 render_backend: str = "cpu"):
        self.task = check_task(task)
        cameras = tuple(cameras)
        for cam in cameras:
            if cam not in CAMERAS:
                raise ValueError(f"cameras: expected a subset of {tuple(CAMERAS)}, got {cam!r}")
        if isinstance(image_size, bool) or not isinstance(image_size, int | np.integer) or int(image_size) <= 0:
            raise ValueError(f"image_size: expected a positive int, got {image_size!r}")
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode: expected None or 'rgb_array', got {render_mode!r}")
        if max_steps is not None and int(max_steps) <= 0:
            raise ValueError(f"max_steps: expected a positive int, got {max_steps!r}")
        self.cameras, self.image_size, self.render_mode = cameras, int(image_size), render_mode
        self.instruction = INSTRUCTIONS[self.task]
        self.max_steps = int(max_steps or MANISKILL_MAX_STEPS[self.task])
        self.init_seeds = maniskill_init_seeds(self.task)
        self.render_calls = 0
        #: seconds spent rendering camera images since construction (runners report the split)
        self.render_seconds = 0.0
        #: render the cameras into the next observation (reset to True after each step)
        self.render_next = True
        obs_spaces: dict[str, spaces.Space] = {
            f"{c}_rgb": spaces.Box(0, 255, (self.image_size, self.image_size, 3), np.uint8) for c in cameras
        }
        obs_spaces["proprio"] = spaces.Box(-np.inf, np.inf, (8,), np.float32)
        obs_spaces["instruction"] = spaces.Text(max_length=256, charset=" abcdefghijklmnopqrstuvwxyz,.'-")
        self.observation_space = spaces.Dict(obs_spaces)
        self.action_space = spaces.Box(-1.0, 1.0, (7,), np.float32)
        self.renders = bool(cameras) or render_mode == "rgb_array"
        self.ms_env = self._make(render_backend)
        self.episode: Episode | None = None
        self.episode_id = 0
        self.steps = 0
        self._success = False

    def _make(self, render_backend: str) -> Any:
        from envs.maniskill.vulkan import check_vulkan

        check_vulkan()  # before importing mani_skill: one clear line instead of a SAPIEN traceback
        import mani_skill.envs  # noqa: F401 - registers the ManiSkill env ids

        _quiet_maniskill()

        kwargs: dict[str, Any] = dict(
            obs_mode="state_dict", control_mode=CONTROL_MODE, robot_uids=ROBOT, num_envs=1,
            sim_backend="physx_cpu", render_backend=render_backend if self.renders else "none",
            render_mode=None, max_episode_steps=10**9,
        )
        if self.renders:
            kwargs["sensor_configs"] = dict(width=self.image_size, height=self.image_size)
            kwargs["human_render_camera_configs"] = dict(width=self.image_size, height=self.image_size)
        env = gym.make(MANISKILL_ENV_IDS[self.task], disable_env_checker=True, **kwargs).unwrapped
        import sapien

        self._sapien = sapien
        return env

    # --- gymnasium API --------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        ep_seed, idx = episode_seed(self.init_seeds, self.np_random, seed, dict(options or {}))
        self.ms_env.reset(seed=ep_seed)
        if self.renders:
            self._hide_heavy_visuals()
        target = "cubeA" if self.task == "StackCube" else "cube"
        self.episode = Episode(self.task, ep_seed, self.instruction, idx, target)
        self.steps = 0
        self._success = False
        self.episode_id += 1
        return self._obs(), self._info(False)

    def step(self, action: Any) -> tuple[dict[str, Any], float, bool, bool, dict[str, Any]]:
        if self.episode is None:
            raise RuntimeError("step() called before reset()")
        _, _, _, _, ms_info = self.ms_env.step(to_maniskill_action(check_action(action))[None])
        self.steps += 1
        success = bool(_scalar(ms_info["success"]))
        self._success = success
        truncated = (not success) and self.steps >= self.max_steps
        return self._obs(), float(success), success, truncated, self._info(success)

    def render(self) -> np.ndarray:
        if not self.renders:
            raise RuntimeError("render: this env was built without cameras and render_mode=None (no renderer)")
        cam = self.cameras[0] if self.cameras else "agentview"
        return self._render_cameras((cam,))[cam]

    def close(self) -> None:
        if self.ms_env is not None:
            self.ms_env.close()
            self.ms_env = None

    # --- privileged state (experts, collection labels, failure analysis) ------------------------
    @property
    def _objects(self) -> dict[str, Any]:
        e = self.ms_env
        if self.task == "StackCube":
            return {"cubeA": e.cubeA, "cubeB": e.cubeB}
        return {"cube": e.obj if self.task == "PushCube" else e.cube}

    def _goal_actor(self) -> Any:
        e = self.ms_env
        return {"PickCube": lambda: e.goal_site, "StackCube": lambda: e.cubeB, "PushCube": lambda: e.goal_region}[
            self.task]()

    def object_positions(self) -> dict[str, np.ndarray]:
        """World xyz of the task's objects (``cube``, or ``cubeA`` / ``cubeB``)."""
        if self.episode is None:
            raise RuntimeError("object_positions() called before reset()")
        return {n: _np(a.pose.p) for n, a in self._objects.items()}

    def object_pose(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """World ``(xyz, quaternion wxyz)`` of object ``name``."""
        objects = self._objects
        if name not in objects:
            raise ValueError(f"name: expected one of {sorted(objects)}, got {name!r}")
        pose = objects[name].pose
        return _np(pose.p), _np(pose.q)

    def goal_position(self) -> np.ndarray:
        """World xyz of the goal: PickCube's goal ball, StackCube's green cube, PushCube's target."""
        return _np(self._goal_actor().pose.p)

    def privileged_positions(self) -> dict[str, np.ndarray]:
        """World xyz (float32) of the instructed object (``target_pos``) and its goal (``goal_pos``)."""
        if self.episode is None:
            raise RuntimeError("privileged_positions() called before reset()")
        return {"target_pos": self.object_positions()[self.episode.target].astype(np.float32),
                "goal_pos": self.goal_position().astype(np.float32)}

    def tcp_pose(self) -> tuple[np.ndarray, np.ndarray]:
        """World ``(xyz, quaternion wxyz)`` of the tool centre point (between the fingertips)."""
        pose = self.ms_env.agent.tcp.pose
        return _np(pose.p), _np(pose.q)

    def is_grasping(self, name: str) -> bool:
        return bool(_scalar(self.ms_env.agent.is_grasping(self._objects[name])))

    def joint_positions(self) -> np.ndarray:
        """Arm joint positions (7), as ``obs/joint_states`` in demonstrations."""
        return _np(self.ms_env.agent.robot.get_qpos())[:7].astype(np.float32)

    def proprio(self) -> np.ndarray:
        """TCP position (3), TCP axis-angle (3), finger qpos (2: second finger negated), float32."""
        p, q = self.tcp_pose()
        fingers = _np(self.ms_env.agent.robot.get_qpos())[7:9]
        return np.concatenate([p, quat_wxyz_to_axis_angle(q), [fingers[0], -fingers[1]]]).astype(np.float32)

    def get_state(self) -> np.ndarray:
        """ManiSkill's flat simulation state (actor and articulation poses / velocities, float64)."""
        return _np(self.ms_env.get_state()).astype(np.float64)

    def check_success(self) -> bool:
        return bool(self.episode is not None and _scalar(self.ms_env.evaluate()["success"]))

    def metadata_dict(self) -> dict[str, Any]:
        """Environment facts stored with demonstrations (JSON-serialisable)."""
        import mani_skill
        import sapien

        return {"env_name": MANISKILL_ENV_IDS[self.task], "suite": "maniskill", "task": self.task, "robot": ROBOT,
                "controller": CONTROL_MODE, "control_freq": CONTROL_FREQ, "cameras": list(self.cameras),
                "camera_sensors": {c: CAMERAS[c] for c in self.cameras}, "image_size": self.image_size,
                "max_steps": self.max_steps, "action_dim": 7, "gripper": "-1 open, +1 closed",
                "action_scale": {"pos_m": POS_SCALE_M, "rot_rad": ROT_SCALE_RAD, "frame": "robot base"},
                "mani_skill_version": mani_skill.__version__, "sapien_version": sapien.__version__}

    # --- helpers ----------------------------------------------------------------------------------
    def _obs(self) -> dict[str, Any]:
        render, self.render_next = self.render_next, True
        obs: dict[str, Any] = {}
        if render and self.cameras:
            obs.update({f"{c}_rgb": img for c, img in self._render_cameras(self.cameras).items()})
        obs["proprio"] = self.proprio()
        obs["instruction"] = self.instruction
        return obs

    def _hide_heavy_visuals(self) -> None:
        """Do not draw the wrist camera's RealSense housing: 425k of the scene's 580k triangles,
        two thirds of a software-rendered frame (physics and the camera itself are unchanged)."""
        for link in self.ms_env.agent.robot.links:
            if link.name in HIDDEN_LINKS:
                for obj in link._objs:
                    body = obj.entity.find_component_by_type(self._sapien.render.RenderBodyComponent)
                    if body is not None:
                        body.visibility = 0.0

    def _render_cameras(self, cameras: tuple[str, ...]) -> dict[str, np.ndarray]:
        t = time.perf_counter()
        env = self.ms_env
        env.scene.update_render(update_sensors=True, update_human_render_cameras=False)
        sensors = env.scene.sensors
        for c in cameras:
            sensors[CAMERAS[c]].capture()
        out = {}
        for c in cameras:
            rgb = sensors[CAMERAS[c]].get_obs(rgb=True, depth=False, position=False, segmentation=False)["rgb"]
            out[c] = np.ascontiguousarray(_np(rgb)[0, ..., :3]).astype(np.uint8, copy=False)
        self.render_calls += len(cameras)
        self.render_seconds += time.perf_counter() - t
        return out

    def _info(self, success: bool) -> dict[str, Any]:
        ep = self.episode
        return {"success": bool(success), "task": self.task, "instruction": self.instruction,
                "episode_seed": ep.seed if ep else None,
                "init_state_index": ep.init_state_index if ep else None, "steps": self.steps}


def _np(x: Any) -> np.ndarray:
    """A torch tensor (ManiSkill batches everything with a leading env dim) or array as numpy."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    x = np.asarray(x)
    return x[0] if x.ndim >= 2 and x.shape[0] == 1 and x.ndim != 4 else x


def _scalar(x: Any) -> Any:
    arr = x.detach().cpu().numpy() if hasattr(x, "detach") else np.asarray(x)
    return arr.reshape(-1)[0]
