"""Collect LIBERO-Object demonstrations with the scripted expert, in the official HDF5 layout.

Each episode starts from LIBERO's own random placement (``reset(seed, sample_init=True)``,
seeds disjoint from the evaluation seeds, the evaluation initial states are never used),
takes the protocol's wait steps (not recorded), then records (obs_t, action_t) until the goal
holds; only successful episodes are kept. Each step also records the instructed object's and
the basket's world positions (``obs/target_pos``, ``obs/goal_pos``: training labels for a
grounding head, as in the tabletop demos). One file per task,
``OUT/<suite>/<task>_demo.hdf5`` (LIBERO's naming, readable by
:class:`~envs.libero.demos.LiberoDemoFile`), and the report in ``OUT/summary.json``.

    python -m envs.libero.collect --suite libero_object --episodes-per-task 2 --out data/libero
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

import numpy as np

from envs.libero.demos import record_step, write_libero_demos

#: demo seeds live far from evaluation seeds (protocol.episode_seed is < 1e6 for seed 0)
DEMO_SEED_BASE = 50_000_000


def collect_task(
    suite: str,
    task_index: int,
    episodes: int,
    *,
    image_size: int = 128,
    cameras: tuple[str, ...] = ("agentview", "eye_in_hand"),
    action_noise: float = 0.0,
    seed: int = 0,
    max_attempts_factor: float = 3.0,
    max_steps: int | None = None,
    progress: Any = None,
) -> tuple[list[dict[str, np.ndarray]], dict[str, Any]]:
    """Run the expert until ``episodes`` successes (or attempts run out). Returns (demos, stats)."""
    from envs.libero.expert import PickPlaceExpert, pick_place_targets
    from envs.libero.suites import LiberoSuite

    s = LiberoSuite(suite)
    env = s.make_env(task_index, image_size=image_size, cameras=cameras)
    proto = s.protocol
    limit = int(max_steps if max_steps is not None else proto.max_steps)
    demos: list[dict[str, np.ndarray]] = []
    seeds: list[int] = []
    attempts, t0 = 0, time.perf_counter()
    try:
        max_attempts = max(episodes, int(np.ceil(episodes * max_attempts_factor)))
        while len(demos) < episodes and attempts < max_attempts:
            ep_seed = DEMO_SEED_BASE + seed * 100_003 + task_index * 1_009 + attempts
            attempts += 1
            env.reset(seed=ep_seed, options={"sample_init": True})
            for _ in range(proto.wait_steps):
                env.step(proto.dummy_action)
            expert = PickPlaceExpert(env, noise=action_noise, seed=ep_seed)
            targets = pick_place_targets(env)  # the object and basket: recorded as target_pos / goal_pos
            buf: dict[str, list[np.ndarray]] = {}
            actions: list[np.ndarray] = []
            success = False
            for _ in range(limit):
                record_step(env, buf, points=targets)
                a = expert.act()
                actions.append(a)
                _, _, terminated, truncated, info = env.step(a)
                if info["success"]:
                    success = True
                    break
            if success:
                demos.append({**{k: np.stack(v) for k, v in buf.items()}, "actions": np.stack(actions)})
                seeds.append(ep_seed)
            if progress is not None:
                progress.update(1)
                progress.set_postfix(task=task_index, kept=len(demos), tried=attempts)
    finally:
        env.close()
    stats = {
        "suite": suite,
        "task_index": task_index,
        "task": proto.tasks[task_index],
        "kept": len(demos),
        "attempts": attempts,
        "seeds": seeds,
        "wall_s": round(time.perf_counter() - t0, 2),
    }
    return demos, stats


def collect(
    suite: str,
    out: str,
    episodes_per_task: int,
    *,
    tasks: list[int] | None = None,
    progress: bool = True,
    **kwargs: Any,
) -> dict[str, Any]:
    """Collect demos for ``tasks`` (default all) of ``suite``; writes files, returns a report."""
    from envs.libero.suites import LiberoSuite
    from envs.libero.tasks import task_bddl_file, task_instruction

    if suite != "libero_object":
        raise ValueError(f"suite: the scripted expert covers 'libero_object' (pick-and-place), got {suite!r}")
    if episodes_per_task <= 0:
        raise ValueError(f"episodes_per_task must be positive, got {episodes_per_task}")
    s = LiberoSuite(suite)
    tasks = list(range(s.num_tasks)) if tasks is None else tasks
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(tasks) * episodes_per_task, desc=f"collect {suite}", unit="ep")
    report: dict[str, Any] = {"suite": suite, "out": out, "tasks": []}
    try:
        for ti in tasks:
            demos, stats = collect_task(suite, ti, episodes_per_task, progress=bar, **kwargs)
            if demos:
                path = os.path.join(out, suite, f"{s.tasks[ti]}_demo.hdf5")
                env_args = {
                    "suite": suite,
                    "task_index": ti,
                    "image_size": kwargs.get("image_size", 128),
                    "image_convention": "raw robosuite opengl",
                    "gripper": "env -1 open / +1 close",
                    "expert": "envs.libero.expert.PickPlaceExpert",
                }
                write_libero_demos(
                    path,
                    demos,
                    language_instruction=task_instruction(suite, ti),
                    bddl_file_name=task_bddl_file(suite, ti),
                    env_args=env_args,
                )
                stats["file"] = path
            report["tasks"].append(stats)
    finally:
        if bar is not None:
            bar.close()
    report["kept"] = sum(t["kept"] for t in report["tasks"])
    report["attempts"] = sum(t["attempts"] for t in report["tasks"])
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "summary.json"), "w") as f:  # as the tabletop collector writes it
        json.dump(report, f, indent=2)
    return report


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="vla collect (LIBERO)",
        description="Collect LIBERO-Object demos with the scripted expert (official LIBERO HDF5 layout).",
    )
    p.add_argument("--suite", default="libero_object", help="LIBERO suite (the expert covers libero_object)")
    p.add_argument("--episodes-per-task", type=int, default=50, help="successful demos to keep per task")
    p.add_argument("--out", required=True, help="output directory (files go to OUT/<suite>/<task>_demo.hdf5)")
    p.add_argument("--tasks", default="", help="comma-separated task indices (default: all)")
    p.add_argument("--cameras", default="agentview,eye_in_hand", help="comma-separated cameras to record")
    p.add_argument("--image-size", type=int, default=128, help="square image size in pixels")
    p.add_argument("--action-noise", type=float, default=0.0, help="std of Gaussian noise on expert position actions")
    p.add_argument("--seed", type=int, default=0, help="seed offset for placements and noise")
    p.add_argument("--max-attempts-factor", type=float, default=3.0, help="give up a task after factor*N attempts")
    p.add_argument("--no-progress", action="store_true", help="disable the progress bar")
    args = p.parse_args(argv)
    try:
        tasks = [int(t) for t in args.tasks.split(",") if t.strip()] or None
    except ValueError:
        p.error(f"--tasks: expected comma-separated integers, got {args.tasks!r}")
    cameras = tuple(c.strip() for c in args.cameras.split(",") if c.strip())
    report = collect(
        args.suite,
        args.out,
        args.episodes_per_task,
        tasks=tasks,
        progress=not args.no_progress,
        image_size=args.image_size,
        cameras=cameras,
        action_noise=args.action_noise,
        seed=args.seed,
        max_attempts_factor=args.max_attempts_factor,
    )
    print(json.dumps(report, indent=2))
    print(f"kept {report['kept']} successful demos of {report['attempts']} attempts", file=sys.stderr)
    return 0 if report["kept"] else 1


if __name__ == "__main__":
    sys.exit(main())
