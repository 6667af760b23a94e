"""Stage 1, collect: scripted-expert demos of the tabletop tasks -> ``<out>/demos``.

DART-style: the expert's noise is executed, the clean actions are recorded. A folder with a
``summary.json`` is finished and is read back instead of collected again; ``--demos DIR`` reuses
demos collected before (e.g. the shipped recipe's) and collects nothing.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def read_summary(demos: Path) -> dict[str, Any]:
    """A finished demos folder's collection summary; one whose sub-folders were collected separately
    (e.g. the shipped recipe's ``a/`` and ``b/``) gets their kept / attempted counts summed."""
    if (demos / "summary.json").exists():
        return json.loads((demos / "summary.json").read_text())
    parts = [json.loads(f.read_text()) for f in sorted(demos.glob("*/summary.json"))]
    if not parts:
        raise FileNotFoundError(f"--demos: {demos} holds no summary.json (expected a `vla collect` output folder "
                                "or folders of them)")
    tasks = {t: v for p in parts for t, v in p.get("tasks", {}).items()}
    return {"kept": sum(p.get("kept", 0) for p in parts), "attempts": sum(p.get("attempts", 0) for p in parts),
            "episodes_per_task": parts[0].get("episodes_per_task"), "action_noise": parts[0].get("action_noise"),
            "tasks": tasks, "parts": [str(f.parent) for f in sorted(demos.glob("*/summary.json"))]}


def stage_collect(args: argparse.Namespace, demos: Path) -> dict[str, Any]:
    """Collect ``args.demos_per_task`` demos per task into ``demos`` (or read the finished summary)."""
    if (demos / "summary.json").exists() or getattr(args, "demos", ""):
        return read_summary(demos)
    from envs.collect import collect

    return collect("tabletop-10", args.demos_per_task, demos, tasks=args.tasks,
                   image_size=64 if args.quick else 128, action_noise=args.action_noise, seed=args.seed,
                   progress=not args.no_progress, label="clean")
