"""Picklable factories the evaluation workers call: build a policy for a task, build a suite env.

Workers receive factories as ``"module:function"`` strings (see ``policies/runner.py``), so
these functions are the bridge from CLI options to objects inside each worker process:

* :func:`make_policy` ``(env, task, spec=...)``: ``expert`` (the suite's scripted expert for
  the task, built on the worker's env), a checkpoint directory / ``checkpoint:path=DIR`` (a
  VLA policy), or any :func:`policies.load.load_policy` spec (``random``, ``constant:...``,
  ``package.module:Class``).
* :func:`make_suite_env` ``(task, protocol, suite=...)``: the suite's gymnasium env for a task.
"""

from __future__ import annotations

from typing import Any

from envs.protocol import EvalProtocol
from policies.base import Policy


def make_policy(env: Any, task: str, spec: str = "random", **overrides: Any) -> Policy:
    """The policy named by ``spec`` for ``task`` (``env`` is used by the expert)."""
    head = spec.split(":", 1)[0].strip()
    if head == "expert":
        from policies.expert_policy import ExpertPolicy
        from policies.load import parse_kwargs

        kwargs = parse_kwargs(spec.split(":", 1)[1]) if ":" in spec else {}
        return ExpertPolicy(env, task, **{**kwargs, **overrides})
    import policies.vla_policy  # noqa: F401 - registers the 'checkpoint' / 'vla' loaders
    from policies.load import load_policy

    if head == "random" and "low" not in spec and "low" not in overrides:
        space = getattr(env, "action_space", None)
        if getattr(space, "low", None) is not None:  # uniform over the env's own action limits
            overrides = {"low": space.low.tolist(), "high": space.high.tolist(), **overrides}
    return load_policy(spec, **overrides)


def make_suite_env(task: str, protocol: EvalProtocol, suite: str | None = None, **kwargs: Any) -> Any:
    """The gymnasium env of ``task`` in ``suite`` (default: ``protocol.suite``)."""
    from policies.suites import get_suite

    return get_suite(suite or protocol.suite).make_env(task, protocol, **kwargs)
