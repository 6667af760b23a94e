"""The runner-facing LIBERO suite: :class:`LiberoSuite` (protocol, task list, env factory).

:class:`LiberoSuite` is what a runner uses: its ``protocol``, ``make_env(task_index)`` and
``instruction(task_index)``. Suite names, task lookups and :func:`libero_protocol` (the
published protocol) live in :mod:`envs.libero.tasks`, which the env imports too; they are
re-exported here.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from envs.libero.tasks import (
    DUMMY_ACTION,
    EPISODES_PER_TASK,
    IMAGE_SIZE,
    LIBERO_SUITES,
    MAX_STEPS,
    PAPER_COLUMNS,
    WAIT_STEPS,
    check_suite,
    libero_protocol,
    task_bddl_file,
    task_init_states,
    task_instruction,
    task_names,
)
from envs.protocol import EvalProtocol

__all__ = [
    "DUMMY_ACTION",
    "EPISODES_PER_TASK",
    "IMAGE_SIZE",
    "LIBERO_SUITES",
    "MAX_STEPS",
    "PAPER_COLUMNS",
    "WAIT_STEPS",
    "LiberoSuite",
    "check_suite",
    "libero_protocol",
    "task_bddl_file",
    "task_init_states",
    "task_instruction",
    "task_names",
]


class LiberoSuite:
    """One LIBERO suite for a runner: protocol, task list, env factory.

    The runner makes one env per task (building a LIBERO scene takes seconds) and, for
    episode ``i``, calls ``env.reset(options={"episode_index": i})``: the env reseeds itself
    with ``protocol.episode_seed(task, i)`` and loads initial state ``i``.
    """

    def __init__(self, name: str, protocol: EvalProtocol | None = None, **protocol_kwargs: Any) -> None:
        self.name = check_suite(name)
        self.protocol = protocol if protocol is not None else libero_protocol(name, **protocol_kwargs)
        if self.protocol.suite != name:
            raise ValueError(f"protocol.suite is {self.protocol.suite!r}, expected {name!r}")

    @property
    def tasks(self) -> tuple[str, ...]:
        return self.protocol.tasks

    @property
    def num_tasks(self) -> int:
        return len(self.protocol.tasks)

    def instruction(self, task_index: int) -> str:
        return task_instruction(self.name, task_index)

    def with_protocol(self, **changes: Any) -> LiberoSuite:
        """A copy with protocol fields changed (e.g. ``episodes_per_task=2``)."""
        return LiberoSuite(self.name, replace(self.protocol, **changes))

    def make_env(self, task_index: int, **env_kwargs: Any) -> Any:
        """A :class:`~envs.libero.env.LiberoEnv` for ``task_index`` following this protocol."""
        from envs.libero.env import LiberoEnv

        return LiberoEnv(self.name, task_index, protocol=self.protocol, **env_kwargs)

    def make_episode_env(self, task_index: int, episode_index: int, **env_kwargs: Any) -> tuple[Any, dict]:
        """Build the env and reset it for ``episode_index``; returns ``(env, first_obs)``."""
        env = self.make_env(task_index, **env_kwargs)
        obs, _ = env.reset(options={"episode_index": episode_index})
        return env, obs
