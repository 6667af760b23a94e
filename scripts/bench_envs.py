"""Benchmark the tabletop suite: env speed, reset time, demo collection rate, expert success.

    python scripts/bench_envs.py                      # speed table (about a minute)
    python scripts/bench_envs.py --expert-sr 100      # + expert success over 100 seeds per task
    python scripts/bench_envs.py --suites tabletop,libero,maniskill   # + LIBERO and ManiSkill3 speed
    python scripts/bench_envs.py --suites maniskill --skip-speed --expert-sr 100   # ManiSkill experts

``--suites`` chooses whose speed is measured beside each other (default ``tabletop``):
``libero`` (``--libero-suite`` / ``--libero-task``, through ``scripts/bench_libero.py``) and
``maniskill`` (``--maniskill-task``; ManiSkill3 on SAPIEN, software Vulkan without a GPU; the
first frame of each env is not timed, it compiles the renderer's pipelines), each with 0, 1
and 2 cameras. ``--expert-sr`` measures the experts of each chosen suite that has them
(tabletop, maniskill) on seeds 0..N-1, which neither suite's evaluation nor collection uses.

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


def time_env(make_env, cameras: tuple[str, ...], size: int, steps: int, n_reset: int) -> dict:
    """Steps/s and reset time of the env ``make_env()`` builds (the first step, which warms up the
    renderer, is not timed)."""
    with Clock() as make:
        env = make_env()
    rng = np.random.default_rng(0)
    env.reset(seed=0)
    env.step(np.zeros(7))
    with Clock() as c:
        for _ in range(steps):
            _, _, term, trunc, _ = env.step(rng.uniform(-1, 1, 7))
            if term or trunc:
                env.reset()
    with Clock() as r:
        for i in range(n_reset):
            env.reset(seed=i)
    env.close()
    return {"cameras": len(cameras), "image_size": size, "steps": steps,
            "steps_per_s_wall": steps / c.wall, "steps_per_s_cpu": steps / c.cpu,
            "reset_ms_wall": 1000 * r.wall / n_reset, "reset_ms_cpu": 1000 * r.cpu / n_reset,
            "make_s_wall": make.wall, "make_s_cpu": make.cpu}


def bench_steps(task: str, cameras: tuple[str, ...], size: int, steps: int) -> dict:
    from envs.tabletop.env import TabletopEnv

    return time_env(lambda: TabletopEnv(task, cameras=cameras, image_size=size), cameras, size, steps, 20)


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


def bench_maniskill_steps(task: str, cameras: tuple[str, ...], size: int, steps: int) -> dict:
    from envs.maniskill.env import ManiSkillEnv

    # the first frame compiles the renderer's pipelines: not timed
    return time_env(lambda: ManiSkillEnv(task, cameras=cameras, image_size=size), cameras, size, steps, 10)


def bench_libero_steps(suite: str, task: int, cameras: tuple[str, ...], size: int, steps: int) -> dict:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_libero import bench_setting

    r = bench_setting(suite, task, cameras, size, steps)
    return {"cameras": len(cameras), "image_size": size, "steps": steps, "steps_per_s_wall": r["steps_per_s"],
            "steps_per_s_cpu": 1000.0 / max(r["cpu_ms_per_step"], 1e-9), "reset_ms_wall": 1000 * r["reset_s"],
            "make_s_wall": r["build_s"]}


def maniskill_expert_success(seeds: int, noise: float, tasks: list[str] | None = None,
                             partial: Path | None = None) -> dict:
    from tqdm import tqdm

    from envs.maniskill.env import ManiSkillEnv
    from envs.maniskill.experts import make_maniskill_expert
    from envs.maniskill.tasks import MANISKILL_TASKS

    tasks = tasks or list(MANISKILL_TASKS)
    out = {}
    bar = tqdm(total=seeds * len(tasks), desc="maniskill expert success", unit="ep")
    for task in tasks:
        env = ManiSkillEnv(task, cameras=())
        expert = make_maniskill_expert(env, noise=noise, seed=0)
        ok, steps, failed = 0, [], []
        for seed in range(seeds):
            obs, _ = env.reset(seed=seed)
            expert.reset()
            info = {"success": False}
            for _ in range(env.max_steps):
                obs, _, term, trunc, info = env.step(expert.act(obs))
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
        if partial is not None:
            partial.parent.mkdir(parents=True, exist_ok=True)
            partial.write_text(json.dumps(out, indent=2))
    bar.close()
    return out


def _print_speed(title: str, rows: list[dict]) -> None:
    print(f"\n{title}")
    print(f"{'cameras':>7} | {'steps/s wall':>12} | {'steps/s cpu':>11} | {'reset ms':>8} | {'make s':>6}")
    for r in rows:
        print(f"{r['cameras']:>7} | {r['steps_per_s_wall']:>12.1f} | {r['steps_per_s_cpu']:>11.1f} | "
              f"{r['reset_ms_wall']:>8.1f} | {r['make_s_wall']:>6.2f}")


def _print_expert(title: str, sr: dict) -> None:
    print(f"\n{title}")
    print(f"{'task':<12} | {'success':>7} | {'mean steps':>10} | {'max used':>8} | {'limit':>5}")
    for t, r in sr.items():
        print(f"{t:<12} | {r['success_rate']:>7.2f} | {r['mean_steps']:>10.1f} | {r['max_steps_used']:>8} | "
              f"{r['max_steps']:>5}")


SUITES = ("tabletop", "libero", "maniskill")
CAMERA_SETS = ((), ("agentview",), ("agentview", "eye_in_hand"))


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
    ap.add_argument("--suites", default="tabletop", help=f"comma-separated, some of {','.join(SUITES)}")
    ap.add_argument("--maniskill-task", default="PickCube", help="ManiSkill3 task used for the speed numbers")
    ap.add_argument("--libero-suite", default="libero_object", help="LIBERO suite used for the speed numbers")
    ap.add_argument("--libero-task", type=int, default=0, help="LIBERO task index used for the speed numbers")
    ap.add_argument("--out", default="runs/bench_envs.json", help="JSON output path")
    args = ap.parse_args(argv)
    suites = [x for x in args.suites.split(",") if x]
    for x in suites:
        if x not in SUITES:
            ap.error(f"--suites: expected some of {SUITES}, got {x!r}")

    from envs.tabletop.render import RENDER_SETTINGS

    result: dict = {"machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                                "mujoco_gl": os.environ.get("MUJOCO_GL"),
                                "load_avg_1min": os.getloadavg()[0]},
                    "render_settings": RENDER_SETTINGS, "task": args.task}
    if not args.skip_speed and "tabletop" in suites:
        rows = []
        for cams in CAMERA_SETS:
            rows.append(bench_steps(args.task, cams, args.image_size, args.steps))
        result["speed"] = rows
        _print_speed(f"tabletop env speed ({args.task}, {args.image_size} px, 20 Hz control, random actions)", rows)
    if not args.skip_speed and "libero" in suites:
        rows = [bench_libero_steps(args.libero_suite, args.libero_task, cams, args.image_size, args.steps)
                for cams in CAMERA_SETS]
        result["libero_speed"] = {"suite": args.libero_suite, "task": args.libero_task, "rows": rows}
        _print_speed(f"LIBERO env speed ({args.libero_suite} task {args.libero_task}, {args.image_size} px, "
                     "20 Hz control, slow random arm moves)", rows)
    if not args.skip_speed and "maniskill" in suites:
        rows = [bench_maniskill_steps(args.maniskill_task, cams, args.image_size, args.steps) for cams in CAMERA_SETS]
        result["maniskill_speed"] = {"task": args.maniskill_task, "rows": rows}
        _print_speed(f"ManiSkill3 env speed ({args.maniskill_task}, {args.image_size} px, 20 Hz pd_ee_delta_pose, "
                     "random actions)", rows)
    if not args.skip_speed and "tabletop" in suites:
        if args.collect_episodes > 0:
            c = bench_collect(args.task, args.collect_episodes, args.image_size)
            result["collect"] = c
            print(f"\ndemo collection ({args.task}, 2 cameras, {args.image_size} px, HDF5 written): "
                  f"{c['demos_per_min_wall']:.1f} demos/min wall ({c['demos_per_min_cpu']:.1f} per CPU-min), "
                  f"{c['steps_per_s_wall']:.1f} steps/s wall, {c['hdf5_mb'] / max(c['kept'], 1):.2f} MB/demo")
        result["machine"]["load_avg_1min_end"] = os.getloadavg()[0]
    if args.expert_sr > 0 and "tabletop" in suites:
        tasks = [t for t in args.expert_tasks.split(",") if t] or None
        sr = expert_success(args.expert_sr, args.expert_noise, tasks, Path(args.out).with_suffix(".partial.json"))
        result["expert_success"] = {"seeds": args.expert_sr, "noise": args.expert_noise, "tasks": sr}
        _print_expert(f"expert success over {args.expert_sr} seeds per task (noise {args.expert_noise})", sr)
    if args.expert_sr > 0 and "maniskill" in suites:
        tasks = [t for t in args.expert_tasks.split(",") if t] or None
        sr = maniskill_expert_success(args.expert_sr, args.expert_noise, tasks,
                                      Path(args.out).with_suffix(".maniskill.partial.json"))
        result["maniskill_expert_success"] = {"seeds": args.expert_sr, "noise": args.expert_noise, "tasks": sr}
        _print_expert(f"ManiSkill3 expert success over {args.expert_sr} seeds per task (noise {args.expert_noise})",
                      sr)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
