"""Scripted expert for LIBERO pick-and-place tasks ("pick up the X and place it in the basket").

Uses privileged state (object and basket positions from the simulator): move above the
object, descend, close the gripper, lift, carry above the basket, lower and release. Actions
are the env's 7-D delta eef actions (OSC_POSE, position scale 0.05 m per unit), orientation
held (zero rotation), gripper -1 open / +1 close. Meant for LIBERO-Object (all 10 tasks are of
this form); it is a demonstration generator, not a strong policy.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

_PICK_PLACE = re.compile(r"^pick_up_the_(?P<obj>.+)_and_place_it_in_the_(?P<target>basket)$")


def pick_place_targets(env: Any) -> tuple[str, str]:
    """(object, container) names of a pick-and-place task, from the BDDL objects of interest."""
    name = env.protocol.tasks[env.task_index]
    if not _PICK_PLACE.match(name):
        raise ValueError(f"task {name!r} is not a 'pick up the X and place it in the basket' task")
    objs = list(env.libero_env.obj_of_interest)
    container = next((o for o in objs if o.startswith("basket")), None)
    obj = next((o for o in objs if o != container), None)
    if container is None or obj is None:
        raise ValueError(f"task {name!r}: cannot find object / basket among {objs}")
    return obj, container


class PickPlaceExpert:
    """State machine over waypoints; call :meth:`act` once per control step after ``env.reset``."""

    def __init__(
        self,
        env: Any,
        *,
        grasp_dz: float = 0.0,
        hover: float = 0.12,
        carry_height: float = 0.25,
        release_dz: float = 0.12,
        gain: float = 1.0,
        noise: float = 0.0,
        seed: int = 0,
    ) -> None:
        self.env = env
        self.obj, self.container = pick_place_targets(env)
        self.grasp_dz, self.hover, self.carry_height, self.release_dz = grasp_dz, hover, carry_height, release_dz
        self.gain, self.noise = gain, noise
        self.rng = np.random.default_rng(seed)
        self.reset()

    def reset(self) -> None:
        self.phase = 0
        self.count = 0
        self._z_hist: list[float] = []

    def _move(self, target: np.ndarray, eef: np.ndarray, gripper: float) -> np.ndarray:
        delta = np.clip(self.gain * (target - eef) / 0.05, -1.0, 1.0)
        if self.noise > 0:
            delta = np.clip(delta + self.rng.normal(0.0, self.noise, 3), -1.0, 1.0)
        return np.concatenate([delta, np.zeros(3), [gripper]])

    def act(self) -> np.ndarray:
        env = self.env
        eef = np.asarray(env.raw_obs["robot0_eef_pos"], dtype=np.float64)
        obj = env.object_position(self.obj)
        box = env.object_position(self.container)
        self.count += 1
        if self.phase == 0:  # above the object, gripper open
            target = obj + np.array([0.0, 0.0, self.hover])
            if np.linalg.norm(target - eef) < 0.01 or self.count > 80:
                self.phase, self.count = 1, 0
            return self._move(target, eef, -1.0)
        if self.phase == 1:  # descend (close early if the fingers are blocked)
            target = obj + np.array([0.0, 0.0, self.grasp_dz])
            self._z_hist.append(float(eef[2]))
            stalled = len(self._z_hist) > 6 and abs(self._z_hist[-6] - self._z_hist[-1]) < 0.001
            if np.linalg.norm(target - eef) < 0.008 or stalled or self.count > 60:
                self.phase, self.count = 2, 0
            return self._move(target, eef, -1.0)
        if self.phase == 2:  # close
            if self.count >= 12:
                self.phase, self.count = 3, 0
            return np.array([0, 0, 0, 0, 0, 0, 1.0])
        if self.phase == 3:  # lift
            target = np.array([eef[0], eef[1], self.carry_height])
            if abs(eef[2] - self.carry_height) < 0.02 or self.count > 60:
                self.phase, self.count = 4, 0
            return self._move(target, eef, 1.0)
        if self.phase == 4:  # carry above the basket
            target = np.array([box[0], box[1], self.carry_height])
            if np.linalg.norm(target[:2] - eef[:2]) < 0.01 or self.count > 100:
                self.phase, self.count = 5, 0
            return self._move(target, eef, 1.0)
        if self.phase == 5:  # lower
            target = box + np.array([0.0, 0.0, self.release_dz])
            if np.linalg.norm(target - eef) < 0.015 or self.count > 40:
                self.phase, self.count = 6, 0
            return self._move(target, eef, 1.0)
        # release and back off
        target = box + np.array([0.0, 0.0, self.carry_height])
        return self._move(target, eef, -1.0) if self.count > 8 else np.array([0, 0, 0, 0, 0, 0, -1.0])
