"""Benchmark of LIBERO scenes on this machine: build / reset time and steps/s per render setting.

For each setting (cameras x image size, plus physics only) it builds one env, times the hard
reset of an episode and N control steps of a slowly moving arm, then estimates the wall time
of a full protocol evaluation of each suite (10 tasks x 50 episodes; per episode: one reset +
wait steps + an assumed mean episode length, by default the suite's max steps, i.e. a policy
that never succeeds, the worst case) with 1 and N parallel workers (processes scale until the
cores run out: we assume ideal scaling up to ``--cores``). Prints a table and writes JSON.

    python scripts/bench_libero.py --steps 40 --out bench_libero.json
    python scripts/bench_libero.py --expert-sr 5 --skip-speed   # + the LIBERO-Object expert on
                                                                #   the fixed init states 0..4

``--expert-sr N`` runs the scripted LIBERO-Object expert (``envs/libero/expert.py``, privileged
state, no action noise) from the protocol's fixed initial states 0..N-1 of each task (10 wait
steps, protocol max steps, physics only) and reports its success rate per task.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

SETTINGS: list[tuple[tuple[str, ...], int]] = [
    ((), 128),
    (("agentview",), 128),
    (("agentview", "eye_in_hand"), 128),
    (("agentview",), 256),
    (("agentview", "eye_in_hand"), 256),
]


def bench_setting(suite: str, task: int, cameras: tuple[str, ...], size: int, steps: int) -> dict[str, Any]:
    from envs.libero import LiberoSuite

    s = LiberoSuite(suite)
    t0 = time.perf_counter()
    env = s.make_env(task, image_size=size, cameras=cameras)
    build_s = time.perf_counter() - t0
    try:
        t0 = time.perf_counter()
        env.reset(options={"episode_index": 0})
        reset_s = time.perf_counter() - t0
        rng = np.random.default_rng(0)
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(steps):
            a = np.concatenate([rng.uniform(-0.3, 0.3, 3), np.zeros(3), [-1.0]])
            env.step(a)
        step_s = (time.perf_counter() - t0) / steps
        cpu_step_s = (time.process_time() - c0) / steps
    finally:
        env.close()
    return {
        "suite": suite,
        "task": task,
        "cameras": list(cameras),
        "image_size": size,
        "build_s": round(build_s, 3),
        "reset_s": round(reset_s, 3),
        "steps_per_s": round(1.0 / step_s, 2),
        "cpu_ms_per_step": round(1000.0 * cpu_step_s, 1),
    }


def suite_estimate(reset_s: float, steps_per_s: float, workers: int) -> dict[str, float]:
    from envs.libero.tasks import MAX_STEPS, WAIT_STEPS

    out = {}
    for suite, max_steps in MAX_STEPS.items():
        n_tasks = 90 if suite == "libero_90" else 10
        per_episode = reset_s + (WAIT_STEPS + max_steps) / steps_per_s
        out[suite] = round(n_tasks * 50 * per_episode / workers / 3600.0, 2)
    return out


def expert_success(episodes: int, tasks: list[int], progress: Any = None) -> dict[str, Any]:
    """The scripted LIBERO-Object expert from init states 0..episodes-1 of each task."""
    from envs.libero import LiberoSuite
    from envs.libero.expert import PickPlaceExpert

    s = LiberoSuite("libero_object")
    proto = s.protocol
    out: dict[str, Any] = {}
    for task in tasks:
        env = s.make_env(task, image_size=32, cameras=())
        wins, lengths, t0 = [], [], time.perf_counter()
        try:
            for i in range(episodes):
                env.reset(options={"episode_index": i})
                for _ in range(proto.wait_steps):
                    env.step(proto.dummy_action)
                expert = PickPlaceExpert(env)
                ok, steps = False, proto.max_steps
                for t in range(proto.max_steps):
                    if env.step(expert.act())[4]["success"]:
                        ok, steps = True, t + 1
                        break
                wins.append(ok)
                lengths.append(steps)
                if progress is not None:
                    progress.update(1)
        finally:
            env.close()
        out[proto.tasks[task]] = {"task_index": task, "sr": sum(wins) / len(wins), "successes": sum(wins),
                                  "episodes": len(wins), "failed_init_states": [i for i, w in enumerate(wins) if not w],
                                  "mean_steps": float(np.mean(lengths)), "wall_s": round(time.perf_counter() - t0, 1)}
    return out


def speed_table(args: argparse.Namespace, tqdm: Any) -> dict[str, Any]:
    """Build / reset / steps per second per render setting, and the full-suite time estimate."""
    rows = [bench_setting(args.suite, args.task, c, s, args.steps) for c, s in tqdm(SETTINGS, desc="settings")]
    print(f"\nLIBERO {args.suite} task {args.task}, {args.steps} steps per setting, {platform.processor() or platform.machine()}")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"load average at the end: {load:.1f} on {os.cpu_count()} cores (wall numbers scale with it)")
    print(f"{'cameras':<24} {'px':>4} {'build s':>8} {'reset s':>8} {'steps/s':>8} {'cpu ms/step':>12}")
    for r in rows:
        cams = "+".join(r["cameras"]) or "(physics only)"
        print(f"{cams:<24} {r['image_size']:>4} {r['build_s']:>8.2f} {r['reset_s']:>8.2f} {r['steps_per_s']:>8.2f} {r['cpu_ms_per_step']:>12.1f}")
    proto = next(r for r in rows if r["image_size"] == 256 and len(r["cameras"]) == 2)
    est = {
        "setting": "2 cameras, 256 px (protocol), every episode runs to max steps, policy time excluded",
        "hours_1_worker": suite_estimate(proto["reset_s"], proto["steps_per_s"], 1),
        f"hours_{args.cores}_workers": suite_estimate(proto["reset_s"], proto["steps_per_s"], args.cores),
    }
    print("\nEstimated full 50-episode evaluation (hours), simulator only, worst case (no early success):")
    for k in ("hours_1_worker", f"hours_{args.cores}_workers"):
        print(f"  {k}: " + ", ".join(f"{s} {h}" for s, h in est[k].items()))
    return {"rows": rows, "estimate": est, "load_average_1min": load}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--suite", default="libero_spatial", help="suite of the benchmarked scene")
    ap.add_argument("--task", type=int, default=0, help="task index of the benchmarked scene")
    ap.add_argument("--steps", type=int, default=40, help="control steps timed per setting")
    ap.add_argument("--cores", type=int, default=os.cpu_count() or 1, help="workers for the parallel estimate")
    ap.add_argument("--out", default="bench_libero.json", help="JSON output path")
    ap.add_argument("--expert-sr", type=int, default=0, metavar="N",
                    help="LIBERO-Object expert success from init states 0..N-1 of each task")
    ap.add_argument("--expert-tasks", default="0,1,2,3,4,5,6,7,8,9", help="task indices for --expert-sr")
    ap.add_argument("--skip-speed", action="store_true", help="only run --expert-sr")
    args = ap.parse_args(argv)
    if args.steps <= 0:
        ap.error("--steps must be positive")
    if args.skip_speed and args.expert_sr <= 0:
        ap.error("--skip-speed needs --expert-sr N")
    try:
        expert_tasks = [int(t) for t in args.expert_tasks.split(",") if t.strip()]
    except ValueError:
        ap.error(f"--expert-tasks: expected comma-separated task indices 0-9, got {args.expert_tasks!r}")
    if any(not 0 <= t <= 9 for t in expert_tasks):
        ap.error(f"--expert-tasks: expected task indices 0-9, got {args.expert_tasks!r}")
    os.environ.setdefault("MUJOCO_GL", "egl")
    os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover
        def tqdm(x, **_):  # type: ignore[no-redef]
            return x

    result: dict[str, Any] = {"python": sys.version.split()[0], "cpu_count": os.cpu_count()}
    if not args.skip_speed:
        result.update(speed_table(args, tqdm))
    if args.expert_sr > 0:
        bar = tqdm(total=args.expert_sr * len(expert_tasks), desc="expert", unit="ep")
        sr = expert_success(args.expert_sr, expert_tasks, bar if hasattr(bar, "update") else None)
        result["expert_success"] = {"suite": "libero_object", "init_states": list(range(args.expert_sr)),
                                    "noise": 0.0, "tasks": sr}
        print(f"\nLIBERO-Object scripted expert from init states 0..{args.expert_sr - 1} (published protocol otherwise)")
        print(f"{'task':<70} {'SR':>6} {'steps':>6}  failed init states")
        for name, r in sr.items():
            print(f"{name:<70} {r['successes']:>3}/{r['episodes']:<2} {r['mean_steps']:>6.0f}  {r['failed_init_states']}")
        total = sum(r["successes"] for r in sr.values())
        print(f"{'all':<70} {total:>3}/{args.expert_sr * len(sr)}")
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
