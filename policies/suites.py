"""Suites the evaluation runner knows: a protocol and a per-task env factory for each.

A :class:`Suite` adapts one simulator package (``envs/tabletop``, ``envs/libero``,
``envs/robosuite``, ``envs/maniskill``) to what the runner needs: ``protocol()`` (an
:class:`~envs.protocol.EvalProtocol`) and ``make_env(task, protocol)`` returning a gymnasium
env whose ``reset(seed=..., options={"init_state_index": i})`` starts episode ``i`` and whose
``step`` reports ``info["success"]``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from envs.protocol import EvalProtocol


@dataclass(frozen=True)
class Suite:
    name: str
    protocol: Callable[[], EvalProtocol]
    make_env: Callable[..., Any]


# ------------------------------------------------------------------------------- envs.registry suites
def _registry_protocol(name: str) -> Callable[[], EvalProtocol]:
    """Protocol of a suite registered in ``envs.registry`` (task specs with step limits, init states)."""

    def protocol() -> EvalProtocol:
        from envs.registry import get_suite as registry_suite

        specs = registry_suite(name)
        return EvalProtocol(
            suite=name,
            tasks=tuple(s.name for s in specs),
            episodes_per_task=min(s.num_init_states for s in specs),
            max_steps=max(int(s.max_steps) for s in specs),
            wait_steps=0,
            seed=0,
            image_size=128,
            image_flip="none",
            notes={
                "init_state": "episode i starts from the task's fixed initial state i (reset option init_state_index)",
                "max_steps": "per task: min(task max_steps, protocol.max_steps): "
                + ", ".join(f"{s.name}={s.max_steps}" for s in specs),
                "control": "7-D delta eef (OSC_POSE), 20 Hz, gripper -1 open / +1 closed",
                "success": "info['success']; the episode stops at the first success",
                "images": "upright as rendered (no flip)",
            },
        )

    return protocol


def _registry_env(task: str, protocol: EvalProtocol, **kwargs: Any) -> Any:
    from envs.registry import get_task_spec

    spec = get_task_spec(REGISTRY_NAMES.get(protocol.suite, protocol.suite), task)
    kwargs.setdefault("image_size", protocol.image_size)
    kwargs.setdefault("max_steps", min(int(spec.max_steps), int(protocol.max_steps)))
    return spec.make(**kwargs)


# ------------------------------------------------------------------------------- LIBERO
def _libero_protocol(name: str) -> Callable[[], EvalProtocol]:
    def protocol() -> EvalProtocol:
        from envs.libero.tasks import libero_protocol

        return libero_protocol(name)

    return protocol


def _libero_env(task: str, protocol: EvalProtocol, **kwargs: Any) -> Any:
    import gymnasium as gym

    from envs.libero.suites import LiberoSuite

    suite = LiberoSuite(protocol.suite, protocol)
    env = suite.make_env(protocol.tasks.index(task), **kwargs)

    class _InitStateIndex(gym.Wrapper):
        """LIBERO reseeds itself per episode from ``options["episode_index"]``."""

        def reset(self, *, seed: int | None = None, options: dict | None = None) -> Any:
            opts = dict(options or {})
            if "init_state_index" in opts:
                opts.setdefault("episode_index", opts.pop("init_state_index"))
            return self.env.reset(options=opts)

    return _InitStateIndex(env)


def _tabletop_protocol() -> EvalProtocol:
    from envs.tabletop.suite import tabletop_protocol

    return tabletop_protocol()


def _robosuite_protocol() -> EvalProtocol:
    from envs.robosuite.tasks import robosuite_protocol

    return robosuite_protocol()


def _maniskill_protocol() -> EvalProtocol:
    from envs.maniskill.tasks import maniskill_protocol

    return maniskill_protocol()


#: other names of a suite; any suite registered in ``envs.registry`` is also found by its own name
ALIASES = {"tabletop-10": "tabletop", "robosuite-classic": "robosuite", "maniskill3": "maniskill"}
#: protocol suite name -> ``envs.registry`` suite name
REGISTRY_NAMES = {"tabletop": "tabletop-10", "robosuite": "robosuite-classic"}

SUITES: dict[str, Suite] = {
    "tabletop": Suite("tabletop", _tabletop_protocol, _registry_env),
    "robosuite": Suite("robosuite", _robosuite_protocol, _registry_env),
    "maniskill": Suite("maniskill", _maniskill_protocol, _registry_env),
    **{
        n: Suite(n, _libero_protocol(n), _libero_env)
        for n in ("libero_spatial", "libero_object", "libero_goal", "libero_10", "libero_90")
    },
}


def known_suites() -> list[str]:
    """Suite names accepted by :func:`get_suite` (aliases included)."""
    names = set(SUITES) | set(ALIASES)
    try:
        from envs.registry import list_suites

        names |= set(list_suites())
    except ImportError:
        pass
    return sorted(names)


def get_suite(name: str) -> Suite:
    """The suite called ``name`` (``tabletop`` = ``tabletop-10``); a clear error listing the known ones."""
    name = ALIASES.get(name, name)
    if name in SUITES:
        return SUITES[name]
    try:
        from envs.registry import list_suites
    except ImportError:
        list_suites = list  # type: ignore[assignment]
    if name in list_suites():
        return Suite(name, _registry_protocol(name), _registry_env)
    raise ValueError(f"unknown suite {name!r}; expected one of {known_suites()}")
