"""Scripted experts for the tabletop tasks, driven by privileged simulator state (no torch).

Each expert follows a short list of phases (move the gripper to a waypoint with a given yaw and
gripper command, or hold still while the gripper closes / opens), recomputed from the live
object poses when a phase starts. Motion is a saturated proportional controller on the
end-effector position and orientation, producing the same 7-D OSC_POSE delta actions a policy
emits. ``noise`` adds Gaussian noise to the arm part of the action for diverse demonstrations.

    expert = make_expert(env, noise=0.0, seed=0)
    action = expert.act(obs)        # obs is ignored; the expert reads env state (or pass env)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from robosuite.utils import transform_utils as T

from envs.tabletop.objects import OBJECTS
from envs.tabletop.scene import TABLE_TOP_Z
from envs.tabletop.tasks import DIRECTIONS

POS_GAIN = 15.0  # action per metre of position error (action 1 = 5 cm OSC target offset)
ROT_GAIN = 1.5  # action per radian of orientation error (action 1 = 0.5 rad)
CARRY_Z = TABLE_TOP_Z + 0.20
# gripper pointing straight down; the fingers close along world x at yaw 0
R_DOWN = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, -1.0]])


@dataclass
class Phase:
    """Move to ``target()`` (xyz) with ``yaw`` and ``gripper``; done within ``tol`` or after ``max_steps``."""

    target: Callable[[], np.ndarray] | None  # None: hold the position the phase started at
    gripper: float
    tol: float = 0.01
    max_steps: int = 60
    min_steps: int = 0
    yaw: float = 0.0
    speed: float = 1.0  # cap on the position part of the action


def _rot_z(yaw: float) -> np.ndarray:
    c, s = np.cos(yaw), np.sin(yaw)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def grasp_yaw(env: Any, name: str) -> float:
    """Gripper yaw that aligns the fingers with a cube's faces (0 for round objects)."""
    if OBJECTS[name].kind != "cube":
        return 0.0
    yaw = env.scene.object_yaw(name)
    return float((yaw + np.pi / 4) % (np.pi / 2) - np.pi / 4)


class ScriptedExpert:
    """Phase-based expert for one ``TabletopEnv``; re-plans automatically after every reset."""

    def __init__(self, env: Any, noise: float = 0.0, seed: int | None = None):
        self.env = getattr(env, "unwrapped", env)
        if noise < 0:
            raise ValueError(f"noise: expected >= 0, got {noise}")
        self.noise = float(noise)
        self.rng = np.random.default_rng(seed)
        self._episode_id = -1
        self.phases: list[Phase] = []
        self.last_clean_action: np.ndarray | None = None  # the last action before noise (DART labels)

    # --- planning -------------------------------------------------------------------------------
    def _plan(self) -> list[Phase]:
        env = self.env
        ep, scene, kind = env.episode, env.scene, env.task.kind
        tgt = ep.target
        h = OBJECTS[tgt].half_height

        def obj(dz: float = 0.0) -> Callable[[], np.ndarray]:
            return lambda: scene.object_pos(tgt) + np.array([0.0, 0.0, dz])

        if kind == "push":
            d = np.append(DIRECTIONS[ep.goal], 0.0)
            start = scene.object_pos(tgt)
            push_z = TABLE_TOP_Z + min(0.8 * h, 0.02)
            yaw = grasp_yaw(env, tgt)  # flat fingers against a cube face
            pre = start - 0.065 * d
            return [
                Phase(lambda: np.array([pre[0], pre[1], TABLE_TOP_Z + 0.10]), 1.0, tol=0.015, yaw=yaw),
                Phase(lambda: np.array([pre[0], pre[1], push_z]), 1.0, tol=0.008, yaw=yaw),
                Phase(lambda: np.array([start[0], start[1], push_z]) + 0.17 * d, 1.0, tol=0.01, max_steps=80,
                      speed=0.5, yaw=yaw),
                Phase(lambda: scene.eef_pos() * [1, 1, 0] + [0, 0, TABLE_TOP_Z + 0.12], -1.0, tol=0.02),
            ]
        yaw = grasp_yaw(env, tgt)
        grasp = [
            Phase(obj(0.10), -1.0, tol=0.012, yaw=yaw, min_steps=4),
            Phase(obj(-0.003), -1.0, tol=0.006, yaw=yaw, max_steps=40),
            Phase(None, 1.0, min_steps=8, max_steps=8, yaw=yaw),
            Phase(lambda: scene.eef_pos() * [1, 1, 0] + [0, 0, CARRY_Z], 1.0, tol=0.02, yaw=yaw),
        ]
        if kind == "pick":
            return grasp + [Phase(None, 1.0, min_steps=10**6, max_steps=10**6, yaw=yaw)]
        goal = ep.goal
        if kind == "stack":
            release_dz = OBJECTS[goal].half_height + 2 * h + 0.008
        elif OBJECTS[goal].kind == "plate":
            release_dz = OBJECTS[goal].half_height + 2 * h + 0.012
        else:  # bowl / basket: above the walls
            release_dz = OBJECTS[goal].half_height + h + 0.03

        def above_goal(dz: float) -> Callable[[], np.ndarray]:
            return lambda: scene.object_pos(goal) * [1, 1, 0] + [0, 0, dz]

        release_z = lambda: scene.object_pos(goal)[2] + release_dz  # noqa: E731
        return grasp + [
            Phase(above_goal(CARRY_Z), 1.0, tol=0.015, yaw=yaw, max_steps=80),
            Phase(lambda: above_goal(release_z())(), 1.0, tol=0.008, yaw=yaw),
            Phase(None, -1.0, min_steps=6, max_steps=6, yaw=yaw),
            Phase(lambda: scene.eef_pos() * [1, 1, 0] + [0, 0, CARRY_Z], -1.0, tol=0.02, yaw=yaw),
            Phase(None, -1.0, min_steps=10**6, max_steps=10**6, yaw=yaw),
        ]

    # --- acting -----------------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget the current plan (done automatically when the env starts a new episode)."""
        self._episode_id = -1

    def act(self, obs_or_env: Any = None) -> np.ndarray:
        """Next 7-D action for the env's current state.

        The argument may be the observation (ignored: the expert reads privileged state) or a
        ``TabletopEnv`` / wrapper, which then becomes the env the expert acts on.
        """
        base = getattr(obs_or_env, "unwrapped", obs_or_env)
        if base is not None and hasattr(base, "scene") and hasattr(base, "episode"):
            if base is not self.env:
                self.env, self._episode_id = base, -1
        env = self.env
        if env.episode is None:
            raise RuntimeError("expert.act() called before env.reset()")
        if self._episode_id != env.episode_id:
            self._episode_id = env.episode_id
            self.phases = self._plan()
            self._start_phase(0)
        scene = env.scene
        while True:
            ph = self.phases[self._i]
            err = self._goal - scene.eef_pos()
            done = self._t >= ph.min_steps and (np.linalg.norm(err) < ph.tol or self._t >= ph.max_steps)
            if ph.target is None:
                done = self._t >= ph.min_steps
            if done and self._i + 1 < len(self.phases):
                self._start_phase(self._i + 1)
                continue
            break
        self._t += 1
        a = np.zeros(7)
        a[:3] = np.clip(POS_GAIN * err, -ph.speed, ph.speed)
        r_err = _rot_z(ph.yaw) @ R_DOWN @ scene.eef_mat().T
        a[3:6] = np.clip(ROT_GAIN * T.quat2axisangle(T.mat2quat(r_err)), -1.0, 1.0)
        a[6] = ph.gripper
        self.last_clean_action = a.astype(np.float32)
        if self.noise > 0:
            a[:6] = np.clip(a[:6] + self.rng.normal(0.0, self.noise, 6), -1.0, 1.0)
        return a.astype(np.float32)

    def _start_phase(self, i: int) -> None:
        self._i, self._t = i, 0
        ph = self.phases[i]
        self._goal = np.array(ph.target() if ph.target is not None else self.env.scene.eef_pos(), dtype=float)


def make_expert(env: Any, noise: float = 0.0, seed: int | None = None) -> ScriptedExpert:
    """The scripted expert for a ``TabletopEnv`` (or a gymnasium wrapper around one)."""
    return ScriptedExpert(env, noise=noise, seed=seed)
