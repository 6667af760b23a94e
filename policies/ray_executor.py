"""Ray executor: the same rollouts as the process executor, spread over a Ray cluster.

``RayExecutor(workers, address=...)`` starts ``workers`` Ray actors (one CPU each, spread over
the cluster's nodes), each holding one :class:`~policies.runner.RolloutWorker`, keeps one
episode in flight per actor and yields records as they finish (``ray.wait``). Episodes are fully
determined by their specs, so the records equal the process executor's except the fields in
:data:`~policies.runner.TIMING_FIELDS` (timings, worker pid, ``worker_node``: the Ray node id).

Failures: an actor that dies (its node lost, its process killed) loses only its in-flight
episode, which is retried once on a live actor; when no actor is left the run raises
:class:`RayWorkersLost` after every finished episode has been yielded, and ``vla eval --resume``
completes the rest. Ctrl-C kills the actors; the results store keeps what finished.

Without ``address`` a private local Ray runtime is started (``num_cpus``: its CPU count) and
shut down on :meth:`close`; with one (``auto``, ``HOST:PORT`` or ``ray://HOST:PORT``) the
executor connects to that cluster and only disconnects. Workers get this checkout on their
``PYTHONPATH`` and the MuJoCo rendering variables of the driver, so an uninstalled checkout runs.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from policies.executor import Executor
from policies.runner import EpisodeSpec, RolloutSetup, RolloutWorker

#: environment variables the driver passes on to Ray workers (rendering back-end, threads)
FORWARDED_ENV = ("MUJOCO_GL", "PYOPENGL_PLATFORM", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


class RayWorkersLost(RuntimeError):
    """Every Ray actor died; the episodes not yielded must be run again (``--resume``)."""


class _RolloutActor:
    """A Ray actor's state: one :class:`RolloutWorker` for the run's setup."""

    def __init__(self, setup: RolloutSetup) -> None:
        self.worker = RolloutWorker(setup)

    def run(self, spec: EpisodeSpec) -> dict[str, Any]:
        import ray

        rec = self.worker.run(spec)
        rec["worker_node"] = ray.get_runtime_context().get_node_id()
        return rec

    def pid(self) -> int:
        return os.getpid()

    def close(self) -> None:
        self.worker.close()


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as e:  # pragma: no cover - ray is a dependency of the project
        raise RuntimeError("--executor ray needs the 'ray' package (pip install 'ray==2.60.0')") from e
    return ray


def runtime_env() -> dict[str, Any]:
    """Worker environment: this checkout importable, the driver's rendering variables."""
    root = str(Path(__file__).resolve().parents[1])
    path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)
    env = {"PYTHONPATH": path}
    env.update({k: os.environ[k] for k in FORWARDED_ENV if k in os.environ})
    return {"env_vars": env}


class RayExecutor(Executor):
    """Runs episodes on ``workers`` Ray actors (a local runtime, or the cluster at ``address``)."""

    def __init__(self, workers: int, address: str | None = None, num_cpus: int | None = None,
                 cpus_per_worker: float = 1.0, retries: int = 1) -> None:
        if workers < 1:
            raise ValueError(f"workers: expected >= 1, got {workers}")
        if num_cpus is not None and num_cpus < 1:
            raise ValueError(f"num_cpus: expected >= 1, got {num_cpus}")
        if address is not None and num_cpus is not None:
            raise ValueError("num_cpus: only for a local Ray runtime (no address); a cluster has its own CPUs")
        self.workers = int(workers)
        self.address = address
        self.num_cpus = num_cpus
        self.cpus_per_worker = float(cpus_per_worker)
        self.retries = int(retries)
        self._ray: Any = None
        self._owns = False  # this executor connected (or started) the Ray runtime, so it disconnects
        self._actors: list[Any] = []
        self._local_pids: set[int] = set()  # actor processes on this machine (a local runtime), reaped on close

    def _connect(self) -> Any:
        ray = _import_ray()
        if not ray.is_initialized():
            self._owns = True
            kw: dict[str, Any] = {"runtime_env": runtime_env(), "include_dashboard": False,
                                  "log_to_driver": False, "configure_logging": False}
            if self.address:
                ray.init(address=self.address, **kw)
            else:
                ray.init(num_cpus=self.num_cpus or self.workers, **kw)
        self._ray = ray
        return ray

    def nodes(self) -> list[str]:
        """Ids of the cluster's live nodes."""
        ray = self._ray or self._connect()
        return [n["NodeID"] for n in ray.nodes() if n.get("Alive")]

    def actor_pids(self) -> list[int]:
        """Process ids of the live actors of the current run (for tests and monitoring)."""
        ray = self._ray
        return [ray.get(a.pid.remote()) for a in self._actors] if ray else []

    def run(self, setup: RolloutSetup, specs: Iterable[EpisodeSpec]) -> Iterator[dict[str, Any]]:
        specs = list(specs)
        if not specs:
            return
        ray = self._connect()
        from ray.exceptions import RayActorError

        remote = ray.remote(_RolloutActor).options(num_cpus=self.cpus_per_worker, scheduling_strategy="SPREAD",
                                                  max_restarts=0)
        self._kill_actors()
        self._actors = [remote.remote(setup) for _ in range(min(self.workers, len(specs)))]
        if self.address is None:  # a local runtime: remember the processes, to make sure they end
            try:
                self._local_pids.update(ray.get([a.pid.remote() for a in self._actors], timeout=120))
            except Exception:  # noqa: BLE001 - an actor that did not start is reported by the run below
                pass
        queue: deque[tuple[EpisodeSpec, int]] = deque((s, 0) for s in specs)
        inflight: dict[Any, tuple[Any, EpisodeSpec, int]] = {}
        live = list(self._actors)
        lost: list[str] = []

        def submit(actor: Any) -> None:
            if queue:
                spec, tries = queue.popleft()
                inflight[actor.run.remote(spec)] = (actor, spec, tries)

        for actor in live:
            submit(actor)
        try:
            while inflight:
                (ref,), _ = ray.wait(list(inflight), num_returns=1)
                actor, spec, tries = inflight.pop(ref)
                try:
                    rec = ray.get(ref)
                except RayActorError as e:
                    if actor in live:
                        live.remove(actor)
                    if tries < self.retries:
                        queue.appendleft((spec, tries + 1))
                    else:
                        lost.append(f"{spec.task} episode {spec.episode}: {type(e).__name__}")
                    busy = {id(a) for a, _, _ in inflight.values()}
                    for idle in [a for a in live if id(a) not in busy]:
                        submit(idle)
                    continue
                yield rec
                submit(actor)
            if queue or lost:
                raise RayWorkersLost(
                    f"Ray workers lost: {len(lost) + len(queue)} episode(s) not run "
                    f"({'; '.join(lost[:3]) or 'no live actor left'}); finished episodes are saved - "
                    "run again with --resume to complete them")
        finally:
            self._kill_actors()

    def _kill_actors(self) -> None:
        for actor in self._actors:
            try:
                self._ray.kill(actor)
            except Exception:  # noqa: BLE001 - already dead
                pass
        self._actors = []

    def close(self) -> None:
        if self._ray is None:
            return
        self._kill_actors()
        if self._owns and self._ray.is_initialized():
            self._ray.shutdown()
        self._ray = None
        self._owns = False
        _reap(self._local_pids)
        self._local_pids = set()


def _reap(pids: set[int], timeout_s: float = 15.0) -> None:
    """Wait for this machine's actor processes to end after Ray let them go (killing an actor
    returns before its process exits, and a loaded machine can take seconds); SIGKILL what is
    still a Ray actor after ``timeout_s``, so that no process outlives the evaluation."""
    import signal
    import time

    def alive(pid: int) -> bool:
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return False
        return b"_RolloutActor" in cmd  # not a reused pid, not a zombie (empty cmdline)

    deadline = time.monotonic() + timeout_s
    left = {p for p in pids if alive(p)}
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = {p for p in left if alive(p)}
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
