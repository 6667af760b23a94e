"""``vla collect``: scripted-expert demonstrations in the robomimic / LIBERO HDF5 layout.

    vla collect --suite tabletop-10 --episodes-per-task 50 --out data/tabletop
    vla collect --suite libero_object --episodes-per-task 50 --out data/libero   # LIBERO-Object expert
    vla collect --suite maniskill --episodes-per-task 50 --out data/maniskill   # ManiSkill3 experts

Writes ``<out>/<Task>_demo.hdf5`` per task (layout in ``envs.hdf5_demos``) and
``<out>/summary.json``. Only successful episodes are kept; episode seeds come from a range
disjoint from the evaluation initial states, so demonstrations never replay a test episode.

:func:`collect` also records other actors in the same layout (``make_actor``, ``keep="all"``):
``vla rollouts`` (``policies/rollouts_cli.py``) uses it to record a policy's own episodes with
the privileged positions, as on-policy training data for a grounding head.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("PYOPENGL_PLATFORM", os.environ["MUJOCO_GL"])

COLLECT_SEED_BASE = 100_000  # eval init states use seeds >= 1_000_000


def collect_episode(env: Any, expert: Any, seed: int, label: str = "clean") -> tuple[dict[str, Any], bool]:
    """Run the expert for one episode from ``seed``; return the recorded demo and success.

    ``label="clean"`` (DART): the env executes the expert's noisy action but the demo records
    the action the expert meant (``expert.last_clean_action``), so noise widens the states seen
    without teaching the policy to reproduce it; ``"executed"`` records what was executed.
    """
    if label not in ("clean", "executed"):
        raise ValueError(f"label: expected 'clean' or 'executed', got {label!r}")
    obs, info = env.reset(seed=seed)
    start = getattr(expert, "start_episode", None)  # actors that are not experts: policy reset per episode
    if start is not None:
        start(obs, seed)
    cams = [f"{c}_rgb" for c in env.cameras]
    rec: dict[str, list] = {k: [] for k in ["actions", "states", "rewards", "dones", "proprio", "joint_states", *cams]}
    success, done = False, False
    # arm joint positions: envs that are not robosuite worlds (ManiSkill) provide joint_positions()
    joint_positions = getattr(env, "joint_positions", None)
    if joint_positions is None:
        joint_idx = env.scene.robots[0]._ref_joint_pos_indexes
        def joint_positions() -> np.ndarray:
            return np.array(env.scene.sim.data.qpos[joint_idx], dtype=np.float32)
    privileged = getattr(env, "privileged_positions", None)  # training-only labels (target / goal xyz)
    while not done:
        if privileged is not None:
            for key, value in privileged().items():
                rec.setdefault(key, []).append(value)
        rec["states"].append(env.get_state())
        rec["proprio"].append(obs["proprio"])
        rec["joint_states"].append(np.asarray(joint_positions(), dtype=np.float32))
        for c in cams:
            rec[c].append(obs[c])
        action = expert.act(obs)
        clean = getattr(expert, "last_clean_action", None)
        recorded = clean if label == "clean" and clean is not None else action
        obs, reward, terminated, truncated, info = env.step(action)
        rec["actions"].append(np.asarray(recorded, np.float32))
        rec["rewards"].append(float(reward))
        done = terminated or truncated
        rec["dones"].append(int(done))
        success = bool(info["success"])
    proprio = np.stack(rec["proprio"]).astype(np.float32)
    obs_out = {c: np.stack(rec[c]) for c in cams}
    obs_out.update(ee_pos=proprio[:, :3], ee_ori=proprio[:, 3:6], gripper_states=proprio[:, 6:8],
                   joint_states=np.stack(rec["joint_states"]), proprio=proprio)
    for key in ("target_pos", "goal_pos"):
        if key in rec:
            obs_out[key] = np.stack(rec[key]).astype(np.float32)
    demo = {"actions": np.stack(rec["actions"]), "states": np.stack(rec["states"]),
            "rewards": np.array(rec["rewards"], np.float32), "dones": np.array(rec["dones"], np.uint8),
            "obs": obs_out, "instruction": info["instruction"], "task": info["task"], "seed": int(seed),
            "success": success}
    return demo, success


def collect(suite: str, episodes_per_task: int, out: str | Path, tasks: list[str] | None = None,
            cameras: tuple[str, ...] = ("agentview", "eye_in_hand"), image_size: int = 128,
            action_noise: float = 0.0, seed: int = 0, max_attempts_factor: float = 3.0,
            progress: bool = True, label: str = "clean",
            make_actor: Callable[[Any, str], Any] | None = None, keep: str = "success",
            seed_base: int = COLLECT_SEED_BASE, actor_name: str = "expert") -> dict[str, Any]:
    """Collect ``episodes_per_task`` successful demos per task; return the summary dict.

    ``make_actor(env, task_name)`` builds what acts (default: the task's scripted expert with
    ``action_noise``); it needs ``act(obs) -> action`` and may have ``start_episode(obs, seed)``.
    ``keep="all"`` keeps every episode, successful or not (then ``episodes_per_task`` episodes
    are run per task).
    """
    from tqdm import tqdm

    from envs.experts import make_expert
    from envs.hdf5_demos import write_demo_file
    from envs.registry import get_suite

    if episodes_per_task < 1:
        raise ValueError(f"episodes_per_task: expected >= 1, got {episodes_per_task}")
    if keep not in ("success", "all"):
        raise ValueError(f"keep: expected 'success' or 'all', got {keep!r}")
    specs = get_suite(suite)
    if tasks:
        known = [s.name for s in specs]
        for t in tasks:
            if t not in known:
                raise ValueError(f"tasks: {t!r} is not in suite {suite!r}; expected some of {known}")
        specs = [s for s in specs if s.name in tasks]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    summary: dict[str, Any] = {"suite": suite, "episodes_per_task": episodes_per_task, "action_noise": action_noise,
                               "action_labels": label, "cameras": list(cameras), "image_size": image_size,
                               "actor": actor_name, "keep": keep, "tasks": {}}
    t0 = time.time()
    bar = tqdm(total=episodes_per_task * len(specs), desc="collect", unit="demo", disable=not progress)
    for ti, spec in enumerate(specs):
        env = spec.make(cameras=tuple(cameras), image_size=image_size)
        if make_actor is None:
            expert = make_expert(env, noise=action_noise, seed=seed * 7919 + ti)
        else:
            expert = make_actor(env, spec.name)
        demos, attempts, steps, successes = [], 0, 0, 0
        max_attempts = int(np.ceil(episodes_per_task * max_attempts_factor)) if keep == "success" else episodes_per_task
        base = seed_base + 10_000 * ti + 1_000 * seed
        while len(demos) < episodes_per_task and attempts < max_attempts:
            demo, ok = collect_episode(env, expert, base + attempts, label=label)
            attempts += 1
            steps += len(demo["actions"])
            successes += int(ok)
            if ok or keep == "all":
                demos.append(demo)
                bar.update(1)
            bar.set_postfix(task=spec.name, kept=f"{len(demos)}/{attempts}", success=successes)
        path = out / f"{spec.name}_demo.hdf5"
        write_demo_file(path, demos, env.metadata_dict() | {"suite": suite, "action_noise": action_noise,
                                                              "action_labels": label, "actor": actor_name},
                        suite=suite, task=spec.name)
        env.close()
        summary["tasks"][spec.name] = {"kept": len(demos), "attempts": attempts, "successes": successes,
                                       "steps": steps, "file": str(path)}
    bar.close()
    summary["kept"] = sum(t["kept"] for t in summary["tasks"].values())
    summary["attempts"] = sum(t["attempts"] for t in summary["tasks"].values())
    summary["seconds"] = round(time.time() - t0, 2)
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def add_recording_args(p: argparse.ArgumentParser) -> None:
    """The options every recorder shares (``vla collect``, ``vla rollouts``): where, which tasks, which images."""
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--tasks", default="", help="comma-separated subset of task names (default: all)")
    p.add_argument("--cameras", default="agentview,eye_in_hand", help="comma-separated cameras to record (default: agentview,eye_in_hand)")
    p.add_argument("--image-size", type=int, default=128, help="square image size in pixels (default: 128)")
    p.add_argument("--no-progress", action="store_true", help="disable the progress bar")


def recording_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """:func:`collect` keyword arguments from :func:`add_recording_args`' options."""
    return {"tasks": [t for t in args.tasks.split(",") if t] or None,
            "cameras": tuple(c for c in args.cameras.split(",") if c), "image_size": args.image_size,
            "progress": not args.no_progress}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vla collect", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--suite", default="tabletop-10", help="suite name (default: tabletop-10)")
    p.add_argument("--episodes-per-task", type=int, default=50, help="successful demos to keep per task (default: 50)")
    add_recording_args(p)
    p.add_argument("--action-noise", type=float, default=0.0,
                   help="std of Gaussian noise added to the expert's executed arm actions (diverse demos; default: 0)")
    p.add_argument("--action-labels", choices=("clean", "executed"), default="clean",
                   help="record the expert's noise-free action (clean, DART-style) or the executed one (default: clean)")
    p.add_argument("--seed", type=int, default=0, help="seed offset for episode layouts and noise (default: 0)")
    p.add_argument("--max-attempts-factor", type=float, default=3.0,
                   help="give up on a task after episodes-per-task x this many attempts (default: 3)")
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args, _ = build_parser().parse_known_args(argv)
    if args.suite.startswith("libero"):  # LIBERO suites: the LIBERO-Object expert and the official layout
        from envs.libero.collect import main as libero_main

        return libero_main(argv)
    args = build_parser().parse_args(argv)
    try:
        summary = collect(args.suite, args.episodes_per_task, args.out, action_noise=args.action_noise, seed=args.seed,
                          max_attempts_factor=args.max_attempts_factor, label=args.action_labels,
                          **recording_kwargs(args))
    except ValueError as e:
        print(f"vla collect: {e}", file=sys.stderr)
        return 2
    for name, t in summary["tasks"].items():
        print(f"{name:<12} kept {t['kept']:>4} / {t['attempts']:>4} attempts")
    print(f"kept {summary['kept']} demos of {summary['attempts']} episodes in {summary['seconds']} s -> {args.out}")
    wanted = args.episodes_per_task * len(summary["tasks"])
    return 0 if summary["kept"] == wanted else 1


if __name__ == "__main__":
    raise SystemExit(main())
