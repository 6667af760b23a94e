"""Privileged object-pose accessors shared by the scenes of ``envs`` (tabletop, robosuite classic).

A scene mixes in :class:`ObjectPoses` and provides ``sim`` (robosuite's MjSim) and ``body_ids``
(object name -> MuJoCo body id). No simulator import here, so it stays cheap to import.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class ObjectPoses:
    """``object_pos`` / ``object_quat`` / ``object_yaw`` from the sim's body frames."""

    sim: Any
    body_ids: dict[str, int]

    def object_pos(self, name: str) -> np.ndarray:
        return np.array(self.sim.data.body_xpos[self.body_ids[name]])

    def object_quat(self, name: str) -> np.ndarray:
        """Orientation quaternion (w, x, y, z)."""
        return np.array(self.sim.data.body_xquat[self.body_ids[name]])

    def object_yaw(self, name: str) -> float:
        w, x, y, z = self.object_quat(name)
        return float(np.arctan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z)))
