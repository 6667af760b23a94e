"""Stage 5, text: the same NFE question on ParallelBench-style list tasks -> ``<out>/text``.

Runs ``scripts/parallelbench.py`` once (a folder with ``results.json`` is finished); skipped
with ``--no-text`` (and by ``--quick``).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def stage_text(args: argparse.Namespace, out: Path) -> dict[str, Any] | None:
    """Run the list-task benchmark into ``out`` unless finished; returns where its report and results are."""
    if args.no_text:
        return None
    if not (out / "results.json").exists():
        from scripts.parallelbench import main as pb_main

        rc = pb_main(["--out", str(out), "--seed", str(args.seed)])
        if rc:
            raise RuntimeError(f"scripts/parallelbench.py failed (exit {rc})")
    return {"report": str(out / "report.md"), "results": str(out / "results.json")}
