"""Evaluation scaling: the same episodes with 1 and 2 process workers, and on Ray with 1 and 2 nodes.

Each configuration runs ``vla eval`` as a subprocess on the same episodes (fixed seeds and init
states) and reads its summary: wall time, episodes per minute, and the split of episode time
between policy inference, env stepping and rendering. Prints a table with the speed-up over one
process worker and writes JSON. The Ray rows start a private cluster (``ray start --head`` with
one CPU, then a second node with one CPU) on 127.0.0.1 and stop it afterwards.

    python scripts/bench_eval_scaling.py                         # shipped checkpoint, 2 tasks x 8 episodes
    python scripts/bench_eval_scaling.py --policy expert --episodes-per-task 10 --no-ray

Ray advertises the machine's non-loopback address; to keep its traffic on loopback (as on the CI
machine) run the benchmark inside a network namespace holding only ``lo``:
``unshare --net bash -c 'ip link set lo up && python scripts/bench_eval_scaling.py'`` (root).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def load_average() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def run_eval(args: argparse.Namespace, out: Path, extra: list[str], env: dict[str, str]) -> dict:
    cmd = [sys.executable, "-m", "vla.cli", "eval", "--policy", args.policy, "--suite", args.suite,
           "--tasks", *args.tasks, "--episodes-per-task", str(args.episodes_per_task), "--videos-per-task", "0",
           "--no-progress", "--threads", "1", "--out", str(out), "--json", *extra]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    summary = json.loads((out / "summary.json").read_text())
    tm = summary["timing"]
    return {"process_wall_s": wall, "eval_wall_s": tm["eval_wall_time_s"], "episodes": tm["episodes_this_run"],
            "episodes_per_min": tm["episodes_per_min"], "split_fraction": tm["split_fraction"],
            "sr": summary["overall"]["sr"]}


def _outcomes(out: Path) -> list[tuple]:
    recs = [json.loads(x) for x in (out / "episodes.jsonl").read_text().splitlines() if x.strip()]
    return sorted((r["task"], r["episode"], r["success"], r["steps"], r.get("grasp_dist_cm")) for r in recs)


def ray_cmd(*a: str) -> list[str]:
    return [str(Path(sys.executable).parent / "ray"), *a]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--policy", default="checkpoints/tabletop-tiny-dd")
    p.add_argument("--suite", default="tabletop-10")
    p.add_argument("--tasks", nargs="+", default=["PickCube", "PushFront"])
    p.add_argument("--episodes-per-task", type=int, default=8)
    p.add_argument("--no-ray", action="store_true", help="only the process executor rows")
    p.add_argument("--port", type=int, default=6391, help="port of the benchmark's Ray head")
    p.add_argument("--json", default="reports/bench_eval_scaling.json")
    args = p.parse_args(argv)

    env = {**os.environ, "MUJOCO_GL": os.environ.get("MUJOCO_GL", "egl"), "PYOPENGL_PLATFORM": "egl",
           "RAY_USAGE_STATS_ENABLED": "0"}
    work = Path(tempfile.mkdtemp(prefix="vbs", dir="/tmp"))
    rows: list[dict] = []
    same = None
    load_before = load_average()
    try:
        rows.append({"config": "process x1, render every step", **run_eval(
            args, work / "p1all", ["--workers", "1", "--render-every-step"], env)})
        for workers in (1, 2):
            rows.append({"config": f"process x{workers}", **run_eval(args, work / f"p{workers}",
                                                                      ["--workers", str(workers)], env)})
            print(f"  done: process x{workers}", file=sys.stderr)
        same = _outcomes(work / "p1all") == _outcomes(work / "p1")
        print(f"  render-only-what-is-read: identical episode outcomes: {same}", file=sys.stderr)
        if not args.no_ray:
            addr = f"127.0.0.1:{args.port}"
            subprocess.run(ray_cmd("start", "--head", f"--port={args.port}", "--num-cpus=1",
                                   "--node-ip-address=127.0.0.1", "--include-dashboard=false",
                                   "--disable-usage-stats", f"--temp-dir={work}/r"),
                           env=env, check=True, capture_output=True)
            try:
                rows.append({"config": "ray, 1 node x 1 CPU", **run_eval(
                    args, work / "r1", ["--executor", "ray", "--workers", "1", "--ray-address", addr], env)})
                print("  done: ray 1 node", file=sys.stderr)
                subprocess.run(ray_cmd("start", f"--address={addr}", "--num-cpus=1", "--node-ip-address=127.0.0.1"),
                               env=env, check=True, capture_output=True)
                rows.append({"config": "ray, 2 nodes x 1 CPU", **run_eval(
                    args, work / "r2", ["--executor", "ray", "--workers", "2", "--ray-address", addr], env)})
                print("  done: ray 2 nodes", file=sys.stderr)
            finally:
                subprocess.run(ray_cmd("stop", "--force"), env=env, capture_output=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    base = next(r["eval_wall_s"] for r in rows if r["config"] == "process x1")
    ray1 = next((r["eval_wall_s"] for r in rows if r["config"].startswith("ray, 1")), None)
    for r in rows:
        r["speedup_vs_process_x1"] = base / r["eval_wall_s"]
        if ray1 and r["config"].startswith("ray"):
            r["speedup_vs_ray_1_node"] = ray1 / r["eval_wall_s"]
    result = {"identical_outcomes_render_every_step_vs_only_read": same, "policy": args.policy, "suite": args.suite, "tasks": args.tasks,
              "episodes_per_task": args.episodes_per_task, "cpus": os.cpu_count(),
              "load_average_before": load_before, "load_average_after": load_average(), "rows": rows}
    print(f"\n{len(args.tasks) * args.episodes_per_task} episodes of {args.policy} on {args.suite}; "
          f"{os.cpu_count()} CPUs, load average before {load_before}; rendering only what is read gives "
          f"identical outcomes: {same}\n")
    print("| executor | eval wall s | episodes/min | speed-up vs 1 process | policy / env / render % |")
    print("|---|---:|---:|---:|---|")
    for r in rows:
        fr = r["split_fraction"] or {}
        split = " / ".join("-" if fr.get(k) is None else f"{100 * fr[k]:.0f}" for k in ("policy", "env_step", "render"))
        print(f"| {r['config']} | {r['eval_wall_s']:.1f} | {r['episodes_per_min']:.1f} | "
              f"{r['speedup_vs_process_x1']:.2f}x | {split} |")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=2))
        print(f"\nJSON: {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
