"""``vla rollouts``: record a policy's own closed-loop episodes in the demonstration HDF5 layout.

    vla rollouts --policy checkpoints/tabletop-tiny-dd --episodes-per-task 40 --out data/rollouts

Every episode is kept, successful or not (each demo's ``success`` attribute says which), with the
privileged positions the expert demos record (``obs/target_pos``, ``obs/goal_pos``). The actions
recorded are the policy's own, so these files are training data for what does *not* learn from
actions: a grounding head trained on the states the policy itself visits (``vla train --data
DEMOS ROLLOUTS --train-only grounding. ...``), which closes the gap between its error on
demonstration frames and its error during evaluation. Episode seeds come from the collection range
(disjoint from evaluation init states); ``--seed`` picks a block disjoint from ``vla collect``'s
default one. Execution is the evaluation's: open-loop chunks, actions clipped to the action space.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import numpy as np

from envs.collect import add_recording_args, recording_kwargs
from policies.base import Policy
from policies.chunking import ActionClipper, ChunkingConfig
from policies.runner import seed_everything
from vla.cli_help import HelpFormatter


class PolicyActor:
    """A :class:`Policy` behind the collector's actor interface (``start_episode`` / ``act``)."""

    def __init__(self, policy: Policy, chunking: ChunkingConfig, clipper: ActionClipper | None = None) -> None:
        self.policy, self.chunking, self.clipper = policy, chunking, clipper
        self.scheduler: Any = None

    def start_episode(self, obs: dict[str, Any], seed: int) -> None:
        seed_everything(seed)
        if callable(getattr(self.policy, "reseed", None)):
            self.policy.reseed(seed)
        self.policy.reset(str(obs.get("instruction", "")))
        self.scheduler = self.chunking.build(self.policy)
        self.scheduler.reset()

    def act(self, obs: dict[str, Any]) -> np.ndarray:
        if self.scheduler is None:
            raise RuntimeError("PolicyActor.act: start_episode(obs, seed) must be called after each env reset")
        action = self.scheduler.act(obs)
        return self.clipper(action) if self.clipper is not None else np.asarray(action)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vla rollouts", description=__doc__, formatter_class=HelpFormatter)
    p.add_argument("--policy", required=True, help="policy spec: a checkpoint directory, expert, random, ...")
    p.add_argument("--suite", default="tabletop-10", help="suite name (not LIBERO)")
    p.add_argument("--episodes-per-task", type=int, default=20, help="episodes to run and keep per task")
    add_recording_args(p)
    p.add_argument("--execute-steps", type=int, default=None,
                   help="actions executed per chunk (default: the whole chunk)")
    p.add_argument("--seed", type=int, default=50,
                   help="seed block for episode layouts (vla collect uses 0; pick another one)")
    p.add_argument("--threads", type=int, default=1, help="torch threads")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.suite.startswith("libero"):
        print("vla rollouts: LIBERO suites are not supported (their collector keeps the official layout)",
              file=sys.stderr)
        return 2
    if args.episodes_per_task < 1:
        print(f"vla rollouts: --episodes-per-task: expected >= 1, got {args.episodes_per_task}", file=sys.stderr)
        return 2
    import torch

    from envs.collect import collect
    from policies.factories import make_policy

    torch.set_num_threads(max(1, args.threads))
    chunking = ChunkingConfig("open_loop", execute_steps=args.execute_steps)

    def make_actor(env: Any, task: str) -> PolicyActor:
        return PolicyActor(make_policy(env, task, args.policy), chunking, ActionClipper.from_space(env.action_space))

    try:
        summary = collect(args.suite, args.episodes_per_task, args.out, seed=args.seed, label="executed",
                          make_actor=make_actor, keep="all", actor_name=f"policy:{args.policy}",
                          **recording_kwargs(args))
    except ValueError as e:
        print(f"vla rollouts: {e}", file=sys.stderr)
        return 2
    for name, t in summary["tasks"].items():
        print(f"{name:<12} {t['kept']:>4} episodes, {t['successes']:>4} successes, {t['steps']:>6} steps")
    print(f"recorded {summary['kept']} episodes in {summary['seconds']} s -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
