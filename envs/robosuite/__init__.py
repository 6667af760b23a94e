"""robosuite's classic tasks (Lift, Stack, PickPlaceCan) as the ``robosuite-classic`` suite.

Modules: ``tasks`` (registration, evaluation protocol and :class:`RobosuiteTaskEnv`, the
gymnasium env over one stock robosuite environment) and ``experts`` (scripted experts reading
privileged state). Importing this package does not import robosuite; building an env does.
"""

from envs.robosuite.tasks import (
    ROBOSUITE_SUITE,
    ROBOSUITE_TASKS,
    register_robosuite,
    robosuite_env_id,
    robosuite_protocol,
)

__all__ = ["ROBOSUITE_SUITE", "ROBOSUITE_TASKS", "register_robosuite", "robosuite_env_id", "robosuite_protocol"]
