"""Suite registry and gymnasium registration for every simulator behind ``envs``.

A *suite* is a named list of ``TaskSpec`` (like a LIBERO suite): the embedded default
``tabletop-10`` is registered here. Other simulators add theirs with ``register_suite``.
Gymnasium ids (``vla/Tabletop-<Task>-v0``) are registered lazily by entry-point string, so
``import envs`` stays cheap (robosuite / MuJoCo load on the first ``gymnasium.make``).

    spec = envs.get_suite("tabletop-10")[0]
    env = spec.make(cameras=("agentview",))
    obs, info = env.reset(options={"init_state_index": 0})
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym

GYM_NAMESPACE = "vla"
TABLETOP_SUITE = "tabletop-10"
# Task names of the tabletop suite, in suite order (kept here so listing needs no robosuite).
TABLETOP_TASKS = (
    "PickCube", "PutInBowl", "PutOnPlate", "PutInBasket", "StackCubes",
    "PushLeft", "PushRight", "PushFront", "ChooseBowl", "ChoosePlate",
)
TABLETOP_MAX_STEPS = {
    "PickCube": 150, "PutInBowl": 220, "PutOnPlate": 220, "PutInBasket": 220, "StackCubes": 220,
    "PushLeft": 180, "PushRight": 180, "PushFront": 180, "ChooseBowl": 220, "ChoosePlate": 220,
}
NUM_INIT_STATES = 50


def tabletop_init_seeds(task: str, n: int = NUM_INIT_STATES) -> tuple[int, ...]:
    """Fixed evaluation initial states of a tabletop task, as episode seeds (disjoint per task)."""
    if task not in TABLETOP_TASKS:
        raise ValueError(f"task: expected one of {TABLETOP_TASKS}, got {task!r}")
    base = 1_000_000 + 10_000 * TABLETOP_TASKS.index(task)
    return tuple(range(base, base + n))


@dataclass(frozen=True)
class TaskSpec:
    """One task of a suite: how to build its env, its step budget and its fixed initial states."""

    name: str
    suite: str
    env_id: str  # gymnasium id
    max_steps: int
    init_states: tuple[Any, ...]  # tabletop: episode seeds; reset(options={"init_state_index": i})
    description: str = ""
    kwargs: dict[str, Any] = field(default_factory=dict)  # passed to gymnasium.make

    @property
    def num_init_states(self) -> int:
        return len(self.init_states)

    def make(self, **kwargs: Any) -> gym.Env:
        """Build the environment (``kwargs`` override e.g. ``cameras``, ``image_size``)."""
        return gym.make(self.env_id, disable_env_checker=True, **{**self.kwargs, **kwargs}).unwrapped


_SUITES: dict[str, Callable[[], list[TaskSpec]]] = {}


def register_suite(name: str, factory: Callable[[], list[TaskSpec]]) -> None:
    """Register a suite by name; ``factory`` returns its task specs (called on each lookup)."""
    _SUITES[name] = factory


def list_suites() -> list[str]:
    return sorted(_SUITES)


SUITE_ALIASES = {"tabletop": TABLETOP_SUITE}


def get_suite(name: str) -> list[TaskSpec]:
    """Task specs of the suite ``name`` (e.g. ``"tabletop-10"``; ``"tabletop"`` is an alias)."""
    name = SUITE_ALIASES.get(name, name)
    if name not in _SUITES:
        raise ValueError(f"suite: expected one of {list_suites()}, got {name!r}")
    return list(_SUITES[name]())


def make_suite(name: str) -> list[TaskSpec]:
    """Alias of ``get_suite``."""
    return get_suite(name)


def get_task_spec(suite: str, task: str) -> TaskSpec:
    for spec in get_suite(suite):
        if spec.name == task:
            return spec
    raise ValueError(f"task: expected one of {[s.name for s in get_suite(suite)]}, got {task!r}")


def tabletop_env_id(task: str) -> str:
    return f"{GYM_NAMESPACE}/Tabletop-{task}-v0"


def _tabletop_suite() -> list[TaskSpec]:
    return [
        TaskSpec(name=t, suite=TABLETOP_SUITE, env_id=tabletop_env_id(t), max_steps=TABLETOP_MAX_STEPS[t],
                 init_states=tabletop_init_seeds(t), kwargs={"task": t})
        for t in TABLETOP_TASKS
    ]


def register_gym_envs() -> None:
    """Register ``vla/Tabletop-<Task>-v0`` for every tabletop task (idempotent)."""
    for t in TABLETOP_TASKS:
        env_id = tabletop_env_id(t)
        if env_id not in gym.registry:
            gym.register(id=env_id, entry_point="envs.tabletop.env:TabletopEnv", kwargs={"task": t},
                         max_episode_steps=None, disable_env_checker=True)


register_suite(TABLETOP_SUITE, _tabletop_suite)
