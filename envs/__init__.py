"""Simulators behind one gymnasium interface (tabletop suite, LIBERO, robosuite, ManiSkill3). No torch.

Importing ``envs`` registers the gymnasium ids ``vla/Tabletop-<Task>-v0``,
``vla/Robosuite-<Task>-v0`` and ``vla/ManiSkill-<Task>-v0`` and the suite registry
(``envs.get_suite("tabletop-10")``, ``envs.get_suite("robosuite-classic")``,
``envs.get_suite("maniskill")``); simulators load on first use. Rendering is
headless by default (``MUJOCO_GL=egl``) unless the caller chose a backend.
"""

import os

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("PYOPENGL_PLATFORM", os.environ["MUJOCO_GL"])

from envs.maniskill.tasks import register_maniskill  # noqa: E402
from envs.registry import (  # noqa: E402
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
from envs.robosuite.tasks import register_robosuite  # noqa: E402

register_gym_envs()
register_robosuite()
register_maniskill()

__all__ = [
    "TABLETOP_SUITE",
    "TABLETOP_TASKS",
    "TaskSpec",
    "get_suite",
    "get_task_spec",
    "list_suites",
    "make_suite",
    "register_gym_envs",
    "register_maniskill",
    "register_robosuite",
    "register_suite",
    "tabletop_env_id",
]
