"""Register the LIBERO suites in the project's suite registry (``envs.registry``) and gymnasium.

After :func:`register_libero`, LIBERO suites look like the tabletop suite::

    spec = envs.get_suite("libero_spatial")[0]      # TaskSpec
    env = spec.make(image_size=128)                 # gymnasium.make("vla/Libero-v0", suite=..., task_index=...)
    obs, info = env.reset(options={"init_state_index": 3})

``TaskSpec.init_states`` holds the init-state indices ``0..49`` (the states themselves are in
the package's ``.npz`` files and are loaded by the env). Registration is lazy: nothing of
LIBERO is imported until a suite is looked up.
"""

from __future__ import annotations

import gymnasium as gym

from envs.libero.tasks import LIBERO_SUITES, MAX_STEPS

LIBERO_ENV_ID = "vla/Libero-v0"


def _factory(suite: str):
    def specs() -> list:
        from envs.libero.tasks import task_instruction, task_names
        from envs.registry import TaskSpec

        return [
            TaskSpec(
                name=name,
                suite=suite,
                env_id=LIBERO_ENV_ID,
                max_steps=MAX_STEPS[suite],
                init_states=tuple(range(50)),
                description=task_instruction(suite, i),
                kwargs={"suite": suite, "task_index": i},
            )
            for i, name in enumerate(task_names(suite))
        ]

    return specs


def register_libero() -> None:
    """Register ``vla/Libero-v0`` and the five LIBERO suites (idempotent)."""
    from envs.registry import register_suite

    if LIBERO_ENV_ID not in gym.registry:
        gym.register(id=LIBERO_ENV_ID, entry_point="envs.libero.env:LiberoEnv", disable_env_checker=True)
    for suite in LIBERO_SUITES:
        register_suite(suite, _factory(suite))
