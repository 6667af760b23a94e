"""Stage 1, collect: scripted-expert demos of the tabletop tasks -> ``<out>/demos``.

DART-style: the expert's noise is executed, the clean actions are recorded. A folder with a
``summary.json`` is finished and is read back instead of collected again.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def stage_collect(args: argparse.Namespace, demos: Path) -> dict[str, Any]:
    """Collect ``args.demos_per_task`` demos per task into ``demos`` (or read the finished summary)."""
    if (demos / "summary.json").exists():
        return json.loads((demos / "summary.json").read_text())
    from envs.collect import collect

    return collect("tabletop-10", args.demos_per_task, demos, tasks=args.tasks,
                   image_size=64 if args.quick else 128, action_noise=args.action_noise, seed=args.seed,
                   progress=not args.no_progress, label="clean")
