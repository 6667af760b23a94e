"""Scripted experts for the robosuite classic tasks (``envs.robosuite.tasks``), privileged state.

They reuse the tabletop experts' machinery (``envs.tabletop.experts.ScriptedExpert``: phases of
waypoints with a yaw and a gripper command, a saturated proportional controller producing 7-D
OSC_POSE delta actions, optional action noise) and only replan for robosuite's objects:

* Lift: above the cube, descend, close, lift to carry height, hold.
* Stack: grasp the red cube (cubeA), carry it above the green cube (cubeB), lower, open, retreat.
* PickPlaceCan: grasp the can, carry it above its target bin, lower, open, retreat.

    expert = make_robosuite_expert(env)
    action = expert.act(obs)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from envs.tabletop.experts import Phase, ScriptedExpert

CARRY_DZ = 0.20  # carry height above the table top
GRASP_DZ = -0.003  # eef site relative to the object centre when closing


def _cube_yaw(yaw: float) -> float:
    """Gripper yaw aligning the fingers with a cube's faces (the one closest to 0)."""
    return float((yaw + np.pi / 4) % (np.pi / 2) - np.pi / 4)


class RobosuiteExpert(ScriptedExpert):
    """Phase-based expert for one ``RobosuiteTaskEnv``; re-plans automatically after every reset."""

    def _plan(self) -> list[Phase]:
        env = self.env
        scene, task = env.scene, env.task
        table_z = scene.table_top_z
        carry_z = table_z + CARRY_DZ
        target = {"Lift": "cube", "Stack": "cubeA", "PickPlaceCan": "can"}[task]
        yaw = _cube_yaw(scene.object_yaw(target)) if task in ("Lift", "Stack") else 0.0

        def obj(dz: float) -> Callable[[], np.ndarray]:
            return lambda: scene.object_pos(target) + np.array([0.0, 0.0, dz])

        def up(z: float) -> Callable[[], np.ndarray]:
            return lambda: scene.eef_pos() * [1, 1, 0] + [0, 0, z]

        grasp = [
            Phase(obj(0.10), -1.0, tol=0.012, yaw=yaw, min_steps=4),
            Phase(obj(GRASP_DZ), -1.0, tol=0.006, yaw=yaw, max_steps=40),
            Phase(None, 1.0, min_steps=8, max_steps=8, yaw=yaw),
            Phase(up(carry_z), 1.0, tol=0.02, yaw=yaw),
        ]
        hold = Phase(None, -1.0, min_steps=10**6, max_steps=10**6, yaw=yaw)
        if task == "Lift":
            return grasp + [Phase(None, 1.0, min_steps=10**6, max_steps=10**6, yaw=yaw)]
        if task == "Stack":
            goal = "cubeB"
            # cubeA's centre one cube height (both half sizes) above cubeB's centre, plus a margin
            half_a = float(env.rs_env.cubeA.size[2])
            half_b = float(env.rs_env.cubeB.size[2])

            def above(z: Callable[[], float]) -> Callable[[], np.ndarray]:
                return lambda: scene.object_pos(goal) * [1, 1, 0] + [0, 0, z()]

            return grasp + [
                Phase(above(lambda: carry_z), 1.0, tol=0.015, yaw=yaw, max_steps=80),
                Phase(above(lambda: scene.object_pos(goal)[2] + half_a + half_b + 0.008 + GRASP_DZ), 1.0,
                      tol=0.006, yaw=yaw, max_steps=60),
                Phase(None, -1.0, min_steps=6, max_steps=6, yaw=yaw),
                Phase(up(carry_z), -1.0, tol=0.02, yaw=yaw),
                hold,
            ]
        # PickPlaceCan: the can's target bin compartment; release a few cm above the bin floor
        rs = env.rs_env
        bin_xy = np.array(rs.target_bin_placements[rs.object_id][:2])
        release_z = float(rs.bin2_pos[2]) + 0.12

        def over_bin(z: float) -> Callable[[], np.ndarray]:
            return lambda: np.array([bin_xy[0], bin_xy[1], z])

        return grasp + [
            Phase(over_bin(carry_z), 1.0, tol=0.015, yaw=yaw, max_steps=100),
            Phase(over_bin(release_z), 1.0, tol=0.01, yaw=yaw, max_steps=60),
            Phase(None, -1.0, min_steps=8, max_steps=8, yaw=yaw),
            Phase(up(carry_z), -1.0, tol=0.02, yaw=yaw),
            hold,
        ]


def make_robosuite_expert(env: Any, noise: float = 0.0, seed: int | None = None) -> RobosuiteExpert:
    """The scripted expert for a ``RobosuiteTaskEnv`` (or a gymnasium wrapper around one)."""
    return RobosuiteExpert(env, noise=noise, seed=seed)
