"""Where the bridge gets action chunks: a remote policy server or an in-process policy.

Both expose ``infer(obs) -> float [H, D]``, ``reset(instruction)``, ``close()`` and ``describe()``.
The remote source reconnects after a dropped link; the local source loads any policy spec via
``policies.load`` (imported lazily: the bridge itself never needs torch).

Runs under the robot's Python (3.8+).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from hardware.bridge_config import PolicySourceConfig
from hardware.client import PolicyClient


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
    def from_spec(cls, spec: str) -> LocalSource:
        from policies.load import load_policy  # lazy: only the in-process mode needs policies/

        return cls(load_policy(spec))

    def infer(self, obs: dict[str, Any]) -> np.ndarray:
        return np.asarray(self.policy.infer(obs))

    def reset(self, instruction: str) -> None:
        self.policy.reset(instruction)

    def close(self) -> None:
        pass

    def describe(self) -> str:
        return f"in-process {type(self.policy).__name__}"


def make_source(cfg: PolicySourceConfig) -> Any:
    """Build the source the config names (exactly one of ``server`` / ``local``)."""
    if cfg.server:
        key = None
        if cfg.api_key_env:
            key = os.environ.get(cfg.api_key_env)
            if not key:
                raise ValueError(f"policy.api_key_env: environment variable {cfg.api_key_env} is unset or empty")
        return RemoteSource(cfg.server, api_key=key, timeout_s=cfg.timeout_s)
    if cfg.local:
        return LocalSource.from_spec(cfg.local)
    raise ValueError("policy: set policy.server (ws://host:port) or policy.local (a policy spec)")
