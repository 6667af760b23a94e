"""Which object did the gripper go to? Failure kinds of an episode, from privileged state.

A failed episode either went to the wrong object (the policy did not ground the instruction),
went to the right one and then failed (imprecise grasp, push or place), or never reached any
object. :class:`GraspTracker` watches an episode step by step (the env's ``object_positions()``
and ``episode.target``, which the tabletop suite provides; other envs are left alone): the
object the end-effector first comes within 5 cm of is where it *went*; the object nearest to
it when the commanded gripper first closes is recorded too. Evaluation records carry
``target_object``, ``went_to``, ``closed_near`` / ``grasp_dist_cm``, ``target_min_dist_cm`` and
``failure``, and summaries count the failures: ``wrong_object`` (first reached another object),
``imprecise`` (reached the instructed object, no success) and ``missed`` (reached no object).
"""

from __future__ import annotations

from typing import Any

import numpy as np

FAILURE_KINDS = ("wrong_object", "imprecise", "missed")
#: the end-effector "reaches" an object when it comes this close to the object's origin
NEAR_M = 0.05


class GraspTracker:
    """Per-episode tracker; ``supported`` is False for envs without privileged object positions."""

    def __init__(self, env: Any) -> None:
        base = getattr(env, "unwrapped", env)
        self._positions = getattr(base, "object_positions", None)
        episode = getattr(base, "episode", None)
        self.target = getattr(episode, "target", None)
        self.supported = callable(self._positions) and isinstance(self.target, str)
        self.went_to: str | None = None
        self.closed_near: str | None = None
        self.grasp_dist: float | None = None
        self.min_target_dist = float("inf")
        self._closed = False

    def step(self, action: np.ndarray, obs: Any) -> None:
        """Call after each env step with the executed action and the new observation."""
        if not self.supported or not isinstance(obs, dict) or "proprio" not in obs:
            return
        eef = np.asarray(obs["proprio"], dtype=np.float64)[:3]
        positions = self._positions()
        if not positions:
            return
        dists = {n: float(np.linalg.norm(np.asarray(p) - eef)) for n, p in positions.items()}
        nearest = min(dists, key=dists.__getitem__)
        if self.target in dists:
            self.min_target_dist = min(self.min_target_dist, dists[self.target])
        if self.went_to is None and dists[nearest] < NEAR_M:
            self.went_to = nearest
        closing = float(np.asarray(action).reshape(-1)[-1]) > 0
        if closing and not self._closed and self.closed_near is None:
            self.closed_near, self.grasp_dist = nearest, dists[nearest]
        self._closed = closing

    def record(self, success: bool) -> dict[str, Any]:
        """Fields for the episode record (empty when unsupported)."""
        if not self.supported:
            return {}
        if success:
            failure = None
        elif self.went_to is None:
            failure = "missed"
        elif self.went_to != self.target:
            failure = "wrong_object"
        else:
            failure = "imprecise"
        return {
            "target_object": self.target,
            "went_to": self.went_to,
            "closed_near": self.closed_near,
            "grasp_dist_cm": None if self.grasp_dist is None else round(100 * self.grasp_dist, 2),
            "target_min_dist_cm": None if not np.isfinite(self.min_target_dist) else round(100 * self.min_target_dist, 2),
            "failure": failure,
        }


def failure_counts(records: list[dict[str, Any]]) -> dict[str, int] | None:
    """Counts of each failure kind over records that carry one (None when none do)."""
    tracked = [r for r in records if "failure" in r]
    if not tracked:
        return None
    return {k: sum(1 for r in tracked if r.get("failure") == k) for k in FAILURE_KINDS}
