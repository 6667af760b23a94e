"""Evaluation results: per-episode JSONL (atomic, resumable), summary JSON + markdown, bar chart.

Layout of a results folder::

    run.json          protocol, policy, chunking, command, versions, commit (checked on resume)
    episodes.jsonl    one line per finished episode, appended with a single write + fsync
    summary.json      SR per task with Wilson 95% interval, average, versions, commit, protocol
    summary.md        the same as a markdown table
    sr_per_task.png   bar chart of SR per task with the Wilson intervals
    videos/           MP4s of the first episodes per task, named <task>__epNNN__<outcome>.mp4

Atomicity and resume: each record is one ``os.write`` of a complete line on an ``O_APPEND``
descriptor followed by ``fsync``; a run killed mid-write leaves at most one torn last line,
which :meth:`ResultsStore.load` detects (no newline / invalid JSON) and truncates away. Records
are keyed by ``(task, episode)``; duplicates are ignored on load and never written twice, so a
killed run resumed with ``--resume`` ends with every episode exactly once.
"""

from __future__ import annotations

import importlib.metadata
import json
import math
import os
import platform
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from policies.grasp_outcome import failure_counts

EPISODES = "episodes.jsonl"
RUN = "run.json"
SUMMARY_JSON = "summary.json"
SUMMARY_MD = "summary.md"
PLOT = "sr_per_task.png"
VERSION_PACKAGES = ("vla", "torch", "numpy", "mujoco", "robosuite", "gymnasium", "transformers")


def wilson_interval(successes: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (95% by default); ``(0, 1)`` when ``n == 0``."""
    if n <= 0:
        return (0.0, 1.0)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    lo = 0.0 if successes <= 0 else max(0.0, centre - half)
    hi = 1.0 if successes >= n else min(1.0, centre + half)
    return (lo, hi)


def fisher_exact_p(s1: int, n1: int, s2: int, n2: int) -> float:
    """Two-sided Fisher exact test p-value that two success rates (``s1/n1``, ``s2/n2``) are equal.

    Sums the hypergeometric probabilities of every table with the same margins that is at most
    as likely as the observed one (the usual two-sided definition, as scipy's ``fisher_exact``).
    """
    if not (0 <= s1 <= n1 and 0 <= s2 <= n2):
        raise ValueError(f"successes must lie in [0, n]: got {s1}/{n1} and {s2}/{n2}")
    total, k = n1 + n2, s1 + s2
    if n1 == 0 or n2 == 0 or k == 0 or k == total:
        return 1.0
    denom = math.comb(total, k)

    def prob(x: int) -> float:
        return math.comb(n1, x) * math.comb(n2, k - x) / denom

    observed = prob(s1)
    lo, hi = max(0, k - n2), min(k, n1)
    return min(1.0, sum(p for p in (prob(x) for x in range(lo, hi + 1)) if p <= observed * (1 + 1e-9)))


def package_versions(names: Iterable[str] = VERSION_PACKAGES) -> dict[str, str | None]:
    """Installed versions of the packages that decide a result (``None`` when not installed)."""
    out: dict[str, str | None] = {"python": platform.python_version()}
    for n in names:
        try:
            out[n] = importlib.metadata.version(n)
        except importlib.metadata.PackageNotFoundError:
            out[n] = None
    return out


def git_commit(repo: str | Path | None = None) -> dict[str, Any]:
    """``{"commit": sha or None, "dirty": bool or None}`` of the repository holding this code."""
    cwd = Path(repo) if repo else Path(__file__).resolve().parent.parent
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = bool(
            subprocess.run(
                ["git", "status", "--porcelain", "--untracked-files=no"],
                cwd=cwd, capture_output=True, text=True, timeout=10, check=True,
            ).stdout.strip()
        )
        return {"commit": sha, "dirty": dirty}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def record_key(rec: dict[str, Any]) -> tuple[str, int]:
    return (str(rec["task"]), int(rec["episode"]))


def _extension(old: Any, new: Any, run_path: Path) -> int | None:
    """The stored ``episodes_per_task`` when ``new`` only raises it; None when the protocols are equal
    or differ elsewhere (the caller then reports the difference). Lowering it is refused: the
    finished episodes beyond the new count would silently count in the summary."""
    if not isinstance(old, dict) or not isinstance(new, dict) or old == new:
        return None
    key = "episodes_per_task"
    if {k: v for k, v in old.items() if k != key} != {k: v for k, v in new.items() if k != key}:
        return None
    if int(new[key]) < int(old[key]):
        raise ValueError(
            f"--resume: episodes_per_task {new[key]} is below the stored run's {old[key]} in {run_path}; "
            "a run can be extended, not shortened (choose another --out)"
        )
    return int(old[key])


class ResultsStore:
    """A results folder: append episode records atomically, load them back, summarise."""

    def __init__(self, out_dir: str | Path) -> None:
        self.dir = Path(out_dir)
        self.episodes_path = self.dir / EPISODES
        self.videos_dir = self.dir / "videos"
        self._done: set[tuple[str, int]] = set()

    # ---------------------------------------------------------------- run metadata
    def start(self, run_info: dict[str, Any], resume: bool) -> list[dict[str, Any]]:
        """Prepare the folder; returns the records already done (``resume``) or refuses to overwrite.

        On resume the stored protocol, policy and chunking must equal ``run_info``'s, so
        resumed episodes and old ones come from the same evaluation. The one allowed change is
        a larger ``episodes_per_task``: episode ``i`` starts from init state ``i`` with a seed that
        does not depend on the episode count, so a finished 10-episode run is the first ten
        episodes of the 50-episode run and resuming extends it (recorded as ``extended_from``).
        """
        self.dir.mkdir(parents=True, exist_ok=True)
        run_path = self.dir / RUN
        existing = self.episodes_path.exists() and self.episodes_path.stat().st_size > 0
        if existing and not resume:
            raise FileExistsError(
                f"{self.episodes_path} already has results; pass --resume to continue it or choose another --out"
            )
        if resume and run_path.exists():
            old = json.loads(run_path.read_text())
            extended = _extension(old.get("protocol"), run_info.get("protocol"), run_path)
            if extended is not None:
                run_info = {**run_info, "extended_from": [*old.get("extended_from", []), extended]}
            for key in ("protocol", "policy", "chunking"):
                if key == "protocol" and extended is not None:
                    continue
                if old.get(key) != run_info.get(key):
                    raise ValueError(
                        f"--resume: the {key} differs from the stored run in {run_path}\n"
                        f"  stored: {old.get(key)}\n  now:    {run_info.get(key)}"
                    )
            run_info = {**run_info, "resumed": old.get("resumed", 0) + 1, "started": old.get("started")}
        records = self.load() if resume else []
        if not resume and self.episodes_path.exists():
            self.episodes_path.unlink()
        run_info.setdefault("started", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        _atomic_write(run_path, json.dumps(run_info, indent=2, default=str))
        self._done = {record_key(r) for r in records}
        return records

    # ---------------------------------------------------------------- episodes
    def load(self) -> list[dict[str, Any]]:
        """Records in the JSONL, first occurrence per key; a torn last line is truncated away."""
        if not self.episodes_path.exists():
            return []
        raw = self.episodes_path.read_bytes()
        good_end = 0
        records: list[dict[str, Any]] = []
        seen: set[tuple[str, int]] = set()
        pos = 0
        while pos < len(raw):
            nl = raw.find(b"\n", pos)
            if nl < 0:
                break  # torn last line (killed mid-write)
            line = raw[pos:nl]
            try:
                rec = json.loads(line) if line.strip() else None
            except json.JSONDecodeError:
                rec = None
                if raw.find(b"\n", nl + 1) >= 0:  # corruption in the middle: refuse to guess
                    raise ValueError(f"{self.episodes_path}: invalid JSON on a line before the last") from None
            if rec is not None:
                k = record_key(rec)
                if k not in seen:
                    seen.add(k)
                    records.append(rec)
            pos = nl + 1
            good_end = pos
        if good_end < len(raw):
            with open(self.episodes_path, "r+b") as f:
                f.truncate(good_end)
                f.flush()
                os.fsync(f.fileno())
        return records

    def is_done(self, task: str, episode: int) -> bool:
        return (task, int(episode)) in self._done

    def append(self, rec: dict[str, Any]) -> bool:
        """Append one record as a single atomic line; returns False (and writes nothing) for a duplicate."""
        k = record_key(rec)
        if k in self._done:
            return False
        line = (json.dumps(rec, sort_keys=True, default=_json_default) + "\n").encode()
        fd = os.open(self.episodes_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            written = os.write(fd, line)
            if written != len(line):
                raise OSError(f"short write to {self.episodes_path}: {written} of {len(line)} bytes")
            os.fsync(fd)
        finally:
            os.close(fd)
        self._done.add(k)
        return True

    # ---------------------------------------------------------------- summary
    def summarize(self, records: list[dict[str, Any]], run_info: dict[str, Any]) -> dict[str, Any]:
        """Write summary.json, summary.md and the bar chart; return the summary."""
        summary = summarize_records(records, run_info)
        _atomic_write(self.dir / SUMMARY_JSON, json.dumps(summary, indent=2, default=_json_default))
        _atomic_write(self.dir / SUMMARY_MD, markdown_table(summary))
        try:
            plot_success_rates(summary, self.dir / PLOT)
            summary["plot"] = str(self.dir / PLOT)
        except Exception as e:  # noqa: BLE001 - a missing plot never loses results
            summary["plot_error"] = f"{type(e).__name__}: {e}"
        return summary


def _json_default(o: Any) -> Any:
    if hasattr(o, "item"):
        return o.item()
    if hasattr(o, "tolist"):
        return o.tolist()
    return str(o)


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _mean(vals: list[Any]) -> float | None:
    vals = [float(v) for v in vals if v is not None]
    return sum(vals) / len(vals) if vals else None


def timing_summary(records: list[dict[str, Any]], run_info: dict[str, Any]) -> dict[str, Any]:
    """This run's wall time and episodes per minute, and where episode time went (summed seconds).

    ``eval_wall_time_s`` covers only the episodes run by this invocation (``episodes_this_run``;
    a resumed run does not count the earlier ones). ``split_s`` sums every record's
    ``time_split_s``: policy inference, env stepping and rendering (``render`` is None for envs
    that render inside their step and do not count it; it is then part of ``env_step``).
    """
    wall = run_info.get("eval_wall_time_s")
    n_run = run_info.get("episodes_this_run")
    split: dict[str, float | None] = {"policy": 0.0, "env_step": 0.0, "render": 0.0}
    seen = False
    for r in records:
        ts = r.get("time_split_s")
        if not isinstance(ts, dict):
            continue
        seen = True
        for k in split:
            v = ts.get(k)
            split[k] = None if v is None or split[k] is None else split[k] + float(v)
    total = sum(v for v in split.values() if v) if seen else 0.0
    return {
        "eval_wall_time_s": wall,
        "episodes_this_run": n_run,
        "episodes_per_min": (60.0 * n_run / wall) if wall and n_run else None,
        "workers": run_info.get("workers"),
        "executor": run_info.get("executor"),
        "split_s": split if seen else None,
        "split_fraction": {k: (v / total if v is not None and total else None) for k, v in split.items()}
        if seen else None,
    }


def summarize_records(records: list[dict[str, Any]], run_info: dict[str, Any]) -> dict[str, Any]:
    """SR per task (errored episodes count as failures and are reported), Wilson 95% intervals."""
    protocol = run_info.get("protocol", {})
    order = list(protocol.get("tasks") or [])
    by_task: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        by_task.setdefault(r["task"], []).append(r)
    tasks = [t for t in order if t in by_task] + sorted(t for t in by_task if t not in order)
    rows = []
    for t in tasks:
        rs = sorted(by_task[t], key=lambda r: r["episode"])
        n = len(rs)
        s = sum(1 for r in rs if r.get("success"))
        lo, hi = wilson_interval(s, n)
        rows.append(
            {
                "task": t,
                "episodes": n,
                "successes": s,
                "errored": sum(1 for r in rs if r.get("error")),
                "sr": s / n if n else 0.0,
                "ci95": [lo, hi],
                "mean_steps": _mean([r.get("steps") for r in rs]),
                "mean_nfe": _mean([r.get("mean_nfe") for r in rs]),
                "max_nfe": max((r["max_nfe"] for r in rs if r.get("max_nfe") is not None), default=None),
                "mean_latency_s": _mean([r.get("mean_latency_s") for r in rs]),
                "mean_wall_time_s": _mean([r.get("wall_time_s") for r in rs]),
                "failures": failure_counts(rs),
            }
        )
    n_all = sum(r["episodes"] for r in rows)
    s_all = sum(r["successes"] for r in rows)
    planned = run_info.get("planned_episodes")
    return {
        "suite": protocol.get("suite"),
        "tasks": rows,
        "average_sr": (sum(r["sr"] for r in rows) / len(rows)) if rows else 0.0,
        "overall": {
            "episodes": n_all,
            "successes": s_all,
            "errored": sum(r["errored"] for r in rows),
            "sr": s_all / n_all if n_all else 0.0,
            "ci95": list(wilson_interval(s_all, n_all)),
            "failures": failure_counts(records),
        },
        "planned_episodes": planned,
        "complete": None if planned is None else n_all >= int(planned),
        "timing": timing_summary(records, run_info),
        "protocol": protocol,
        "policy": run_info.get("policy"),
        "chunking": run_info.get("chunking"),
        "versions": run_info.get("versions"),
        "git": run_info.get("git"),
        "command": run_info.get("command"),
        "host": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": sys.version.split()[0]},
    }


def _pct(x: float) -> str:
    return f"{100 * x:.1f}"


def markdown_table(summary: dict[str, Any]) -> str:
    """SR table: one row per task plus the average and overall rows."""
    lines = [
        f"## {summary.get('suite') or 'evaluation'}: success rate per task",
        "",
        "| task | episodes | SR % | 95% CI (Wilson) | errored | mean steps | mean NFE / chunk | mean latency / chunk (ms) |",
        "|---|---:|---:|---|---:|---:|---:|---:|",
    ]
    for r in summary["tasks"]:
        nfe = "-" if r["mean_nfe"] is None else f"{r['mean_nfe']:.1f}"
        lat = "-" if r["mean_latency_s"] is None else f"{1000 * r['mean_latency_s']:.1f}"
        steps = "-" if r["mean_steps"] is None else f"{r['mean_steps']:.0f}"
        lo, hi = r["ci95"]
        lines.append(
            f"| {r['task']} | {r['episodes']} | {_pct(r['sr'])} | [{_pct(lo)}, {_pct(hi)}] | {r['errored']} "
            f"| {steps} | {nfe} | {lat} |"
        )
    o = summary["overall"]
    lo, hi = o["ci95"]
    lines.append(f"| **average over tasks** | {o['episodes']} | **{_pct(summary['average_sr'])}** | | {o['errored']} | | | |")
    lines.append(f"| all episodes pooled | {o['episodes']} | {_pct(o['sr'])} | [{_pct(lo)}, {_pct(hi)}] | | | | |")
    if o.get("failures"):
        lines += ["", "failures (privileged state): "
                  + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in o["failures"].items())
                  + " (wrong object: the gripper first came within 5 cm of another object; imprecise: it reached "
                    "the instructed one, no success; missed: it came within 5 cm of no object)"]
    tm = summary.get("timing") or {}
    if tm.get("eval_wall_time_s"):
        line = (f"time: {tm['eval_wall_time_s']:.0f} s for {tm.get('episodes_this_run')} episodes "
                f"({tm['episodes_per_min'] or 0:.1f} episodes/min, {tm.get('workers')} x {tm.get('executor')})")
        frac = tm.get("split_fraction") or {}
        if frac:
            line += "; episode time: " + ", ".join(f"{k.replace('_', ' ')} {100 * v:.0f}%"
                                                  for k, v in frac.items() if v is not None)
        lines += ["", line]
    git = summary.get("git") or {}
    commit = git.get("commit") or "unknown"
    if git.get("dirty"):
        commit += " (dirty)"
    lines += ["", f"commit: {commit}"]
    pol = summary.get("policy") or {}
    if pol:
        lines.append("policy: " + ", ".join(f"{k}={v}" for k, v in pol.items() if not isinstance(v, dict)))
    ch = summary.get("chunking") or {}
    if ch:
        lines.append("chunking: " + ", ".join(f"{k}={v}" for k, v in ch.items()))
    p = summary.get("protocol") or {}
    if p:
        lines.append(
            f"protocol: episodes/task={p.get('episodes_per_task')}, max_steps={p.get('max_steps')}, "
            f"wait_steps={p.get('wait_steps')}, seed={p.get('seed')}, image_flip={p.get('image_flip')}"
        )
    v = summary.get("versions") or {}
    if v:
        lines.append("versions: " + ", ".join(f"{k} {val}" for k, val in v.items() if val))
    return "\n".join(lines) + "\n"


def plot_success_rates(summary: dict[str, Any], path: Path) -> None:
    """PNG bar chart of SR per task with Wilson 95% intervals as error bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = summary["tasks"]
    names = [r["task"] for r in rows]
    sr = [100 * r["sr"] for r in rows]
    lo = [100 * (r["sr"] - r["ci95"][0]) for r in rows]
    hi = [100 * (r["ci95"][1] - r["sr"]) for r in rows]
    fig, ax = plt.subplots(figsize=(max(4.0, 1.1 * len(names) + 1.5), 3.6), dpi=110)
    ax.bar(range(len(names)), sr, yerr=[lo, hi], capsize=4, color="#4C72B0")
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, rotation=30, ha="right", fontsize=8)
    ax.set_ylim(0, 105)
    ax.set_ylabel("success rate (%)")
    ax.axhline(100 * summary["average_sr"], color="#C44E52", ls="--", lw=1, label=f"average {100 * summary['average_sr']:.1f}%")
    n = rows[0]["episodes"] if rows else 0
    ax.set_title(f"{summary.get('suite') or 'eval'}: SR per task (n={n}/task, 95% Wilson CI)", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.png")
    fig.savefig(tmp)
    plt.close(fig)
    os.replace(tmp, path)
