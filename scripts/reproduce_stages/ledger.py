"""Stage timing: what each stage cost in this invocation and over every invocation on one ``--out``.

``StageClock`` runs a stage, announces it, sums its seconds for this invocation (the report's
``stage_seconds``) and books them in the ``WorkLedger`` (``<out>/work_seconds.json``, the report's
``work``), which survives kills and reruns.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


class WorkLedger:
    """Seconds each stage worked, summed over every invocation on the same ``--out``.

    Every stage resumes, so a later invocation (e.g. one that only regenerates the report with
    ``--notes``) finishes in seconds; its own stage times say nothing about the run. The ledger in
    ``<out>/work_seconds.json`` keeps what each stage cost when it did its work, and how many
    invocations it took, so the report states the whole run's cost and whether it ran in one go.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.data: dict[str, Any] = {"stages": {}, "invocations": []}
        if path.exists():
            self.data = json.loads(path.read_text())
        self.data["invocations"].append({"started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                                         "wall_s": None})
        self._save()

    def add(self, stage: str, seconds: float) -> None:
        self.data["stages"][stage] = self.data["stages"].get(stage, 0.0) + seconds
        self.data["invocations"][-1]["wall_s"] = None
        self._save()

    def finish(self, wall_s: float) -> dict[str, Any]:
        """Close this invocation; returns the ledger with the total work and the longest invocation."""
        self.data["invocations"][-1]["wall_s"] = wall_s
        self.data["total_work_s"] = sum(self.data["stages"].values())
        walls = [i["wall_s"] for i in self.data["invocations"] if i["wall_s"] is not None]
        #: one uninterrupted invocation did (nearly) all the work: its wall time is the run's
        self.data["one_invocation_s"] = max(walls) if walls else None
        self._save()
        return self.data

    def _save(self) -> None:
        self.path.write_text(json.dumps(self.data, indent=2))


class StageClock:
    """Times this invocation's stages: ``clock(name, fn, *args)`` runs ``fn(*args)`` as stage ``name``.

    The invocation's wall time starts when the clock is made; ``times`` holds each stage's seconds
    in this invocation (a stage run several times, e.g. ``sweep``, sums), and every stage's seconds
    are also added to the ledger at ``ledger_path``.
    """

    def __init__(self, ledger_path: Path) -> None:
        self.t_start = time.perf_counter()
        self.times: dict[str, float] = {}
        self.ledger = WorkLedger(ledger_path)

    def __call__(self, name: str, fn: Callable[..., Any], *a: Any) -> Any:
        t0 = time.perf_counter()
        print(f"[{time.strftime('%H:%M:%S')}] vla reproduce: {name}", flush=True)
        r = fn(*a)
        dt = time.perf_counter() - t0
        self.times[name] = self.times.get(name, 0.0) + dt
        self.ledger.add(name, dt)
        return r

    def finish(self) -> tuple[float, dict[str, Any]]:
        """Close this invocation: its wall time so far, and the ledger with it (``WorkLedger.finish``)."""
        wall_s = time.perf_counter() - self.t_start
        return wall_s, self.ledger.finish(wall_s)
