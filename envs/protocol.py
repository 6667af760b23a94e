"""Evaluation protocol of a suite: episodes per task, step limits, wait steps, seeds.

Every suite (tabletop, LIBERO) describes how it is evaluated with an :class:`EvalProtocol`;
the runner follows it and records it in the results, so a number can always be traced back
to the exact protocol that produced it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class EvalProtocol:
    """How one suite is evaluated. Episode ``i`` of a task starts from init state ``i``."""

    suite: str
    #: task names in the suite's fixed order
    tasks: tuple[str, ...]
    episodes_per_task: int = 50
    #: control steps allowed per episode (after the wait steps)
    max_steps: int = 300
    #: steps taken with ``dummy_action`` at the start of each episode while objects settle
    wait_steps: int = 0
    dummy_action: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -1.0)
    #: base seed; episode ``i`` of task ``t`` is reseeded with ``episode_seed(t, i)``
    seed: int = 0
    #: image size rendered by the env
    image_size: int = 128
    #: image convention applied before the policy sees the frames ("none", "rot180", "hflip")
    image_flip: str = "none"
    #: free-form facts recorded with results (e.g. gripper sign convention, package versions)
    notes: dict[str, Any] = field(default_factory=dict)

    def episode_seed(self, task_index: int, episode_index: int) -> int:
        """Deterministic per-episode seed, independent of worker count and order."""
        return int(self.seed) * 1_000_003 + task_index * 10_007 + episode_index

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["tasks"] = list(self.tasks)
        out["dummy_action"] = list(self.dummy_action)
        return out
