"""Scripted policies that need no model: constant, random, replay and sine.

They implement :class:`policies.base.Policy` and are used to exercise everything around a
model -- the policy server, the ROS bridge, the safety layer, chunk execution, the closed loop
-- with known, checkable outputs. All of them are deterministic given their arguments (the
random policy is seeded and reseeded on ``reset``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from policies.base import Policy


def _vector(value: float | list[float] | np.ndarray, action_dim: int, name: str) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float32)
    if arr.ndim == 0:
        return np.full(action_dim, float(arr), dtype=np.float32)
    if arr.shape != (action_dim,):
        raise ValueError(f"{name} must be a scalar or a list of {action_dim} numbers, got shape {arr.shape}")
    return arr


def _check_dims(horizon: int, action_dim: int) -> None:
    if int(horizon) < 1:
        raise ValueError(f"horizon must be >= 1, got {horizon}")
    if int(action_dim) < 1:
        raise ValueError(f"action_dim must be >= 1, got {action_dim}")


class ConstantPolicy(Policy):
    """Always returns the same action (default: zeros, i.e. hold still with gripper value 0).

    ``latency_ms`` makes every call take that long (sleeping, as a call that waits on an
    accelerator does), for measuring a server or a control loop against a slow policy.
    """

    def __init__(self, value: float | list[float] = 0.0, horizon: int = 1, action_dim: int = 7,
                 latency_ms: float = 0.0) -> None:
        _check_dims(horizon, action_dim)
        if not float(latency_ms) >= 0:
            raise ValueError(f"latency_ms must be >= 0, got {latency_ms}")
        self.horizon, self.action_dim = int(horizon), int(action_dim)
        self.value = _vector(value, self.action_dim, "value")
        self.latency_s = float(latency_ms) / 1000.0

    def infer(self, obs: dict[str, Any]) -> np.ndarray:
        if self.latency_s:
            import time

            time.sleep(self.latency_s)
        return np.tile(self.value, (self.horizon, 1))

    def metadata(self) -> dict[str, Any]:
        return {**super().metadata(), "value": self.value.tolist()}


class RandomPolicy(Policy):
    """Uniform random actions in ``[low, high]`` per dimension; seeded, reseeded on ``reset``."""

    def __init__(
        self,
        low: float | list[float] = -1.0,
        high: float | list[float] = 1.0,
        horizon: int = 1,
        action_dim: int = 7,
        seed: int = 0,
    ) -> None:
        _check_dims(horizon, action_dim)
        self.horizon, self.action_dim = int(horizon), int(action_dim)
        self.low = _vector(low, self.action_dim, "low")
        self.high = _vector(high, self.action_dim, "high")
        if np.any(self.high < self.low):
            raise ValueError(f"high must be >= low in every dimension, got low={self.low} high={self.high}")
        self.seed = int(seed)
        self._rng = np.random.default_rng(self.seed)

    def reset(self, instruction: str = "") -> None:
        self._rng = np.random.default_rng(self.seed)

    def reseed(self, seed: int) -> None:
        """Use ``seed`` from now on (the runner reseeds per episode, so episodes differ)."""
        self.seed = int(seed)
        self._rng = np.random.default_rng(self.seed)

    def infer(self, obs: dict[str, Any]) -> np.ndarray:
        u = self._rng.random((self.horizon, self.action_dim), dtype=np.float32)
        return (self.low + u * (self.high - self.low)).astype(np.float32)


class ReplayPolicy(Policy):
    """Replays a recorded action sequence ``[T, D]`` chunk by chunk; holds the last action at the end.

    ``actions`` is an array or a path to ``.npy``, ``.npz`` (key ``actions``, or the only array),
    or ``.json`` (a list of lists, or a map with ``"actions"``). ``loop=True`` restarts instead of
    holding. ``reset`` rewinds to the start.
    """

    def __init__(self, actions: np.ndarray | str | Path, horizon: int = 1, loop: bool = False) -> None:
        arr = self.load_actions(actions) if isinstance(actions, (str, Path)) else np.asarray(actions, np.float32)
        if arr.ndim != 2 or arr.shape[0] < 1:
            raise ValueError(f"actions must have shape [T, D] with T >= 1, got {arr.shape}")
        _check_dims(horizon, arr.shape[1])
        self.actions = arr.astype(np.float32)
        self.horizon, self.action_dim = int(horizon), int(arr.shape[1])
        self.loop = bool(loop)
        self._t = 0

    @staticmethod
    def load_actions(path: str | Path) -> np.ndarray:
        """Read a ``[T, D]`` action array from .npy / .npz / .json."""
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"replay actions file not found: {path}")
        if path.suffix == ".npy":
            return np.load(path, allow_pickle=False).astype(np.float32)
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                if "actions" in z.files:
                    return z["actions"].astype(np.float32)
                if len(z.files) == 1:
                    return z[z.files[0]].astype(np.float32)
                raise ValueError(f"{path}: .npz must hold 'actions' or exactly one array, has {z.files}")
        if path.suffix == ".json":
            data = json.loads(path.read_text())
            if isinstance(data, dict):
                if "actions" not in data:
                    raise ValueError(f"{path}: JSON map must have key 'actions'")
                data = data["actions"]
            return np.asarray(data, dtype=np.float32)
        raise ValueError(f"{path}: replay actions must be .npy, .npz or .json, got {path.suffix!r}")

    def reset(self, instruction: str = "") -> None:
        self._t = 0

    def infer(self, obs: dict[str, Any]) -> np.ndarray:
        t_total = self.actions.shape[0]
        idx = np.arange(self._t, self._t + self.horizon)
        idx = idx % t_total if self.loop else np.minimum(idx, t_total - 1)
        self._t += self.horizon
        if self.loop:
            self._t %= t_total
        return self.actions[idx].copy()

    def metadata(self) -> dict[str, Any]:
        return {**super().metadata(), "length": int(self.actions.shape[0]), "loop": self.loop}


class SinePolicy(Policy):
    """Scripted smooth motion: ``a[t, d] = offset[d] + amplitude[d] * sin(2 pi t / period + phase[d])``.

    ``t`` counts control steps since ``reset`` (it advances by ``horizon`` per ``infer``), so the
    output is a known function of the call count -- handy for checking chunk execution and the
    robot side end to end.
    """

    def __init__(
        self,
        amplitude: float | list[float] = 0.5,
        period: float = 20.0,
        phase: float | list[float] = 0.0,
        offset: float | list[float] = 0.0,
        horizon: int = 1,
        action_dim: int = 7,
    ) -> None:
        _check_dims(horizon, action_dim)
        if not float(period) > 0:
            raise ValueError(f"period must be > 0 (in control steps), got {period}")
        self.horizon, self.action_dim = int(horizon), int(action_dim)
        self.amplitude = _vector(amplitude, self.action_dim, "amplitude")
        self.phase = _vector(phase, self.action_dim, "phase")
        self.offset = _vector(offset, self.action_dim, "offset")
        self.period = float(period)
        self._t = 0

    def reset(self, instruction: str = "") -> None:
        self._t = 0

    def action_at(self, t: np.ndarray | int) -> np.ndarray:
        """The action(s) at step(s) ``t``: ``[D]`` for an int, ``[len(t), D]`` for an array."""
        t = np.asarray(t, dtype=np.float64)
        angle = 2 * np.pi * t[..., None] / self.period + self.phase
        return (self.offset + self.amplitude * np.sin(angle)).astype(np.float32)

    def infer(self, obs: dict[str, Any]) -> np.ndarray:
        out = self.action_at(np.arange(self._t, self._t + self.horizon))
        self._t += self.horizon
        return out

    def metadata(self) -> dict[str, Any]:
        return {**super().metadata(), "period": self.period}
