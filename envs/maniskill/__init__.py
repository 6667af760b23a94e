"""ManiSkill3 tasks (PickCube, StackCube, PushCube) as the ``maniskill`` suite.

Modules: ``tasks`` (names, step limits, instructions, fixed initial states, registration and
the evaluation protocol; imports neither ManiSkill nor torch), ``env`` (:class:`ManiSkillEnv`,
the gymnasium env with the tabletop suite's observations and actions over one ManiSkill3
environment), ``vulkan`` (the check that SAPIEN has a Vulkan device to render with) and
``experts`` (scripted experts from privileged state). ``mani_skill`` (and with it torch and
SAPIEN) loads when an env is built, so ``import envs`` stays light.
"""

from envs.maniskill.tasks import (
    MANISKILL_MAX_STEPS,
    MANISKILL_SUITE,
    MANISKILL_TASKS,
    maniskill_env_id,
    maniskill_init_seeds,
    maniskill_protocol,
    register_maniskill,
)

__all__ = [
    "MANISKILL_MAX_STEPS", "MANISKILL_SUITE", "MANISKILL_TASKS", "maniskill_env_id", "maniskill_init_seeds",
    "maniskill_protocol", "register_maniskill",
]
