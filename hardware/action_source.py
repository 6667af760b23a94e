"""Where the bridge gets action chunks: a remote policy server or an in-process policy.

Both expose ``infer(obs) -> float [H, D]``, ``reset(instruction)``, ``close()`` and ``describe()``.
The remote source reconnects after a dropped link. The local source wraps a policy object built
by a loader the caller passes in (``make_source(cfg, load_policy=...)``; ``vla ros-bridge`` passes
``policies.load.load_policy``): this module never imports the policy stack, so the robot side
needs only numpy, msgpack and websockets.

Runs under the robot's Python (3.8+).
"""

from __future__ import annotations

import os
from collections.abc import Callable  # noqa: F401  (named by the PolicyLoader alias)
from typing import Any

import numpy as np

from hardware.bridge_config import PolicySourceConfig
from hardware.client import PolicyClient

#: ``spec -> policy object`` (anything with ``infer`` / ``reset``), e.g. ``policies.load.load_policy``.
#: A string alias: subscripting collections.abc.Callable at runtime fails on Python 3.8.
PolicyLoader = "Callable[[str], Any]"


class RemoteSource:
    """Action chunks from a policy server (ours or openpi's) over websocket."""

    def __init__(self, uri: str, api_key: str | None = None, timeout_s: float = 2.0) -> None:
        self.client = PolicyClient(uri, api_key=api_key, timeout_s=timeout_s, connect_now=False)

    def infer(self, obs: dict[str, Any]) -> np.ndarray:
        if not self.client.connected:
            self.client.connect()
        return self.client.infer_chunk(obs)

    def reset(self, instruction: str) -> None:
        if not self.client.connected:
            self.client.connect()
        try:
            self.client.reset(instruction)
        except RuntimeError:
            pass  # an openpi server does not know our reset message; it keeps no episode state

    def close(self) -> None:
        self.client.close()

    def describe(self) -> str:
        return f"server {self.client.uri}"


class LocalSource:
    """Action chunks from a policy object in this process (anything with ``infer`` / ``reset``)."""

    def __init__(self, policy: Any) -> None:
        self.policy = policy

    @classmethod
    def from_spec(cls, spec: str, load_policy: PolicyLoader) -> LocalSource:
        """Build the policy named by ``spec`` with the caller's loader."""
        return cls(load_policy(spec))

    def infer(self, obs: dict[str, Any]) -> np.ndarray:
        return np.asarray(self.policy.infer(obs))

    def reset(self, instruction: str) -> None:
        self.policy.reset(instruction)

    def close(self) -> None:
        pass

    def describe(self) -> str:
        return f"in-process {type(self.policy).__name__}"


def make_source(cfg: PolicySourceConfig, load_policy: PolicyLoader | None = None) -> Any:
    """Build the source the config names (exactly one of ``server`` / ``local``).

    ``load_policy`` builds in-process policies (``policy.local``); without one only a policy
    server can be used.
    """
    if cfg.server:
        key = None
        if cfg.api_key_env:
            key = os.environ.get(cfg.api_key_env)
            if not key:
                raise ValueError(f"policy.api_key_env: environment variable {cfg.api_key_env} is unset or empty")
        return RemoteSource(cfg.server, api_key=key, timeout_s=cfg.timeout_s)
    if cfg.local:
        if load_policy is None:
            raise ValueError(
                f"policy.local {cfg.local!r}: an in-process policy needs the policy stack; run `vla ros-bridge` "
                "(python -m policies.ros_bridge_cli) or use a policy server (policy.server / --server)"
            )
        return LocalSource.from_spec(cfg.local, load_policy)
    raise ValueError("policy: set policy.server (ws://host:port) or policy.local (a policy spec)")
