"""Scripted experts for the ``maniskill`` suite, reading privileged simulator state.

    expert = make_maniskill_expert(env, noise=0.0, seed=0)
    action = expert.act(obs)     # 7-D, our convention (gripper -1 open / +1 closed)

Each expert is a small state machine over the TCP pose, the objects' poses and the goal
(``ManiSkillEnv.tcp_pose`` / ``object_pose`` / ``goal_position``), driving the
``pd_ee_delta_pose`` controller with proportional steps: the gripper is kept pointing down and
turned (about the vertical) onto the nearest face of the cube it grasps. PickCube: above the
cube, down, close, carry the cube to the goal ball and hold still. StackCube: grasp the red
cube, carry it over the green one, lower, open, rise. PushCube: closed gripper behind the
cube, down to table height, push along +x until the cube is on the target.

``noise`` adds Gaussian noise to the executed arm action (``last_clean_action`` keeps the
noise-free one, for DART-style demonstrations); ``reset()`` restarts the state machine.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from envs.maniskill.env import POS_SCALE_M, ROT_SCALE_RAD

__all__ = ["ManiSkillExpert", "PickCubeExpert", "PushCubeExpert", "StackCubeExpert", "make_maniskill_expert"]

OPEN, CLOSED = -1.0, 1.0
CUBE_HALF = 0.02


def _quat_to_mat(q: np.ndarray) -> np.ndarray:
    w, x, y, z = (float(v) for v in q)
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])


def _wrap_quarter(a: float) -> float:
    """Angle wrapped into [-pi/4, pi/4) (a cube looks the same every quarter turn)."""
    return float((a + np.pi / 4) % (np.pi / 2) - np.pi / 4)


class ManiSkillExpert:
    """Base: proportional moves of the TCP (or of a grasped object) with the gripper kept down."""

    #: proportional gain on position error (1 = ask for the whole error in one step)
    gain = 1.0
    #: largest commanded move per step, in units of the controller's 0.1 m
    max_step = 0.6

    def __init__(self, env: Any, noise: float = 0.0, seed: int | None = None) -> None:
        self.env = getattr(env, "unwrapped", env)
        self.noise = float(noise)
        self.rng = np.random.default_rng(seed)
        self.last_clean_action: np.ndarray | None = None
        self.reset()

    def reset(self) -> None:
        self.phase = 0
        self.count = 0

    # --- what a task expert implements -------------------------------------------------------------
    def plan(self) -> np.ndarray:
        raise NotImplementedError

    # --- helpers -----------------------------------------------------------------------------------
    def act(self, obs: Any = None) -> np.ndarray:
        action = np.clip(np.asarray(self.plan(), dtype=np.float64), -1.0, 1.0)
        self.last_clean_action = action.astype(np.float32)
        if self.noise > 0:
            action = action.copy()
            action[:6] = np.clip(action[:6] + self.rng.normal(0.0, self.noise, 6), -1.0, 1.0)
        return action.astype(np.float32)

    def tcp(self) -> np.ndarray:
        return self.env.tcp_pose()[0]

    def cube_yaw(self, name: str) -> float:
        r = _quat_to_mat(self.env.object_pose(name)[1])
        return float(np.arctan2(r[1, 0], r[0, 0]))

    def rotation(self, yaw_to: float | None) -> np.ndarray:
        """Rotation action: tilt the TCP's approach axis back to straight down and (when
        ``yaw_to`` is given) turn it about the vertical onto the nearest quarter of ``yaw_to``."""
        r = _quat_to_mat(self.env.tcp_pose()[1])
        approach = r[:, 2]
        tilt = np.cross(approach, np.array([0.0, 0.0, -1.0]))
        rot = tilt.copy()
        if yaw_to is not None:
            yaw = float(np.arctan2(r[1, 0], r[0, 0]))
            rot[2] += _wrap_quarter(yaw_to - yaw)
        rot = rot / ROT_SCALE_RAD
        n = np.linalg.norm(rot)
        return rot / n if n > 1 else rot

    def move(self, delta: np.ndarray, gripper: float, yaw_to: float | None = None,
             max_step: float | None = None) -> np.ndarray:
        """Action moving the TCP by ``delta`` metres (clipped per step) with ``gripper``."""
        step = self.gain * np.asarray(delta, dtype=np.float64) / POS_SCALE_M
        limit = self.max_step if max_step is None else max_step
        n = np.linalg.norm(step)
        if n > limit:
            step = step * (limit / n)
        return np.concatenate([step, self.rotation(yaw_to), [gripper]])

    def yaw_error(self, yaw_to: float) -> float:
        r = _quat_to_mat(self.env.tcp_pose()[1])
        return abs(_wrap_quarter(yaw_to - float(np.arctan2(r[1, 0], r[0, 0]))))

    def next_phase(self) -> None:
        self.phase += 1
        self.count = 0


class _GraspMixin(ManiSkillExpert):
    """Phases 0-2: above the cube (aligned), down onto it, close."""

    grasp_name = "cube"
    above = 0.07

    def grasp(self) -> np.ndarray | None:
        """The action while grasping; ``None`` once the cube is held (then carry it)."""
        cube = self.env.object_pose(self.grasp_name)[0]
        yaw = self.cube_yaw(self.grasp_name)
        tcp = self.tcp()
        if self.phase == 0:  # above the cube, gripper open, turned onto the cube's faces
            d = cube + [0.0, 0.0, self.above] - tcp
            if np.linalg.norm(d[:2]) < 0.006 and abs(d[2]) < 0.02 and self.yaw_error(yaw) < 0.05:
                self.next_phase()
            return self.move(d, OPEN, yaw)
        if self.phase == 1:  # straight down
            d = cube - tcp
            self.count += 1
            if (np.linalg.norm(d) < 0.006) or self.count > 30:
                self.next_phase()
            return self.move(d, OPEN, yaw, max_step=0.4)
        if self.phase == 2:  # close and wait for the fingers
            self.count += 1
            if self.count >= 6:
                self.next_phase()
            return self.move(np.zeros(3), CLOSED, None)
        return None

    def carry(self, cube_to: np.ndarray, max_step: float | None = None) -> np.ndarray:
        """Move the grasped cube's centre towards ``cube_to`` (gripper closed)."""
        cube = self.env.object_pose(self.grasp_name)[0]
        return self.move(cube_to - cube, CLOSED, None, max_step)


class PickCubeExpert(_GraspMixin):
    """Grasp the red cube, carry it to the goal ball, hold still there."""

    def plan(self) -> np.ndarray:
        a = self.grasp()
        if a is not None:
            return a
        cube = self.env.object_pose("cube")[0]
        if self.phase == 3 and not self.env.is_grasping("cube") and cube[2] < 0.03:
            self.phase = 0  # dropped or missed: start over
            return self.move(np.zeros(3), OPEN, None)
        goal = self.env.goal_position()
        if self.phase == 3:
            lift = cube.copy()
            lift[2] = max(cube[2], goal[2])  # rise first, so the cube never drags on the table
            target = goal if cube[2] > goal[2] - 0.02 or np.linalg.norm(goal[:2] - cube[:2]) < 0.02 else lift
            if np.linalg.norm(goal - cube) < 0.008:
                self.next_phase()
            return self.carry(target)
        # phase 4: hold (small corrections only) until the arm is static and success is reported
        return self.carry(goal, max_step=0.05)


class StackCubeExpert(_GraspMixin):
    """Grasp the red cube (cubeA), put it on the green one (cubeB), let go, rise."""

    grasp_name = "cubeA"

    def plan(self) -> np.ndarray:
        a = self.grasp()
        if a is not None:
            return a
        cube = self.env.object_pose("cubeA")[0]
        base = self.env.object_pose("cubeB")[0]
        if self.phase in (3, 4) and not self.env.is_grasping("cubeA") and cube[2] < 0.03:
            self.phase = 0  # dropped or missed: start over
            return self.move(np.zeros(3), OPEN, None)
        on_top = base + [0.0, 0.0, 2 * CUBE_HALF + 0.002]
        if self.phase == 3:  # lift and carry above the green cube
            over = on_top + [0.0, 0.0, 0.04]
            target = over if cube[2] > base[2] + 0.04 else np.array([cube[0], cube[1], over[2]])
            if np.linalg.norm(over - cube) < 0.006:
                self.next_phase()
            return self.carry(target)
        if self.phase == 4:  # lower onto it
            self.count += 1
            if np.linalg.norm(on_top - cube) < 0.004 or self.count > 25:
                self.next_phase()
            return self.carry(on_top, max_step=0.2)
        if self.phase == 5:  # open
            self.count += 1
            if self.count >= 6:
                self.next_phase()
            return self.move(np.zeros(3), OPEN, None)
        # phase 6: rise away with the gripper open
        return self.move(np.array([0.0, 0.0, 0.02]), OPEN, None, max_step=0.2)


class PushCubeExpert(ManiSkillExpert):
    """Closed gripper behind the cube (-x), down to the table, push along +x onto the target."""

    behind = 0.045  # TCP distance behind the cube's centre while pushing
    push_z = 0.02

    def plan(self) -> np.ndarray:
        cube = self.env.object_pose("cube")[0]
        goal = self.env.goal_position()
        tcp = self.tcp()
        start = np.array([cube[0] - self.behind, cube[1], self.push_z])
        if self.phase == 0:  # above the start point
            d = start + [0.0, 0.0, 0.06] - tcp
            if np.linalg.norm(d) < 0.01:
                self.next_phase()
            return self.move(d, CLOSED, 0.0)
        if self.phase == 1:  # down behind the cube
            d = start - tcp
            self.count += 1
            if np.linalg.norm(d) < 0.008 or self.count > 30:
                self.next_phase()
            return self.move(d, CLOSED, 0.0, max_step=0.4)
        # phase 2: push; steer y onto the cube's line, stop with the cube on the target centre
        remaining = goal[0] - cube[0]
        if remaining < 0.005:
            return self.move(np.zeros(3), CLOSED, 0.0)
        d = np.array([min(remaining, 0.04), (cube[1] - tcp[1]) + (goal[1] - cube[1]), self.push_z - tcp[2]])
        return self.move(d, CLOSED, 0.0, max_step=0.3)


EXPERTS = {"PickCube": PickCubeExpert, "StackCube": StackCubeExpert, "PushCube": PushCubeExpert}


def make_maniskill_expert(env: Any, noise: float = 0.0, seed: int | None = None) -> ManiSkillExpert:
    """The scripted expert of ``env``'s task (a ``ManiSkillEnv`` or a wrapper of one)."""
    base = getattr(env, "unwrapped", env)
    task = getattr(base, "task", None)
    if task not in EXPERTS:
        raise ValueError(f"env.task: expected one of {tuple(EXPERTS)}, got {task!r}")
    return EXPERTS[task](base, noise=noise, seed=seed)
