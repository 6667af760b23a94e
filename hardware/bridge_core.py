"""Transport-free heart of the ROS bridge: observation buffer, policy worker, safe control loop.

The ROS 1 and ROS 2 nodes only convert messages and call into :class:`BridgeCore`:
``observe(key, value)`` for each incoming observation, ``set_instruction``, ``estop``, the
start / stop / reset services, and a ``publish(Command)`` callback the control loop calls at
the control rate. Everything that decides what the robot does lives here, once:

* a worker thread asks the action source for a chunk when the current one is (nearly) used up,
  from a snapshot of fresh observations, so a slow policy never blocks the control loop;
* every control period the loop takes the next action, passes it through the
  :class:`~hardware.safety.ActionFilter` and publishes it -- or publishes a **hold** (zero
  twist with the gripper kept / the current joint positions) when observations are stale,
  the policy is late, the action is garbage, or the e-stop is latched. After a stale-data hold
  it resumes only with a chunk computed from observations received after the hold.

Runs under the robot's Python (3.8+): numpy only.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from hardware.bridge_config import BridgeConfig
from hardware.safety import ActionFilter, InterventionLog, Watchdog

log = logging.getLogger("vla.bridge")


@dataclass
class Command:
    """What to send to the robot this control period."""

    #: "act" (a policy action) or "hold" (stand still)
    kind: str
    #: action in the policy's action space (float64 [D]); None: nothing to publish
    action: np.ndarray | None
    #: why we hold ("" for "act")
    reason: str = ""
    t: float = 0.0


class BridgeCore:
    """Decides one command per control period from observations and policy chunks."""

    def __init__(self, config: BridgeConfig, source: Any, publish: Callable[[Command], None]) -> None:
        self.cfg = config
        self.source = source
        self.publish = publish
        self.interventions = InterventionLog()
        self.filter = ActionFilter(config.limits(), config.action_dim, self.interventions)
        self.watchdog = Watchdog(config.watched_streams())
        self._lock = threading.Condition()
        self._obs: dict[str, Any] = {}
        self._instruction = config.default_instruction
        self._pending_reset: str | None = config.default_instruction
        self._queue: deque = deque()
        self._chunk_obs_time = 0.0
        self._consumed_from_chunk = 0
        self._chunks_received = 0
        self._in_flight = False
        self._epoch = 0
        self._fresh_after = 0.0
        self.running = False
        self.estopped = False
        self.estop_reason = ""
        self._gripper = -1.0  # open until the policy says otherwise
        self._last_reason = ""
        self._shutdown = threading.Event()
        self.counts = {"act": 0, "hold": 0, "chunks": 0, "policy_errors": 0}
        self.infer_ms: deque = deque(maxlen=200)
        self._threads: list[threading.Thread] = []

    # -- inputs (called from transport callbacks) ------------------------------------------
    def observe(self, key: str, value: Any, stream: str | None = None, t: float | None = None) -> None:
        """Store the latest observation ``key`` and feed the watchdog for ``stream`` (default: key)."""
        with self._lock:
            self._obs[key] = value
        self.watchdog.feed(stream or key, t)

    def set_instruction(self, text: str) -> None:
        with self._lock:
            if text != self._instruction:
                self._instruction = text
                self._pending_reset = text
                self._drop_queue_locked()

    def estop(self, reason: str = "estop topic") -> None:
        """Latch the e-stop: hold every period until ``reset``."""
        with self._lock:
            if not self.estopped:
                self.interventions.record("estop", reason)
            self.estopped = True
            self.estop_reason = reason
            self._drop_queue_locked()

    # -- services ------------------------------------------------------------------------
    def start(self) -> tuple[bool, str]:
        with self._lock:
            if self.estopped:
                return False, f"e-stop latched ({self.estop_reason}): call reset first"
            if self.running:
                return True, "already running"
            self.running = True
            self._fresh_after = time.monotonic() - self.cfg.obs_timeout_s
            self._drop_queue_locked()
            self.filter.reset(self.hold_action())  # the first action ramps from standing still
            self._lock.notify_all()
        return True, f"running; actions from {self.source.describe()}"

    def stop(self) -> tuple[bool, str]:
        with self._lock:
            was = self.running
            self.running = False
            self._drop_queue_locked()
        if was:
            self._publish_hold("stopped", time.monotonic())
        return True, "stopped" if was else "already stopped"

    def reset(self) -> tuple[bool, str]:
        """Stop, clear the e-stop latch and reset the policy for a new episode."""
        self.stop()
        with self._lock:
            self.estopped = False
            self.estop_reason = ""
            self._pending_reset = self._instruction
            self._gripper = -1.0
            self.filter.reset()
        return True, "reset: e-stop cleared, stopped; call start"

    # -- worker: fetch chunks ------------------------------------------------------------
    def _drop_queue_locked(self) -> None:
        self._queue.clear()
        self._consumed_from_chunk = 0
        self._epoch += 1

    def _need_chunk_locked(self) -> bool:
        if not self.running or self.estopped or self._in_flight:
            return False
        if not self._queue:
            return True
        return self._consumed_from_chunk > 0 and len(self._queue) <= self.cfg.prefetch

    def _snapshot_locked(self) -> dict[str, Any]:
        obs = dict(self._obs)
        obs["instruction"] = self._instruction
        obs["prompt"] = self._instruction  # openpi servers read "prompt"
        return obs

    def _worker(self) -> None:
        period = self.cfg.period_s
        while not self._shutdown.is_set():
            with self._lock:
                if not self._need_chunk_locked():
                    self._lock.wait(timeout=period / 4)
                    continue
                now = time.monotonic()
                stale = self.watchdog.stale(now)
                obs_time = self.watchdog.oldest()
                if stale or obs_time is None or obs_time < self._fresh_after:
                    self._lock.wait(timeout=period / 4)
                    continue
                obs = self._snapshot_locked()
                epoch = self._epoch
                reset_to = self._pending_reset
                self._pending_reset = None
                self._in_flight = True
            try:
                if reset_to is not None:
                    self.source.reset(reset_to)
                t0 = time.perf_counter()
                chunk = self.source.infer(obs)
                self.infer_ms.append((time.perf_counter() - t0) * 1000.0)
            except Exception as e:  # noqa: BLE001 - a failing policy means: hold and retry
                with self._lock:
                    self._in_flight = False
                    self.counts["policy_errors"] += 1
                    if reset_to is not None and self._pending_reset is None:
                        self._pending_reset = reset_to
                self.interventions.record("policy_error", f"{type(e).__name__}: {e}")
                self._shutdown.wait(min(0.5, 2 * period))
                continue
            chunk = self._check_chunk(chunk)
            with self._lock:
                self._in_flight = False
                if chunk is None or epoch != self._epoch:
                    continue
                n = self.cfg.actions_per_chunk or len(chunk)
                self._queue = deque(chunk[:n])
                self._chunk_obs_time = obs_time
                self._consumed_from_chunk = 0
                self._chunks_received += 1
                self.counts["chunks"] += 1

    def _check_chunk(self, chunk: Any) -> np.ndarray | None:
        try:
            arr = np.asarray(chunk, dtype=np.float64)
        except (TypeError, ValueError):
            self.interventions.record("bad_chunk", f"not numeric: {type(chunk).__name__}")
            return None
        if arr.ndim == 1:
            arr = arr[None, :]
        if arr.ndim != 2 or arr.shape[0] < 1:
            self.interventions.record("bad_chunk", f"shape {arr.shape}, expected [H, {self.cfg.action_dim}]")
            return None
        return arr  # per-action checks (dim, NaN, limits) happen in the filter, step by step

    # -- control loop --------------------------------------------------------------------
    def hold_action(self) -> np.ndarray | None:
        """The 'stand still' command in action space, or None when it cannot be formed."""
        if self.cfg.action_mode == "eef_delta":
            a = np.zeros(self.cfg.action_dim)
            if self.cfg.action_dim == 7:
                a[6] = self._gripper
            return a
        if self.cfg.joint_action == "delta":
            return np.zeros(self.cfg.action_dim)
        with self._lock:
            q = self._obs.get("joint_positions")
        return None if q is None else np.asarray(q, dtype=np.float64).copy()

    def _publish_hold(self, reason: str, now: float) -> Command:
        a = self.hold_action()
        if a is not None:
            self.filter.note_command(a)
        cmd = Command("hold", a, reason, now)
        self.counts["hold"] += 1
        self.publish(cmd)
        return cmd

    def tick(self, now: float | None = None) -> Command | None:
        """Decide and publish this period's command (None while stopped)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            if self.estopped:
                reason = "estop"
            elif not self.running:
                return None
            else:
                reason = ""
                stale = self.watchdog.stale(now)
                if stale:
                    reason = "stale_obs:" + ",".join(stale)
                    self._fresh_after = now
                    if self._queue:
                        self._drop_queue_locked()
                elif not self._queue:
                    reason = "policy_late" if self._chunks_received else "awaiting_first_chunk"
                elif now - self._chunk_obs_time > self.cfg.max_chunk_age_s:
                    reason = "stale_chunk"
                    self._drop_queue_locked()
                else:
                    raw = self._queue.popleft()
                    self._consumed_from_chunk += 1
                self._lock.notify_all()
        if reason:
            # one intervention per episode of holding (a new reason), not one per period
            if reason != self._last_reason and reason not in ("estop", "awaiting_first_chunk"):
                self.interventions.record(reason.split(":")[0], reason, now)
            self._last_reason = reason
            return self._publish_hold(reason, now)
        self._last_reason = ""
        safe = self.filter(raw, now)
        if safe is None:
            return self._publish_hold("bad_action", now)
        if self.cfg.action_mode == "eef_delta" and self.cfg.action_dim == 7:
            self._gripper = float(safe[6])
        cmd = Command("act", safe, "", now)
        self.counts["act"] += 1
        self.publish(cmd)
        return cmd

    def _loop(self) -> None:
        period = self.cfg.period_s
        next_t = time.monotonic()
        while not self._shutdown.is_set():
            try:
                self.tick()
            except Exception:  # noqa: BLE001 - the loop must survive a publishing error
                log.exception("control tick failed")
            next_t += period
            delay = next_t - time.monotonic()
            if delay < -period:  # fell behind (suspended?): resynchronise instead of bursting
                next_t = time.monotonic()
                delay = 0.0
            self._shutdown.wait(max(0.0, delay))

    def start_threads(self) -> None:
        """Start the policy worker and the control loop (daemon threads)."""
        for target, name in ((self._worker, "vla-policy-worker"), (self._loop, "vla-control-loop")):
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)
        if self.cfg.autostart:
            self.start()

    def shutdown(self) -> None:
        self._shutdown.set()
        with self._lock:
            self._lock.notify_all()
        for t in self._threads:
            t.join(timeout=2)
        self.source.close()

    # -- status --------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        lat = sorted(self.infer_ms)
        with self._lock:
            queued = len(self._queue)
        return {
            "running": self.running,
            "estop": self.estopped,
            "estop_reason": self.estop_reason,
            "queued_actions": queued,
            "counts": dict(self.counts),
            "interventions": self.interventions.snapshot(),
            "infer_ms_median": lat[len(lat) // 2] if lat else None,
            "source": self.source.describe(),
        }
