"""Executors: episodes in, episode records out (in any order), behind one small interface.

An :class:`Executor` takes a :class:`~policies.runner.RolloutSetup` and a list of
:class:`~policies.runner.EpisodeSpec` and yields one record per episode as it finishes. The
runner and the results writer only see this interface, so a cluster engine (e.g. Ray: one
actor per worker holding a ``RolloutWorker``, ``ray.wait`` to yield as they finish) can run
the same episodes across machines without touching either.

* :class:`InProcessExecutor`: one worker in this process (debugging, 1 worker).
* :class:`ProcessPoolExecutor`: ``N`` worker processes (``spawn``: safe with MuJoCo/EGL and
  torch), each holding its own envs and policy. Results do not depend on ``N`` because every
  episode is fully determined by its spec (seed, init state) - see ``policies/runner.py``.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing as mp
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from typing import Any

from policies.runner import EpisodeSpec, RolloutSetup, RolloutWorker


class Executor(ABC):
    """Runs episodes; yields one record (a JSON-able dict) per finished episode."""

    @abstractmethod
    def run(self, setup: RolloutSetup, specs: Iterable[EpisodeSpec]) -> Iterator[dict[str, Any]]: ...

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release workers."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class InProcessExecutor(Executor):
    """Runs every episode sequentially in the calling process."""

    def __init__(self) -> None:
        self._worker: RolloutWorker | None = None
        self._setup: RolloutSetup | None = None

    def run(self, setup: RolloutSetup, specs: Iterable[EpisodeSpec]) -> Iterator[dict[str, Any]]:
        if self._worker is None or self._setup is not setup:
            self.close()
            self._worker, self._setup = RolloutWorker(setup), setup
        for spec in specs:
            yield self._worker.run(spec)

    def close(self) -> None:
        if self._worker is not None:
            self._worker.close()
        self._worker = None


_WORKER: RolloutWorker | None = None


def _init_worker(setup: RolloutSetup) -> None:
    global _WORKER
    _WORKER = RolloutWorker(setup)


def _run_in_worker(spec: EpisodeSpec) -> dict[str, Any]:
    assert _WORKER is not None, "worker not initialised"
    return _WORKER.run(spec)


class ProcessPoolExecutor(Executor):
    """Runs episodes on ``workers`` processes; yields records as they complete."""

    def __init__(self, workers: int, start_method: str = "spawn") -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.workers = int(workers)
        self.start_method = start_method
        self._pool: cf.ProcessPoolExecutor | None = None

    def run(self, setup: RolloutSetup, specs: Iterable[EpisodeSpec]) -> Iterator[dict[str, Any]]:
        specs = list(specs)
        if not specs:
            return
        self.close()
        self._pool = cf.ProcessPoolExecutor(
            max_workers=min(self.workers, len(specs)),
            mp_context=mp.get_context(self.start_method),
            initializer=_init_worker,
            initargs=(setup,),
        )
        futures = {self._pool.submit(_run_in_worker, s): s for s in specs}
        try:
            for fut in cf.as_completed(futures):
                yield fut.result()
        finally:
            for fut in futures:
                fut.cancel()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


def make_executor(workers: int) -> Executor:
    """In-process for one worker, a process pool otherwise."""
    return InProcessExecutor() if workers <= 1 else ProcessPoolExecutor(workers)
