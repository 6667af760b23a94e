"""The policy interface every policy implements: reset with an instruction, observation -> chunk.

An observation is a dict with (at least) the keys the environment provides, e.g.
``agentview_rgb`` / ``eye_in_hand_rgb`` (uint8 ``[H, W, 3]``, upright), ``proprio``
(float ``[8]``: eef position, axis-angle, gripper qpos) and ``instruction`` (str).
``infer`` returns an action chunk of shape ``[horizon, action_dim]`` (float32) in the
environment's action space (7-D delta end-effector + gripper, gripper -1 open / +1 closed).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np


class Policy(ABC):
    """Maps observations to action chunks ``[H, D]``."""

    #: number of actions returned by one ``infer`` call
    horizon: int = 1
    #: action dimension
    action_dim: int = 7

    def reset(self, instruction: str = "") -> None:  # noqa: B027 - optional hook
        """Start a new episode with this language instruction."""

    @abstractmethod
    def infer(self, obs: dict[str, Any]) -> np.ndarray:
        """Return an action chunk of shape ``[horizon, action_dim]``."""

    def metadata(self) -> dict[str, Any]:
        """Facts about this policy (sent to clients by the policy server)."""
        return {"policy": type(self).__name__, "horizon": self.horizon, "action_dim": self.action_dim}

    def last_infer_stats(self) -> dict[str, Any]:
        """Statistics of the last ``infer`` call (e.g. ``nfe``, ``latency_s``); empty by default."""
        return {}
