"""Stage 3, evaluate: one checkpoint (optionally under a given decoder) with the suite's fixed protocol.

Episode i starts from initial state i; per-episode JSONL, summary, videos and bar chart go to the
evaluation folder, and a killed evaluation continues from its last finished episode. The result is
aggregated into the figures the report uses (SR with Wilson 95%, NFE and latency per chunk). The
heads' main evaluations (``<out>/eval/<head>``) and every decoder of the sweep use it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def evaluate(args: argparse.Namespace, ckpt: Path, decoder: dict[str, Any] | None, out: Path, episodes: int,
             videos: int) -> dict[str, Any]:
    """Closed-loop evaluation with the suite's protocol (resumes); returns the aggregated result."""
    from dataclasses import replace

    from policies.chunking import ChunkingConfig
    from policies.eval_cli import describe_policy
    from policies.evaluation import run_evaluation
    from policies.runner import RolloutSetup
    from policies.suites import get_suite

    protocol = replace(get_suite("tabletop").protocol(), episodes_per_task=episodes)
    if args.max_steps:
        protocol = replace(protocol, max_steps=args.max_steps)
    overrides: dict[str, Any] = {"device": "cpu"}
    if decoder is not None:
        overrides["decoder"] = decoder
    setup = RolloutSetup(env_factory="policies.factories:make_suite_env",
                         policy_factory="policies.factories:make_policy", protocol=protocol,
                         env_kwargs={"suite": "tabletop"}, policy_kwargs={"spec": str(ckpt), **overrides},
                         chunking=ChunkingConfig("open_loop", None), torch_threads=1)
    summary = run_evaluation(setup, str(out), describe_policy(str(ckpt), overrides), tasks=args.tasks,
                             workers=args.workers, resume=True, videos_per_task=videos,
                             progress=not args.no_progress, command=["vla", "reproduce", *sys.argv[2:]])
    from policies.results import ResultsStore

    return aggregate(ResultsStore(out).load(), summary)


def aggregate(records: list[dict[str, Any]], summary: dict[str, Any]) -> dict[str, Any]:
    """SR (average over tasks and overall, Wilson 95%), NFE and latency per chunk over all chunks."""
    import numpy as np

    nfe = [float(v) for r in records for v in (r.get("nfe_per_chunk") or [])]
    lat = [(r["mean_latency_s"], r["n_infer"]) for r in records if r.get("mean_latency_s") is not None]
    n_chunks = sum(n for _, n in lat)
    return {
        "average_sr": summary["average_sr"],
        "overall": summary["overall"],
        "per_task": {t["task"]: {"sr": t["sr"], "ci95": t["ci95"], "episodes": t["episodes"]} for t in summary["tasks"]},
        "chunks": len(nfe),
        "mean_nfe": float(np.mean(nfe)) if nfe else None,
        "max_nfe": float(max(nfe)) if nfe else None,
        "mean_latency_ms": 1000 * sum(v * n for v, n in lat) / n_chunks if n_chunks else None,
        "errored": summary["overall"]["errored"],
    }
