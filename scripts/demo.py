"""``vla demo`` (``make demo``): evaluate the shipped tiny DD-VLA checkpoint on the tabletop suite.

Runs the closed loop (10 episodes per task by default, the suite's protocol) with the
checkpoint in ``checkpoints/tabletop-tiny-dd`` (trained by
``scripts/train_shipped_checkpoint.sh`` from demos the scripted expert collects; see the
README in that folder for the exact command, seeds and commit), prints the success-rate table
with Wilson 95% intervals, and writes the per-episode JSONL, summary, bar chart and videos
to a fresh folder under ``runs/demo/``. The SR is whatever the tiny checkpoint achieves,
reported as measured. Designed to finish in well under 15 minutes on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

from vla.cli_help import HelpFormatter

REPO = Path(__file__).resolve().parent.parent
DEFAULT_CHECKPOINT = REPO / "checkpoints" / "tabletop-tiny-dd"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="vla demo",
        description="Main job: closed-loop evaluation of the shipped tiny discrete-diffusion VLA checkpoint on "
        "the tabletop suite; prints the SR table and writes videos, a bar chart and JSON results.",
        formatter_class=HelpFormatter,
    )
    p.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT), help="VLA checkpoint folder")
    p.add_argument("--episodes-per-task", type=int, default=10)
    p.add_argument("--max-steps", type=int, default=None, help="cap on the per-task step limits (default: the suite's 150-220)")
    p.add_argument("--tasks", nargs="+", default=None, help="only these tasks (default: all)")
    p.add_argument("--workers", type=int, default=max(1, min(2, os.cpu_count() or 1)), help="env worker processes")
    p.add_argument("--decoder", default=None, help="decoder options, JSON or key=value pairs (e.g. 'steps=4')")
    p.add_argument("--execute-steps", type=int, default=None, help="actions executed per chunk (default: horizon)")
    p.add_argument("--out", default=None, help="results folder (default: runs/demo/<UTC time>)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted demo in --out")
    p.add_argument("--videos-per-task", type=int, default=1)
    p.add_argument("--no-progress", action="store_true")
    return p


def estimate_minutes(ckpt: Path, tasks: list[str], episodes: int, workers: int) -> float | None:
    """Expected wall minutes from the per-episode times of the checkpoint's recorded evaluation."""
    import json

    try:
        rows = {r["task"]: r for r in json.loads((ckpt / "eval.json").read_text())["tasks"]}
    except (OSError, KeyError, ValueError):
        return None
    times = [rows[t].get("mean_wall_time_s") for t in tasks if t in rows]
    times = [float(t) for t in times if t is not None]
    if not times:
        return None
    per_episode = sum(times) / len(times)
    return per_episode * episodes * len(tasks) / max(1, workers) / 60.0 + 0.5  # + start-up


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    os.environ.setdefault("MUJOCO_GL", "egl")
    os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
    ckpt = Path(args.checkpoint)
    if not (ckpt / "config.json").exists():
        print(
            f"vla demo: no checkpoint at {ckpt} (expected {ckpt / 'config.json'}); "
            "train one with scripts/train_shipped_checkpoint.sh",
            file=sys.stderr,
        )
        return 2
    if args.episodes_per_task < 1 or args.workers < 1:
        print("vla demo: --episodes-per-task and --workers must be >= 1", file=sys.stderr)
        return 2
    from policies.chunking import ChunkingConfig
    from policies.eval_cli import describe_policy
    from policies.evaluation import run_evaluation
    from policies.runner import RolloutSetup
    from policies.suites import get_suite

    protocol = get_suite("tabletop").protocol()
    changes = {"episodes_per_task": args.episodes_per_task}
    if args.max_steps:
        changes["max_steps"] = args.max_steps
    protocol = replace(protocol, **changes)
    from policies.eval_cli import parse_decoder

    overrides = {"device": "cpu", **({"decoder": parse_decoder(args.decoder)} if args.decoder else {})}
    spec = str(ckpt)
    out = Path(args.out) if args.out else REPO / "runs" / "demo" / time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    setup = RolloutSetup(
        env_factory="policies.factories:make_suite_env",
        policy_factory="policies.factories:make_policy",
        protocol=protocol,
        env_kwargs={"suite": "tabletop"},
        policy_kwargs={"spec": spec, **overrides},
        chunking=ChunkingConfig("open_loop", args.execute_steps),
        torch_threads=1,
    )
    tasks = list(args.tasks or protocol.tasks)
    from envs.registry import TABLETOP_MAX_STEPS

    limits = sorted({min(TABLETOP_MAX_STEPS.get(t, protocol.max_steps), protocol.max_steps) for t in tasks})
    print(
        f"vla demo: {ckpt.name} on tabletop, {len(tasks)} tasks x {args.episodes_per_task} episodes, "
        f"per-task step limits {limits[0]}-{limits[-1]}, {args.workers} workers -> {out}",
        flush=True,
    )
    estimate = estimate_minutes(ckpt, tasks, args.episodes_per_task, args.workers)
    if estimate is not None:
        print(f"vla demo: expected ~{estimate:.0f} min (per-episode times measured for this checkpoint in "
              f"{ckpt / 'eval.json'}; longer on a loaded machine)", flush=True)
    t0 = time.perf_counter()
    summary = run_evaluation(
        setup,
        str(out),
        describe_policy(spec, overrides),
        tasks=args.tasks,
        workers=args.workers,
        resume=args.resume,
        videos_per_task=args.videos_per_task,
        progress=not args.no_progress,
        command=["vla", "demo", *(sys.argv[2:] if argv is None else argv)],
    )
    wall = time.perf_counter() - t0
    print()
    print((out / "summary.md").read_text())
    videos = sorted((out / "videos").glob("*.mp4")) if (out / "videos").exists() else []
    print(f"episodes: {out / 'episodes.jsonl'}")
    print(f"summary:  {out / 'summary.json'}")
    print(f"plot:     {summary.get('plot', '(not written: ' + str(summary.get('plot_error')) + ')')}")
    for v in videos:
        print(f"video:    {v}")
    print(f"wall time: {wall:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
