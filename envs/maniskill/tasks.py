"""The ``maniskill`` suite: task names, step limits, instructions, initial states, protocol.

Importing this module imports neither ManiSkill nor torch: ``register_maniskill`` (called by
``import envs``) adds the suite and the gymnasium ids ``vla/ManiSkill-<Task>-v0`` by entry-point
string, so the simulator loads only when an env is built.

Episode ``i`` of a task starts from its fixed initial state ``i``: ManiSkill's own reset run
under the seed ``3_000_000 + 10_000 * task_index + i`` (disjoint from the tabletop,
robosuite-classic and collection seeds).
"""

from __future__ import annotations

import gymnasium as gym

from envs.protocol import EvalProtocol
from envs.registry import GYM_NAMESPACE, NUM_INIT_STATES, SUITE_ALIASES, TaskSpec, register_suite

MANISKILL_SUITE = "maniskill"
#: task name -> ManiSkill3 environment id, in suite order
MANISKILL_ENV_IDS = {"PickCube": "PickCube-v1", "StackCube": "StackCube-v1", "PushCube": "PushCube-v1"}
MANISKILL_TASKS = tuple(MANISKILL_ENV_IDS)
#: control steps (20 Hz) per episode; ManiSkill's own limits (50) are tuned for RL policies
MANISKILL_MAX_STEPS = {"PickCube": 120, "StackCube": 160, "PushCube": 80}
INSTRUCTIONS = {
    "PickCube": "pick up the red cube and move it to the green ball",
    "StackCube": "stack the red cube on the green cube",
    "PushCube": "push the cube onto the red and white target",
}
INIT_SEED_BASE = 3_000_000
CONTROL_FREQ = 20  # ManiSkill's default for these tasks (sim 100 Hz)

__all__ = [
    "CONTROL_FREQ", "INSTRUCTIONS", "MANISKILL_ENV_IDS", "MANISKILL_MAX_STEPS", "MANISKILL_SUITE", "MANISKILL_TASKS",
    "maniskill_env_id", "maniskill_init_seeds", "maniskill_protocol", "register_maniskill",
]


def check_task(task: str) -> str:
    """``task`` if it is a task of the suite, else a clear ``ValueError``."""
    if task not in MANISKILL_TASKS:
        raise ValueError(f"task: expected one of {MANISKILL_TASKS}, got {task!r}")
    return task


def maniskill_init_seeds(task: str, n: int = NUM_INIT_STATES) -> tuple[int, ...]:
    """Fixed evaluation initial states of a ManiSkill task, as episode seeds (disjoint per task)."""
    base = INIT_SEED_BASE + 10_000 * MANISKILL_TASKS.index(check_task(task))
    return tuple(range(base, base + n))


def maniskill_env_id(task: str) -> str:
    return f"{GYM_NAMESPACE}/ManiSkill-{check_task(task)}-v0"


def _maniskill_suite() -> list[TaskSpec]:
    return [
        TaskSpec(name=t, suite=MANISKILL_SUITE, env_id=maniskill_env_id(t), max_steps=MANISKILL_MAX_STEPS[t],
                 init_states=maniskill_init_seeds(t), description=INSTRUCTIONS[t], kwargs={"task": t})
        for t in MANISKILL_TASKS
    ]


def register_maniskill() -> None:
    """Register the ``maniskill`` suite and ``vla/ManiSkill-<Task>-v0`` (idempotent, lazy)."""
    for t in MANISKILL_TASKS:
        env_id = maniskill_env_id(t)
        if env_id not in gym.registry:
            gym.register(id=env_id, entry_point="envs.maniskill.env:ManiSkillEnv", kwargs={"task": t},
                         max_episode_steps=None, disable_env_checker=True)
    register_suite(MANISKILL_SUITE, _maniskill_suite)
    SUITE_ALIASES.setdefault("maniskill3", MANISKILL_SUITE)


def maniskill_protocol(episodes_per_task: int = NUM_INIT_STATES, image_size: int = 128) -> EvalProtocol:
    """Protocol of ``maniskill``: episode ``i`` starts from init state ``i``; no wait steps."""
    return EvalProtocol(
        suite=MANISKILL_SUITE,
        tasks=MANISKILL_TASKS,
        episodes_per_task=int(episodes_per_task),
        max_steps=max(MANISKILL_MAX_STEPS.values()),
        wait_steps=0,
        seed=0,
        image_size=int(image_size),
        image_flip="none",
        notes={
            "suite": MANISKILL_SUITE,
            "simulator": "ManiSkill3 3.0.1 (SAPIEN 3.0.3, PhysX CPU), PickCube-v1 / StackCube-v1 / PushCube-v1, "
                         "robot panda_wristcam",
            "init_state": "episode i runs ManiSkill's reset under seed 3_000_000 + 10_000 * task_index + i "
                          "(ManiSkillEnv.init_seeds)",
            "max_steps": "per task: " + ", ".join(f"{t}={n}" for t, n in MANISKILL_MAX_STEPS.items()),
            "control": "ManiSkill pd_ee_delta_pose, 20 Hz: xyz * 0.1 m and rotation * 0.1 rad per step in the "
                       "robot-base frame; gripper -1 open / +1 closed (sign flipped for ManiSkill)",
            "proprio": "TCP pos (3), TCP axis-angle (3), finger qpos (2, robosuite sign: second finger negated)",
            "success": "the task's evaluate()['success']; the episode stops at the first success",
            "images": "upright uint8 agentview_rgb (ManiSkill base_camera) / eye_in_hand_rgb (hand_camera)",
        },
    )
