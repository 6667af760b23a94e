"""The evaluation protocol of the ``tabletop-10`` suite (read by ``policies.suites``)."""

from __future__ import annotations

from envs.protocol import EvalProtocol
from envs.registry import NUM_INIT_STATES, TABLETOP_MAX_STEPS, TABLETOP_TASKS


def tabletop_protocol(episodes_per_task: int = NUM_INIT_STATES, image_size: int = 128) -> EvalProtocol:
    """Episode ``i`` of a task starts from its fixed initial state ``i``; no wait steps."""
    return EvalProtocol(
        suite="tabletop",
        tasks=TABLETOP_TASKS,
        episodes_per_task=int(episodes_per_task),
        max_steps=max(TABLETOP_MAX_STEPS.values()),
        wait_steps=0,
        seed=0,
        image_size=int(image_size),
        image_flip="none",
        notes={
            "suite": "tabletop-10",
            "init_state": "episode i starts from the task's fixed initial state i (TabletopEnv.init_seeds)",
            "max_steps": "per task: " + ", ".join(f"{t}={n}" for t, n in TABLETOP_MAX_STEPS.items()),
            "control": "7-D OSC_POSE delta eef, 20 Hz, gripper -1 open / +1 closed",
            "success": "info['success'] from the task's state predicate; the episode stops at the first success",
            "images": "upright uint8 agentview_rgb / eye_in_hand_rgb",
        },
    )
