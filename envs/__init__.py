"""Simulators behind one gymnasium interface (tabletop suite, LIBERO, robosuite). No torch.

Importing ``envs`` registers the gymnasium ids ``vla/Tabletop-<Task>-v0`` and the suite
registry (``envs.get_suite("tabletop-10")``); simulators load on first use.
"""

from envs.registry import (
    TABLETOP_SUITE,
    TABLETOP_TASKS,
    TaskSpec,
    get_suite,
    get_task_spec,
    list_suites,
    make_suite,
    register_gym_envs,
    register_suite,
    tabletop_env_id,
)

register_gym_envs()

__all__ = [
    "TABLETOP_SUITE",
    "TABLETOP_TASKS",
    "TaskSpec",
    "get_suite",
    "get_task_spec",
    "list_suites",
    "make_suite",
    "register_gym_envs",
    "register_suite",
    "tabletop_env_id",
]
