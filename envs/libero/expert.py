"""Scripted expert for LIBERO pick-and-place tasks ("pick up the X and place it in the basket").

Uses privileged state (object and basket poses and collision boxes from the simulator): move
above the object, line up, descend, close the gripper, lift, carry above the basket, lower
and release. Actions
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


# Panda hand geometry relative to the eef site, gripper pointing down with the fingers closing
# along world y (LIBERO's default orientation), measured from the collision meshes.
HAND_LO_XY = np.array([-0.030, -0.102])
HAND_HI_XY = np.array([0.037, 0.106])
HAND_BOTTOM = 0.031  # hand collision mesh bottom above the eef site
FINGER_HALF_WIDTH = 0.015  # half the finger pad width along x, plus margin
FINGER_OPEN_HALF = 0.039  # inner faces of the open fingers from the eef site, along y


def _box_gap(alo: np.ndarray, ahi: np.ndarray, blo: np.ndarray, bhi: np.ndarray) -> float:
    """Separation of two axis-aligned rectangles (negative: overlap depth along the shallower axis)."""
    sep = np.maximum(blo - ahi, alo - bhi)  # per axis: > 0 apart
    if np.any(sep > 0):
        return float(np.linalg.norm(np.maximum(sep, 0.0)))
    return float(np.max(sep))


class PickPlaceExpert:
    """State machine over waypoints; call :meth:`act` once per control step after ``env.reset``.

    Heights come from the object's collision box (``env.object_bounds``), so flat boxes and tall
    bottles get their own approach and grasp heights: the Panda's fingers reach ~3.5 cm below
    the hand, so a tall bottle is grasped just below its top, a flat box near the table. The
    hand lines up above the object before descending, and the descent is slowed and keeps
    correcting x / y, since the OSC controller drifts 1-2 cm sideways in a fast vertical move.
    """

    def __init__(
        self,
        env: Any,
        *,
        clearance: float = 0.07,
        finger_reach: float = 0.03,
        grasp_floor: float = 0.012,
        carry_height: float = 0.25,
        release_clearance: float = 0.05,
        descend_speed: float = 0.5,
        xy_gain: float = 2.0,
        gain: float = 1.0,
        noise: float = 0.0,
        seed: int = 0,
    ) -> None:
        self.env = env
        self.obj, self.container = pick_place_targets(env)
        self.clearance, self.finger_reach, self.grasp_floor = clearance, finger_reach, grasp_floor
        self.carry_height, self.release_clearance = carry_height, release_clearance
        self.descend_speed, self.xy_gain = descend_speed, xy_gain
        self.gain, self.noise = gain, noise
        self.rng = np.random.default_rng(seed)
        self.reset()

    def reset(self) -> None:
        self.phase = 0
        self.count = 0
        self._z_hist: list[float] = []
        self.hang = 0.0  # eef height above the grasped object's bottom
        self.offset: np.ndarray | None = None  # grasp point relative to the object's body, x / y
        self._rim: float | None = None  # basket rim height, measured on first use

    def _grasp_offset(self) -> np.ndarray:
        """Where to grasp in x / y relative to the object so that the hand clears its neighbours.

        The Panda hand is ~20 cm long along the fingers' closing axis (world y here) and sits
        ~3 cm above the fingertips; next to a tall can it cannot reach a flat box's centre. The
        grasp may slide along the object (x, keeping both pads on it) or across it (y, keeping it
        between the open fingers); the smallest shift that leaves 1 cm of clearance wins, else
        the one with the most clearance.
        """
        env = self.env
        lo, hi = env.object_bounds(self.obj)
        centre = env.object_position(self.obj)
        _, grasp = self._heights()
        hand_bottom = grasp + HAND_BOTTOM
        obstacles = []
        for name in env.object_names():
            if name == self.obj:
                continue
            olo, ohi = env.object_bounds(name)
            if ohi[2] > hand_bottom:
                obstacles.append((olo[:2], ohi[:2]))
        if not obstacles:
            return np.zeros(2)
        span_x = max(0.0, min(centre[0] - lo[0], hi[0] - centre[0]) - FINGER_HALF_WIDTH)
        span_y = max(0.0, FINGER_OPEN_HALF - max(centre[1] - lo[1], hi[1] - centre[1]) - 0.005)
        best, best_key = np.zeros(2), None
        for dx in np.arange(-span_x, span_x + 1e-9, 0.005 if span_x else 1.0):
            for dy in np.arange(-span_y, span_y + 1e-9, 0.005 if span_y else 1.0):
                c = centre[:2] + np.array([dx, dy])
                hlo, hhi = c + HAND_LO_XY, c + HAND_HI_XY
                clear = min(_box_gap(hlo, hhi, olo, ohi) for olo, ohi in obstacles)
                key = (clear < 0.01, -clear if clear < 0.01 else float(np.hypot(dx, dy)))
                if best_key is None or key < best_key:
                    best, best_key = np.array([dx, dy]), key
        return best

    def _move(self, target: np.ndarray, eef: np.ndarray, gripper: float, *, z_speed: float = 1.0,
              xy_gain: float | None = None) -> np.ndarray:
        err = (target - eef) / 0.05
        delta = np.empty(3)
        delta[:2] = np.clip((self.gain if xy_gain is None else xy_gain) * err[:2], -1.0, 1.0)
        delta[2] = np.clip(self.gain * err[2], -z_speed, z_speed)
        if self.noise > 0:
            delta = np.clip(delta + self.rng.normal(0.0, self.noise, 3), -1.0, 1.0)
        return np.concatenate([delta, np.zeros(3), [gripper]])

    def _heights(self) -> tuple[float, float]:
        """(approach, grasp) eef heights for the object where it is now."""
        lo, hi = self.env.object_bounds(self.obj)
        grasp = max(lo[2] + self.grasp_floor, hi[2] - self.finger_reach)
        return hi[2] + self.clearance, grasp

    def act(self) -> np.ndarray:
        env = self.env
        eef = np.asarray(env.raw_obs["robot0_eef_pos"], dtype=np.float64)
        obj = env.object_position(self.obj)
        box = env.object_position(self.container)
        self.count += 1
        if self.offset is None:
            self.offset = self._grasp_offset()
        obj = obj + np.array([self.offset[0], self.offset[1], 0.0])
        if self.phase == 0:  # above the object, gripper open (rise first if low)
            approach, _ = self._heights()
            target = np.array([obj[0], obj[1], max(approach, eef[2])])
            if np.linalg.norm(target[:2] - eef[:2]) < 0.02 or self.count > 80:
                self.phase, self.count = 1, 0
            return self._move(target, eef, -1.0)
        if self.phase == 1:  # line up precisely at the approach height
            approach, _ = self._heights()
            target = np.array([obj[0], obj[1], approach])
            if np.linalg.norm(target - eef) < 0.006 or self.count > 30:
                self.phase, self.count = 2, 0
            return self._move(target, eef, -1.0, xy_gain=self.xy_gain)
        if self.phase == 2:  # descend slowly, correcting x / y (close early if the fingers are blocked)
            _, grasp = self._heights()
            target = np.array([obj[0], obj[1], grasp])
            self._z_hist.append(float(eef[2]))
            stalled = len(self._z_hist) > 6 and abs(self._z_hist[-6] - self._z_hist[-1]) < 0.001
            if abs(target[2] - eef[2]) < 0.006 or stalled or self.count > 60:
                self.phase, self.count = 3, 0
                lo, _ = env.object_bounds(self.obj)
                self.hang = max(0.0, float(eef[2] - lo[2]))
            return self._move(target, eef, -1.0, z_speed=self.descend_speed, xy_gain=self.xy_gain)
        if self.phase == 3:  # close
            if self.count >= 12:
                self.phase, self.count = 4, 0
            return np.array([0, 0, 0, 0, 0, 0, 1.0])
        carry = max(self.carry_height, self._release_height(box) + 0.03)
        if self.phase == 4:  # lift
            target = np.array([eef[0], eef[1], carry])
            if abs(eef[2] - carry) < 0.02 or self.count > 60:
                self.phase, self.count = 5, 0
            return self._move(target, eef, 1.0)
        if self.phase == 5:  # carry above the basket
            target = np.array([box[0], box[1], carry])
            if np.linalg.norm(target[:2] - eef[:2]) < 0.01 or self.count > 100:
                self.phase, self.count = 6, 0
            return self._move(target, eef, 1.0)
        if self.phase == 6:  # lower until the object's bottom is just above the basket's rim
            target = np.array([box[0], box[1], self._release_height(box)])
            if np.linalg.norm(target - eef) < 0.015 or self.count > 40:
                self.phase, self.count = 7, 0
            return self._move(target, eef, 1.0)
        # release and back off
        target = np.array([box[0], box[1], carry])
        return self._move(target, eef, -1.0) if self.count > 8 else np.array([0, 0, 0, 0, 0, 0, -1.0])

    def _release_height(self, box: np.ndarray) -> float:
        if self._rim is None:  # the basket does not move: measure its rim once per episode
            self._rim = float(self.env.object_bounds(self.container)[1][2])
        return self._rim + self.hang + self.release_clearance
