"""One evaluation run: plan episodes, skip what is done, execute, record, summarise.

:func:`run_evaluation` ties the pieces together: :func:`~policies.runner.plan_episodes` from
the protocol, :class:`~policies.results.ResultsStore` (``resume`` skips finished episodes), an
:class:`~policies.executor.Executor` (1 or N workers), a tqdm progress bar with the running
success rate, and the summary (JSON, markdown, bar chart) at the end.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import asdict, replace
from typing import Any

from policies.executor import Executor, make_executor
from policies.results import ResultsStore, git_commit, package_versions
from policies.runner import RolloutSetup, plan_episodes


def run_info_for(setup: RolloutSetup, policy_info: dict[str, Any], planned: int, command: list[str] | None) -> dict[str, Any]:
    """The run metadata stored in run.json and copied into the summary."""
    return {
        "protocol": setup.protocol.to_dict(),
        "policy": policy_info,
        "chunking": asdict(setup.chunking),
        "planned_episodes": planned,
        "versions": package_versions(),
        "git": git_commit(),
        "command": command if command is not None else list(sys.argv),
    }


def run_evaluation(
    setup: RolloutSetup,
    out_dir: str,
    policy_info: dict[str, Any],
    tasks: list[str] | None = None,
    workers: int = 1,
    resume: bool = False,
    videos_per_task: int = 1,
    executor: Executor | None = None,
    progress: bool = True,
    command: list[str] | None = None,
    on_record: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Run (or finish, with ``resume``) an evaluation; returns the summary dict."""
    store = ResultsStore(out_dir)
    if setup.video_dir is None and videos_per_task > 0:
        setup = replace(setup, video_dir=str(store.videos_dir))
    specs = plan_episodes(setup.protocol, tasks, videos_per_task)
    info = run_info_for(setup, policy_info, len(specs), command)
    info["tasks_evaluated"] = sorted({s.task for s in specs}, key=[s.task for s in specs].index)
    records = store.start(info, resume)
    todo = [s for s in specs if not store.is_done(s.task, s.episode)]
    n_success = sum(1 for r in records if r.get("success"))
    n_done = len(records)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(specs), initial=n_done, desc="eval", unit="ep", dynamic_ncols=True, file=sys.stderr)
        if n_done:
            bar.set_postfix_str(f"SR {100 * n_success / n_done:.1f}% (resumed {n_done})")
    t0 = time.perf_counter()
    n_before = n_done
    own = executor is None
    ex = executor or make_executor(workers)
    try:
        for rec in ex.run(setup, todo):
            if store.append(rec):
                records.append(rec)
                n_done += 1
                n_success += bool(rec.get("success"))
            if on_record is not None:
                on_record(rec)
            if bar is not None:
                bar.update(1)
                err = sum(1 for r in records if r.get("error"))
                bar.set_postfix_str(f"SR {100 * n_success / max(1, n_done):.1f}%" + (f" errored {err}" if err else ""))
    finally:
        if own:
            ex.close()
        if bar is not None:
            bar.close()
    info["eval_wall_time_s"] = time.perf_counter() - t0
    info["episodes_this_run"] = n_done - n_before
    info["workers"] = getattr(ex, "workers", workers)
    info["executor"] = type(ex).__name__
    return store.summarize(records, info)
