"""Benchmark the tabletop suite: env speed, reset time, demo collection rate, expert success.

    python scripts/bench_envs.py                      # speed table (about a minute)
    python scripts/bench_envs.py --expert-sr 100      # + expert success over 100 seeds per task

Speed: control steps per second (20 Hz OSC_POSE control, 25 physics substeps each) with 0, 1
and 2 cameras at ``--image-size`` (default 128), taking random actions; ``make`` and ``reset``
times; demonstration collection rate (expert, both cameras, HDF5 written). Each rate is given
per wall-clock second and per CPU second of this process (the latter is what a quiet machine
would show when other jobs share the cores). Prints a table and writes JSON (``--out``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("PYOPENGL_PLATFORM", os.environ["MUJOCO_GL"])


class Clock:
    """Wall and process-CPU time of a block."""

    def __enter__(self):
        self.w, self.c = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall, self.cpu = time.perf_counter() - self.w, time.process_time() - self.c


def bench_steps(task: str, cameras: tuple[str, ...], size: int, steps: int) -> dict:
    from envs.tabletop.env import TabletopEnv

    with Clock() as make:
        env = TabletopEnv(task, cameras=cameras, image_size=size)
    rng = np.random.default_rng(0)
    env.reset(seed=0)
    env.step(np.zeros(7))  # warm up the renderer
    with Clock() as c:
        for _ in range(steps):
            _, _, term, trunc, _ = env.step(rng.uniform(-1, 1, 7))
            if term or trunc:
                env.reset()
    n_reset = 20
    with Clock() as r:
        for i in range(n_reset):
            env.reset(seed=i)
    env.close()
    return {"cameras": len(cameras), "image_size": size, "steps": steps,
            "steps_per_s_wall": steps / c.wall, "steps_per_s_cpu": steps / c.cpu,
            "reset_ms_wall": 1000 * r.wall / n_reset, "reset_ms_cpu": 1000 * r.cpu / n_reset,
            "make_s_wall": make.wall, "make_s_cpu": make.cpu}


def bench_collect(task: str, episodes: int, size: int) -> dict:
    from envs.collect import collect

    with tempfile.TemporaryDirectory() as tmp, Clock() as c:
        summary = collect("tabletop-10", episodes, tmp, tasks=[task], image_size=size, progress=False)
        size_mb = sum(p.stat().st_size for p in Path(tmp).glob("*.hdf5")) / 1e6
    steps = summary["tasks"][task]["steps"]
    return {"task": task, "episodes": summary["attempts"], "kept": summary["kept"], "steps": steps,
            "demos_per_min_wall": 60 * summary["kept"] / c.wall, "demos_per_min_cpu": 60 * summary["kept"] / c.cpu,
            "steps_per_s_wall": steps / c.wall, "steps_per_s_cpu": steps / c.cpu, "hdf5_mb": size_mb}


def expert_success(seeds: int, noise: float, tasks: list[str] | None = None, partial: Path | None = None) -> dict:
    from tqdm import tqdm

    from envs.tabletop.env import TabletopEnv
    from envs.tabletop.experts import make_expert
    from envs.tabletop.tasks import TASKS

    tasks = tasks or list(TASKS)
    out = {}
    bar = tqdm(total=seeds * len(tasks), desc="expert success", unit="ep")
    for task in tasks:
        env = TabletopEnv(task, cameras=())
        expert = make_expert(env, noise=noise, seed=0)
        ok, steps, failed = 0, [], []
        for seed in range(seeds):
            env.reset(seed=seed)
            info = {"success": False}
            for _ in range(env.max_steps):
                _, _, term, trunc, info = env.step(expert.act())
                if term or trunc:
                    break
            ok += info["success"]
            if info["success"]:
                steps.append(info["steps"])
            else:
                failed.append(seed)
            bar.update(1)
        env.close()
        out[task] = {"success_rate": ok / seeds, "episodes": seeds, "mean_steps": float(np.mean(steps or [0])),
                     "max_steps_used": int(max(steps or [0])), "max_steps": env.max_steps, "failed_seeds": failed}
        if partial is not None:  # keep finished tasks if the run is interrupted
            partial.parent.mkdir(parents=True, exist_ok=True)
            partial.write_text(json.dumps(out, indent=2))
    bar.close()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--task", default="PutInBowl", help="task used for the speed numbers")
    ap.add_argument("--image-size", type=int, default=128)
    ap.add_argument("--steps", type=int, default=300, help="control steps per speed measurement")
    ap.add_argument("--collect-episodes", type=int, default=3, help="episodes for the collection rate (0: skip)")
    ap.add_argument("--expert-sr", type=int, default=0, metavar="N", help="expert success over N seeds per task")
    ap.add_argument("--expert-noise", type=float, default=0.0, help="action noise for --expert-sr")
    ap.add_argument("--expert-tasks", default="", help="comma-separated tasks for --expert-sr (default: all)")
    ap.add_argument("--skip-speed", action="store_true", help="only run --expert-sr")
    ap.add_argument("--out", default="runs/bench_envs.json", help="JSON output path")
    args = ap.parse_args(argv)

    from envs.tabletop.render import RENDER_SETTINGS

    result: dict = {"machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                                "mujoco_gl": os.environ.get("MUJOCO_GL"),
                                "load_avg_1min": os.getloadavg()[0]},
                    "render_settings": RENDER_SETTINGS, "task": args.task}
    if not args.skip_speed:
        rows = []
        for cams in ((), ("agentview",), ("agentview", "eye_in_hand")):
            rows.append(bench_steps(args.task, cams, args.image_size, args.steps))
        result["speed"] = rows
        print(f"\ntabletop env speed ({args.task}, {args.image_size} px, 20 Hz control, random actions)")
        print(f"{'cameras':>7} | {'steps/s wall':>12} | {'steps/s cpu':>11} | {'reset ms':>8} | {'make s':>6}")
        for r in rows:
            print(f"{r['cameras']:>7} | {r['steps_per_s_wall']:>12.1f} | {r['steps_per_s_cpu']:>11.1f} | "
                  f"{r['reset_ms_wall']:>8.1f} | {r['make_s_wall']:>6.2f}")
        if args.collect_episodes > 0:
            c = bench_collect(args.task, args.collect_episodes, args.image_size)
            result["collect"] = c
            print(f"\ndemo collection ({args.task}, 2 cameras, {args.image_size} px, HDF5 written): "
                  f"{c['demos_per_min_wall']:.1f} demos/min wall ({c['demos_per_min_cpu']:.1f} per CPU-min), "
                  f"{c['steps_per_s_wall']:.1f} steps/s wall, {c['hdf5_mb'] / max(c['kept'], 1):.2f} MB/demo")
        result["machine"]["load_avg_1min_end"] = os.getloadavg()[0]
    if args.expert_sr > 0:
        tasks = [t for t in args.expert_tasks.split(",") if t] or None
        sr = expert_success(args.expert_sr, args.expert_noise, tasks, Path(args.out).with_suffix(".partial.json"))
        result["expert_success"] = {"seeds": args.expert_sr, "noise": args.expert_noise, "tasks": sr}
        print(f"\nexpert success over {args.expert_sr} seeds per task (noise {args.expert_noise})")
        print(f"{'task':<12} | {'success':>7} | {'mean steps':>10} | {'max used':>8} | {'limit':>5}")
        for t, r in sr.items():
            print(f"{t:<12} | {r['success_rate']:>7.2f} | {r['mean_steps']:>10.1f} | {r['max_steps_used']:>8} | "
                  f"{r['max_steps']:>5}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
