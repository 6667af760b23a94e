"""Closed-loop ROS demo: the simulated robot (:mod:`hardware.ros_sim_robot`) plus the task's expert served as a policy.

Same options as ``python -m hardware.ros_sim_robot``, plus ``--serve-expert PORT``: the task's
scripted expert (it reads privileged sim state, hence it lives in this process, its calls
serialised with the env's steps) is served as a policy server on 127.0.0.1:PORT, so the whole
chain sim -> ROS -> bridge -> websocket -> server -> bridge -> ROS -> sim runs here::

    python -m scripts.ros_sim_robot --ros 1 --config sim_bridge.json --task PickCube \\
        --episodes 0 1 --serve-expert 8000 --out results.json

The policy plumbing (``ExpertPolicy``, ``PolicyServer``) lives here so that ``hardware/`` never
imports ``policies``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import numpy as np


class LockedPolicy:
    """A policy whose calls are serialised with the env's steps (it reads live sim state)."""

    def __init__(self, policy: Any, lock: threading.Lock) -> None:
        self.policy, self.lock = policy, lock
        self.horizon, self.action_dim = policy.horizon, policy.action_dim

    def reset(self, instruction: str = "") -> None:
        with self.lock:
            self.policy.reset(instruction)

    def infer(self, obs: dict[str, Any]) -> np.ndarray:
        with self.lock:
            return self.policy.infer(obs)

    def metadata(self) -> dict[str, Any]:
        return self.policy.metadata()

    def last_infer_stats(self) -> dict[str, Any]:
        return {}


def serve_expert(env: Any, task: str, lock: threading.Lock, port: int) -> tuple[Any, Callable[[str], None]]:
    """Serve ``task``'s scripted expert on ``env`` at 127.0.0.1:``port``; returns ``(server, reset_policy)``."""
    from policies.expert_policy import ExpertPolicy
    from policies.server import PolicyServer

    expert = LockedPolicy(ExpertPolicy(env, task), lock)
    server = PolicyServer(expert, port=port).start()  # type: ignore[arg-type]
    return server, expert.policy.reset


def main(argv: list[str] | None = None) -> int:
    """``python -m hardware.ros_sim_robot`` with ``--serve-expert`` available."""
    from hardware.ros_sim_robot import main as sim_main

    return sim_main(argv, serve_expert=serve_expert, prog="python -m scripts.ros_sim_robot")


if __name__ == "__main__":
    raise SystemExit(main())
