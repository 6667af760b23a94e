"""``load_policy(spec) -> Policy``: build any policy from a short text spec (CLI, server, bridge).

Spec grammar::

    NAME                          e.g. ``random``
    NAME:key=value,key=value      e.g. ``constant:value=[0.1,0,0,0,0,0,-1],horizon=4``
    package.module:ClassName[:key=value,...]   any importable Policy subclass

Values are parsed as JSON when they parse (numbers, lists, true/false), else kept as strings
(``replay:actions=demo.npy``). Names come from a registry that other parts extend with
:func:`register_policy` -- e.g. the VLA checkpoint loader registers ``checkpoint`` so that
``checkpoint:path=DIR`` (or a bare existing directory as the spec) loads a trained model.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from policies.base import Policy

PolicyFactory = Callable[..., Policy]

_REGISTRY: dict[str, PolicyFactory] = {}
#: names whose factory registers itself when this module is imported (heavy: torch), on first use
_LAZY: dict[str, str] = {"checkpoint": "policies.vla_policy", "vla": "policies.vla_policy"}


def register_policy(name: str, factory: PolicyFactory) -> None:
    """Make ``load_policy(name[:kwargs])`` call ``factory(**kwargs)``."""
    _REGISTRY[name] = factory


def registered_policies() -> list[str]:
    """Names accepted by :func:`load_policy` (besides ``module:Class`` paths)."""
    _register_builtins()
    return sorted(set(_REGISTRY) | set(_LAZY))


def _ensure(name: str) -> bool:
    """Import the module that registers ``name`` if needed; True when ``name`` is registered."""
    if name not in _REGISTRY and name in _LAZY:
        try:
            importlib.import_module(_LAZY[name])
        except ImportError as e:
            raise ValueError(f"policy {name!r} needs module {_LAZY[name]!r}, which failed to import: {e}") from e
    return name in _REGISTRY


def _register_builtins() -> None:
    if "random" in _REGISTRY:
        return
    from policies import simple

    _REGISTRY.setdefault("constant", simple.ConstantPolicy)
    _REGISTRY.setdefault("zero", lambda **kw: simple.ConstantPolicy(value=0.0, **kw))
    _REGISTRY.setdefault("random", simple.RandomPolicy)
    _REGISTRY.setdefault("replay", simple.ReplayPolicy)
    _REGISTRY.setdefault("sine", simple.SinePolicy)


def _split_top_level(text: str) -> list[str]:
    """Split on commas that are not inside brackets or quotes."""
    parts, depth, quote, cur = [], 0, "", []
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch in "[{(":
            depth += 1
        elif ch in "]})":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
            continue
        cur.append(ch)
    if cur:
        parts.append("".join(cur))
    return [p for p in (s.strip() for s in parts) if p]


def parse_kwargs(text: str) -> dict[str, Any]:
    """``"a=1,b=[1,2],c=x"`` -> ``{"a": 1, "b": [1, 2], "c": "x"}``."""
    out: dict[str, Any] = {}
    for item in _split_top_level(text):
        if "=" not in item:
            raise ValueError(f"policy argument {item!r} must look like key=value")
        key, raw = item.split("=", 1)
        key = key.strip()
        if not key.isidentifier():
            raise ValueError(f"policy argument name {key!r} is not a valid identifier")
        try:
            out[key] = json.loads(raw)
        except json.JSONDecodeError:
            out[key] = raw.strip()
    return out


def load_policy(spec: str, **overrides: Any) -> Policy:
    """Build the policy named by ``spec`` (see module doc); ``overrides`` win over spec kwargs."""
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError("policy spec must be a non-empty string like 'random' or 'constant:value=0.1'")
    _register_builtins()
    spec = spec.strip()
    if Path(spec).is_dir():
        if not _ensure("checkpoint"):
            raise ValueError(f"{spec!r} is a directory but no 'checkpoint' loader is registered")
        return _build(_REGISTRY["checkpoint"], {"path": spec, **overrides}, "checkpoint")
    head, _, rest = spec.partition(":")
    if _ensure(head):
        return _build(_REGISTRY[head], {**parse_kwargs(rest), **overrides}, head)
    if "." in head and rest:
        cls_name, _, kw = rest.partition(":")
        try:
            module = importlib.import_module(head)
        except ImportError as e:
            raise ValueError(f"policy spec {spec!r}: cannot import module {head!r}: {e}") from e
        factory = getattr(module, cls_name, None)
        if factory is None:
            raise ValueError(f"policy spec {spec!r}: module {head!r} has no attribute {cls_name!r}")
        return _build(factory, {**parse_kwargs(kw), **overrides}, f"{head}:{cls_name}")
    raise ValueError(
        f"unknown policy {head!r}; expected one of {sorted(_REGISTRY)} or 'package.module:ClassName'"
    )


def _build(factory: PolicyFactory, kwargs: dict[str, Any], name: str) -> Policy:
    try:
        policy = factory(**kwargs)
    except TypeError as e:
        raise ValueError(f"policy {name!r}: bad arguments {sorted(kwargs)}: {e}") from e
    if not isinstance(policy, Policy):
        raise ValueError(f"policy {name!r} built a {type(policy).__name__}, not a policies.base.Policy")
    return policy
