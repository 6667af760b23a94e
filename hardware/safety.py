"""Safety layer between the policy and the robot: action limits, rate limits, watchdog, e-stop.

* :class:`SafetyLimits` -- per-dimension bounds (``low`` / ``high``) and rate limits
  (``max_delta``: largest change of each dimension between two consecutive commands).
* :class:`ActionFilter` -- checks one action per control step: wrong shape, NaN / inf and (in
  ``drop`` mode) out-of-range actions are dropped (the caller holds the robot); otherwise the
  action is clipped to the bounds and rate-limited against the previous command.
* :class:`Watchdog` -- when each observation stream was last received; streams older than
  their timeout (or never received) are stale.
* :class:`InterventionLog` -- every intervention is logged (``logging``), counted per kind and
  kept in a bounded list of recent events, so a status topic or a test can read them.

Runs under the robot's Python (3.8+): numpy only.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

log = logging.getLogger("vla.safety")


def _per_dim(value: Any, dim: int, name: str, default: float) -> np.ndarray:
    """Scalar or list of ``dim`` numbers (``None`` entries mean ``default``) -> float64 ``[dim]``."""
    if value is None:
        return np.full(dim, default, dtype=np.float64)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return np.full(dim, float(value), dtype=np.float64)
    if not isinstance(value, (list, tuple)) or len(value) != dim:
        raise ValueError(f"safety.{name} must be a number or a list of {dim} numbers/nulls, got {value!r}")
    out = []
    for i, v in enumerate(value):
        if v is None:
            out.append(default)
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            out.append(float(v))
        else:
            raise ValueError(f"safety.{name}[{i}] must be a number or null, got {v!r}")
    return np.asarray(out, dtype=np.float64)


@dataclass
class SafetyLimits:
    """Per-dimension action bounds and rate limits (``inf`` = unlimited)."""

    low: np.ndarray
    high: np.ndarray
    max_delta: np.ndarray
    #: what to do with an action outside [low, high]: "clip" it, or "drop" it (hold instead)
    out_of_range: str = "clip"

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None, action_dim: int) -> SafetyLimits:
        d = dict(d or {})
        unknown = set(d) - {"low", "high", "max_delta", "out_of_range"}
        if unknown:
            raise ValueError(f"safety: unknown key(s) {sorted(unknown)}; expected low, high, max_delta, out_of_range")
        low = _per_dim(d.get("low"), action_dim, "low", -math.inf)
        high = _per_dim(d.get("high"), action_dim, "high", math.inf)
        max_delta = _per_dim(d.get("max_delta"), action_dim, "max_delta", math.inf)
        if np.any(high < low):
            raise ValueError(f"safety.high must be >= safety.low in every dimension, got low={low} high={high}")
        if np.any(max_delta <= 0):
            raise ValueError(f"safety.max_delta must be > 0 in every dimension, got {max_delta}")
        mode = d.get("out_of_range", "clip")
        if mode not in ("clip", "drop"):
            raise ValueError(f"safety.out_of_range must be 'clip' or 'drop', got {mode!r}")
        return cls(low=low, high=high, max_delta=max_delta, out_of_range=mode)


@dataclass
class Intervention:
    """One safety intervention: when (monotonic seconds), what kind, details."""

    t: float
    kind: str
    detail: str = ""


@dataclass
class InterventionLog:
    """Counts and remembers interventions; thread-safe."""

    max_events: int = 1000
    counts: dict[str, int] = field(default_factory=dict)
    events: deque[Intervention] = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, kind: str, detail: str = "", t: float | None = None) -> None:
        ev = Intervention(time.monotonic() if t is None else t, kind, detail)
        with self._lock:
            self.counts[kind] = self.counts.get(kind, 0) + 1
            self.events.append(ev)
            while len(self.events) > self.max_events:
                self.events.popleft()
        log.warning("safety intervention %s %s", kind, detail)

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self.counts)

    def recent(self, n: int = 20) -> list[Intervention]:
        with self._lock:
            return list(self.events)[-n:]


class ActionFilter:
    """Validates, clips and rate-limits actions, one control step at a time."""

    def __init__(self, limits: SafetyLimits, action_dim: int, interventions: InterventionLog | None = None) -> None:
        self.limits = limits
        self.action_dim = int(action_dim)
        self.log = interventions if interventions is not None else InterventionLog()
        self._last: np.ndarray | None = None

    def reset(self, last_command: Sequence[float] | None = None) -> None:
        """Forget (or set) the previous command that rate limits are measured against."""
        self._last = None if last_command is None else np.asarray(last_command, dtype=np.float64).copy()

    def note_command(self, command: Sequence[float]) -> None:
        """Tell the filter what was actually commanded (e.g. a hold), for the next rate limit."""
        self._last = np.asarray(command, dtype=np.float64).copy()

    def __call__(self, action: Any, t: float | None = None) -> np.ndarray | None:
        """Return the safe action (float64 ``[D]``), or ``None`` when it must be dropped."""
        try:
            a = np.asarray(action, dtype=np.float64)
        except (TypeError, ValueError):
            self.log.record("bad_action", f"not numeric: {type(action).__name__}", t)
            return None
        if a.shape != (self.action_dim,):
            self.log.record("bad_action", f"shape {a.shape}, expected ({self.action_dim},)", t)
            return None
        if not np.all(np.isfinite(a)):
            self.log.record("bad_action", f"non-finite values at dims {np.flatnonzero(~np.isfinite(a)).tolist()}", t)
            return None
        lim = self.limits
        outside = (a < lim.low) | (a > lim.high)
        if np.any(outside):
            dims = np.flatnonzero(outside).tolist()
            if lim.out_of_range == "drop":
                self.log.record("out_of_range_dropped", f"dims {dims}", t)
                return None
            self.log.record("clipped", f"dims {dims}", t)
            a = np.clip(a, lim.low, lim.high)
        if self._last is not None:
            lo, hi = self._last - lim.max_delta, self._last + lim.max_delta
            limited = (a < lo) | (a > hi)
            if np.any(limited):
                self.log.record("rate_limited", f"dims {np.flatnonzero(limited).tolist()}", t)
                a = np.clip(a, lo, hi)
        self._last = a.copy()
        return a


class Watchdog:
    """Tracks the receipt time of each observation stream; reports the stale ones."""

    def __init__(self, timeouts_s: dict[str, float]) -> None:
        for key, v in timeouts_s.items():
            if not v > 0:
                raise ValueError(f"watchdog timeout for {key!r} must be > 0 s, got {v}")
        self.timeouts_s = dict(timeouts_s)
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()

    def feed(self, key: str, t: float | None = None) -> None:
        with self._lock:
            self._last[key] = time.monotonic() if t is None else t

    def last(self, key: str) -> float | None:
        with self._lock:
            return self._last.get(key)

    def stale(self, now: float | None = None) -> list[str]:
        """Streams not received within their timeout (or never), in config order."""
        now = time.monotonic() if now is None else now
        with self._lock:
            return [k for k, to in self.timeouts_s.items() if k not in self._last or now - self._last[k] > to]

    def oldest(self) -> float | None:
        """Receipt time of the oldest watched stream (``None`` if one was never received)."""
        with self._lock:
            if any(k not in self._last for k in self.timeouts_s):
                return None
            return min((self._last[k] for k in self.timeouts_s), default=None)
