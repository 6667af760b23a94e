"""Chunk execution: turn a policy's action chunks ``[H, D]`` into one action per control step.

Three strategies, all behind :class:`ChunkScheduler` (``reset()`` then ``act(obs)`` once per
control step, with the policy queried only when the strategy needs a new chunk):

* **open loop, K of H** (:class:`OpenLoopScheduler`): query the policy, execute the first
  ``K`` actions of the chunk, query again.
* **temporal ensembling** (:class:`TemporalEnsembleScheduler`, ACT, Zhao et al. 2023): query
  every ``query_every`` steps; the action at step ``t`` is the weighted average of every stored
  chunk's prediction for ``t``, with weights ``w_i = exp(-m * i)`` where ``i = 0`` is the
  *oldest* prediction (ACT's convention: ``m > 0`` favours older predictions, smoothing).
* **asynchronous inference** (:class:`AsyncScheduler`): the next chunk is computed while the
  current one executes. In simulation the policy's latency is expressed in control steps
  ``d``: a chunk requested with the observation of step ``r`` becomes available at step
  ``r + d``; its first ``d`` actions are then already in the past and are skipped. The request
  is issued ``d`` steps before the current chunk's ``K`` actions run out, so with ``d = 0`` it
  is exactly open-loop K of H. ``d`` is either fixed (reproducible) or measured from the
  policy's wall time (``latency_s * control_hz``, rounded up).

:class:`ActionClipper` clips every executed action to the robot's limits and counts clips.
"""

from __future__ import annotations

import math
import time
from abc import ABC, abstractmethod
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from policies.base import Policy


def check_chunk(chunk: Any, action_dim: int | None = None) -> np.ndarray:
    """Validate a policy output: a finite float array ``[H, D]`` with ``H >= 1``."""
    arr = np.asarray(chunk, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[0] < 1:
        raise ValueError(f"policy returned actions of shape {np.shape(chunk)}; expected [horizon, action_dim]")
    if action_dim is not None and arr.shape[1] != action_dim:
        raise ValueError(f"policy returned action_dim {arr.shape[1]}; expected {action_dim}")
    if not np.all(np.isfinite(arr)):
        raise ValueError("policy returned non-finite actions (NaN or inf)")
    return arr


@dataclass
class InferRecord:
    """One policy call: the step whose observation was used, wall time, decoder NFE."""

    step: int
    latency_s: float
    nfe: float | None = None
    latency_steps: int = 0


@dataclass
class SchedulerStats:
    """Per-episode statistics of the policy calls made by a scheduler."""

    calls: list[InferRecord] = field(default_factory=list)

    @property
    def n_infer(self) -> int:
        return len(self.calls)

    def mean_latency_s(self) -> float | None:
        return float(np.mean([c.latency_s for c in self.calls])) if self.calls else None

    def mean_nfe(self) -> float | None:
        vals = [c.nfe for c in self.calls if c.nfe is not None]
        return float(np.mean(vals)) if vals else None

    def nfe_per_call(self) -> list[float]:
        """Function evaluations of every policy call that reported them, in call order."""
        return [c.nfe for c in self.calls if c.nfe is not None]

    def max_nfe(self) -> float | None:
        vals = self.nfe_per_call()
        return float(max(vals)) if vals else None

    def mean_latency_steps(self) -> float | None:
        return float(np.mean([c.latency_steps for c in self.calls])) if self.calls else None


class ChunkScheduler(ABC):
    """Executes a policy's chunks one control step at a time."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.stats = SchedulerStats()
        self.t = 0

    def reset(self) -> None:
        """Forget all chunks; the next ``act`` starts a new episode at step 0."""
        self.stats = SchedulerStats()
        self.t = 0
        self._reset()

    @abstractmethod
    def _reset(self) -> None: ...

    def _infer(self, obs: dict[str, Any]) -> np.ndarray:
        """Call the policy with ``obs`` (step ``self.t``), validate and time it."""
        t0 = time.perf_counter()
        chunk = check_chunk(self.policy.infer(obs), getattr(self.policy, "action_dim", None))
        wall = time.perf_counter() - t0
        info = self.policy.last_infer_stats() or {}
        nfe = info.get("nfe")
        latency = float(info.get("latency_s", wall))
        self.stats.calls.append(InferRecord(self.t, latency, None if nfe is None else float(nfe)))
        return chunk

    @abstractmethod
    def _act(self, obs: dict[str, Any]) -> np.ndarray: ...

    def act(self, obs: dict[str, Any]) -> np.ndarray:
        """Action for the current step (the policy is called only when a chunk is needed)."""
        action = self._act(obs)
        self.t += 1
        return action

    def describe(self) -> dict[str, Any]:
        """Configuration recorded with results."""
        return {"mode": type(self).__name__}

    def needs_next_observation(self) -> bool:
        """Whether the next ``act`` will read its observation (so the env must render it)."""
        return True


class OpenLoopScheduler(ChunkScheduler):
    """Execute the first ``execute_steps`` (K) actions of each chunk, then query again."""

    def __init__(self, policy: Policy, execute_steps: int | None = None) -> None:
        super().__init__(policy)
        k = int(execute_steps or getattr(policy, "horizon", 1))
        if k < 1:
            raise ValueError(f"execute_steps must be >= 1, got {k}")
        self.execute_steps = k
        self._queue: deque[np.ndarray] = deque()

    def _reset(self) -> None:
        self._queue.clear()

    def _act(self, obs: dict[str, Any]) -> np.ndarray:
        if not self._queue:
            chunk = self._infer(obs)
            self._queue.extend(chunk[: self.execute_steps])
        return self._queue.popleft()

    def needs_next_observation(self) -> bool:
        return not self._queue  # the policy is called only when the chunk is used up

    def describe(self) -> dict[str, Any]:
        return {"mode": "open_loop", "execute_steps": self.execute_steps}


def ensemble_weights(n: int, m: float) -> np.ndarray:
    """ACT temporal-ensembling weights for ``n`` predictions, oldest first: ``exp(-m * i)``, normalised."""
    w = np.exp(-float(m) * np.arange(n, dtype=np.float64))
    return w / w.sum()


class TemporalEnsembleScheduler(ChunkScheduler):
    """ACT temporal ensembling: average all stored predictions for the current step."""

    def __init__(self, policy: Policy, m: float = 0.01, query_every: int = 1) -> None:
        super().__init__(policy)
        if query_every < 1:
            raise ValueError(f"query_every must be >= 1, got {query_every}")
        self.m = float(m)
        self.query_every = int(query_every)
        self._chunks: list[tuple[int, np.ndarray]] = []  # (start step, chunk), oldest first

    def _reset(self) -> None:
        self._chunks = []

    def _act(self, obs: dict[str, Any]) -> np.ndarray:
        t = self.t
        # drop chunks that no longer cover t, then query when due (or when nothing covers t)
        self._chunks = [(s, c) for s, c in self._chunks if t - s < len(c)]
        if t % self.query_every == 0 or not self._chunks:
            self._chunks.append((t, self._infer(obs)))
        preds = np.stack([c[t - s] for s, c in self._chunks])  # oldest first
        w = ensemble_weights(len(preds), self.m)
        return (w[:, None] * preds).sum(axis=0)

    def needs_next_observation(self) -> bool:
        t = self.t
        return t % self.query_every == 0 or not any(t - s < len(c) for s, c in self._chunks)

    def describe(self) -> dict[str, Any]:
        return {"mode": "temporal_ensemble", "m": self.m, "query_every": self.query_every}


class AsyncScheduler(ChunkScheduler):
    """Asynchronous inference simulated in control steps.

    ``latency_steps`` is an int ``d`` (fixed, reproducible) or ``"measured"`` (``d =
    ceil(latency_s * control_hz)`` of each call). A chunk requested at step ``r`` is used from
    step ``r + d`` on, starting at its index ``d``. The first chunk of an episode is computed
    before the robot moves (nothing to execute meanwhile), so it starts at index 0.
    """

    def __init__(
        self,
        policy: Policy,
        execute_steps: int | None = None,
        latency_steps: int | str = 0,
        control_hz: float = 20.0,
    ) -> None:
        super().__init__(policy)
        self.horizon = int(getattr(policy, "horizon", 1))
        k = int(execute_steps or self.horizon)
        self.execute_steps = k
        self.measured = latency_steps == "measured"
        self.fixed_latency = 0 if self.measured else int(latency_steps)
        self.control_hz = float(control_hz)
        if k < 1 or k > self.horizon:
            raise ValueError(f"execute_steps must be in [1, horizon={self.horizon}], got {k}")
        if not self.measured and not 0 <= self.fixed_latency <= k:
            raise ValueError(f"latency_steps must be in [0, execute_steps={k}], got {latency_steps}")
        if not self.measured and k + self.fixed_latency > self.horizon:
            raise ValueError(
                f"execute_steps + latency_steps = {k + self.fixed_latency} exceeds the horizon {self.horizon}: "
                "the chunk would run out before the next one arrives"
            )
        self._reset()

    def _reset(self) -> None:
        self._cur: np.ndarray | None = None
        self._cur_start = 0  # step at which the current chunk's index 0 applies
        self._cur_used_from = 0  # first step at which the current chunk is executed
        self._pending: tuple[int, int, np.ndarray] | None = None  # (arrival step, start step, chunk)

    def _latency_steps(self) -> int:
        if not self.measured:
            return self.fixed_latency
        d = math.ceil(self.stats.calls[-1].latency_s * self.control_hz - 1e-9)
        return max(0, min(d, self.execute_steps))

    def _act(self, obs: dict[str, Any]) -> np.ndarray:
        t = self.t
        if self._cur is None:  # first chunk: blocking
            self._cur, self._cur_start, self._cur_used_from = self._infer(obs), t, t
        if self._pending is not None and t >= self._pending[0]:
            arrival, start, chunk = self._pending
            self._cur, self._cur_start, self._cur_used_from, self._pending = chunk, start, arrival, None
        if self._pending is None:
            # request so the next chunk arrives when K actions of the current one are done
            due = self._cur_used_from + self.execute_steps
            d = self.fixed_latency
            if self.measured and self.stats.calls:
                d = self._latency_steps()
            if t >= due - d:
                chunk = self._infer(obs)
                d = self._latency_steps()
                self.stats.calls[-1].latency_steps = d
                if d == 0:
                    self._cur, self._cur_start, self._cur_used_from = chunk, t, t
                else:
                    self._pending = (t + d, t, chunk)
        idx = t - self._cur_start
        if idx >= len(self._cur):  # latency exceeded what the chunk covers: hold its last action
            idx = len(self._cur) - 1
        return self._cur[idx]

    def describe(self) -> dict[str, Any]:
        return {
            "mode": "async",
            "execute_steps": self.execute_steps,
            "latency_steps": "measured" if self.measured else self.fixed_latency,
            "control_hz": self.control_hz,
        }


class ActionClipper:
    """Clips actions to ``[low, high]`` (e.g. a gymnasium ``Box`` action space) and counts clips."""

    def __init__(self, low: Any, high: Any) -> None:
        self.low = np.asarray(low, dtype=np.float64)
        self.high = np.asarray(high, dtype=np.float64)
        if np.any(self.low > self.high):
            raise ValueError("action limits: low must be <= high")
        self.clipped_steps = 0

    @classmethod
    def from_space(cls, space: Any) -> ActionClipper | None:
        """Clipper for a gymnasium Box space; ``None`` when the space has no finite bounds."""
        low, high = getattr(space, "low", None), getattr(space, "high", None)
        if low is None or high is None:
            return None
        return cls(low, high)

    def __call__(self, action: np.ndarray) -> np.ndarray:
        out = np.clip(action, self.low, self.high)
        if not np.array_equal(out, action):
            self.clipped_steps += 1
        return out


@dataclass(frozen=True)
class ChunkingConfig:
    """Picklable description of a scheduler (travels to worker processes, recorded in results)."""

    mode: str = "open_loop"  # open_loop | ensemble | async
    execute_steps: int | None = None  # K (None: the full horizon)
    ensemble_m: float = 0.01
    query_every: int = 1
    latency_steps: int | str = 0  # async: int or "measured"
    control_hz: float = 20.0

    def build(self, policy: Policy) -> ChunkScheduler:
        if self.mode == "open_loop":
            return OpenLoopScheduler(policy, self.execute_steps)
        if self.mode == "ensemble":
            return TemporalEnsembleScheduler(policy, self.ensemble_m, self.query_every)
        if self.mode == "async":
            return AsyncScheduler(policy, self.execute_steps, self.latency_steps, self.control_hz)
        raise ValueError(f"chunking mode {self.mode!r}; expected one of open_loop, ensemble, async")
