"""Closed-loop grounding diagnosis: how far off is the grounding head *during* evaluation episodes,
and what would the policy score if its points were exact?

Runs the first ``--episodes-per-task`` episodes of each tabletop-10 task with a checkpoint that has
a grounding head, exactly as ``vla eval`` does (same seeds, init states, open-loop chunking), and
at every policy query compares the head's points with the privileged positions of the instructed
object and its goal. ``--oracle`` replaces the points the action model reads with the true ones
(a diagnostic upper bound: the policy reads privileged state, which a real evaluation never does).

    python scripts/diagnose_closed_loop.py checkpoints/tabletop-tiny-dd --episodes-per-task 5
    python scripts/diagnose_closed_loop.py checkpoints/tabletop-tiny-dd --episodes-per-task 5 --oracle

Prints SR and the grounding error (first query of each episode, and all queries) and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from policies.chunking import ChunkingConfig
from policies.runner import RolloutSetup, RolloutWorker, plan_episodes
from policies.suites import get_suite
from vla.grounding import denormalize_points, normalize_points, point_labels


class GroundingProbe:
    """Wraps a model's ``encode_prefix``: records the head's error, optionally feeds true points."""

    def __init__(self, model: Any, oracle: bool) -> None:
        self.model, self.oracle = model, oracle
        self.env: Any = None
        self.errors: list[dict[str, Any]] = []
        self.episode_key: tuple[str, int] | None = None
        self._orig = model.encode_prefix
        model.encode_prefix = self._encode

    def _encode(self, pixels: torch.Tensor, proprio: torch.Tensor, text_ids: torch.Tensor,
                text_valid: torch.Tensor, point_tokens: torch.Tensor | None = None) -> Any:
        cfg = self.model.config
        env = self.env.unwrapped
        pp = env.privileged_positions()
        world = np.stack([pp["target_pos"], pp["goal_pos"]])[None, :cfg.ground_points]
        labels = point_labels(torch.tensor(world), torch.tensor(env.proprio()[None, :3]), cfg.ground_relative)
        if self.oracle:
            point_tokens = normalize_points(labels.float(), cfg.ground_mean, cfg.ground_std)
        prefix = self._orig(pixels, proprio, text_ids, text_valid, point_tokens=point_tokens)
        pred = denormalize_points(prefix.points.detach().float(), cfg.ground_mean, cfg.ground_std)[0].numpy()
        err = np.linalg.norm(pred - labels[0].numpy(), axis=-1) * 100
        dist = float(np.linalg.norm(world[0, 0] - env.proprio()[:3]) * 100)
        self.errors.append({"episode": self.episode_key, "err_cm": [float(x) for x in err], "eef_to_target_cm": dist})
        return prefix


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint")
    p.add_argument("--episodes-per-task", type=int, default=5)
    p.add_argument("--tasks", nargs="+", default=None)
    p.add_argument("--oracle", action="store_true", help="feed the true points to the action model")
    p.add_argument("--execute-steps", type=int, default=None)
    p.add_argument("--json", default=None, help="write the result here")
    args = p.parse_args(argv)
    if not (Path(args.checkpoint) / "config.json").is_file():
        print(f"diagnose_closed_loop: {args.checkpoint!r} is not a checkpoint folder", file=sys.stderr)
        return 2
    torch.set_num_threads(1)
    protocol = replace(get_suite("tabletop-10").protocol(), episodes_per_task=args.episodes_per_task)
    setup = RolloutSetup("policies.factories:make_suite_env", "policies.factories:make_policy", protocol,
                         env_kwargs={"suite": "tabletop-10"},
                         policy_kwargs={"spec": f"checkpoint:path={args.checkpoint}"},
                         chunking=ChunkingConfig("open_loop", execute_steps=args.execute_steps), torch_threads=1)
    worker = RolloutWorker(setup)
    probe: GroundingProbe | None = None
    records = []
    t0 = time.perf_counter()
    for spec in plan_episodes(protocol, args.tasks):
        env, policy = worker.env(spec.task), worker.policy(spec.task)
        model = policy.inference.model
        if not model.config.ground_points:
            print("diagnose_closed_loop: the checkpoint has no grounding head", file=sys.stderr)
            return 2
        if probe is None:  # checkpoints are cached per process: one model for every task
            probe = GroundingProbe(model, args.oracle)
        probe.env, probe.episode_key = env, spec.key
        rec = worker.run(spec)
        records.append({k: rec.get(k) for k in ("task", "episode", "success", "failure", "error")})
        print(f"{spec.task} {spec.episode}: {'success' if rec['success'] else rec.get('failure')}", file=sys.stderr)
    assert probe is not None
    first: dict[tuple, list[float]] = {}
    for e in probe.errors:
        first.setdefault(tuple(e["episode"]), e["err_cm"])
    first_err = np.array(list(first.values()))
    all_err = np.array([e["err_cm"] for e in probe.errors])
    far = np.array([e["eef_to_target_cm"] > 10 for e in probe.errors])
    names = ["target", "goal", "target - eef", "goal - eef"][:all_err.shape[1]]
    result = {
        "checkpoint": args.checkpoint, "oracle_points": args.oracle, "episodes": len(records),
        "successes": int(sum(r["success"] for r in records)),
        "ground_err_first_query_cm": dict(zip(names, first_err.mean(0).round(2).tolist())),
        "ground_err_all_queries_cm": dict(zip(names, all_err.mean(0).round(2).tolist())),
        "ground_err_all_queries_median_cm": dict(zip(names, np.median(all_err, 0).round(2).tolist())),
        # the head where the gripper is far from (> 10 cm) / near the instructed object
        **{f"ground_err_{side}_queries_cm": dict(zip(names, all_err[sel].mean(0).round(2).tolist())) if sel.any() else {}
           for side, sel in (("far", far), ("near", ~far))},
        "queries": probe.errors,
        "wall_s": time.perf_counter() - t0, "records": records,
    }
    worker.close()
    print(f"{args.checkpoint}{' (oracle points)' if args.oracle else ''}: {result['successes']}/{len(records)} "
          "successes")
    for key in ("ground_err_first_query_cm", "ground_err_all_queries_cm", "ground_err_all_queries_median_cm",
                "ground_err_far_queries_cm", "ground_err_near_queries_cm"):
        print(f"  {key}: " + ", ".join(f"{k} {v:.1f}" for k, v in result[key].items()))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
