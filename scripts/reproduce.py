"""``vla reproduce``: the paper's claim at small scale on the tabletop suite, on CPU.

"Discrete Diffusion VLA" reports that a discrete-diffusion action head beats an autoregressive
head on the same backbone with far fewer function evaluations (12 vs 56 per chunk) and stays
close to a continuous L1 head. This script checks that here, end to end:

1. **collect**  scripted-expert demos of every tabletop task (DART-style: noise executed,
   clean actions recorded) -> ``<out>/demos``
2. **train**    the ``diffusion``, ``ar`` and ``l1`` heads on the same demos, backbone, steps
   and seed -> ``<out>/train/<head>``
3. **eval**     each head with the suite's fixed protocol (init state i for episode i)
   -> ``<out>/eval/<head>`` (per-episode JSONL, summary, videos, bar chart)
4. **sweep**    the trained diffusion policy under many decoders (cosine top-k T=1..12,
   confidence threshold, factor rule, remasking rules, LocalLeap, CCD, semi-AR blocks):
   SR with Wilson 95% interval, mean / max NFE per chunk, latency -> ``<out>/sweep/<name>``
5. **text**     the same NFE question on ParallelBench-style list tasks
   (``scripts/parallelbench.py``) -> ``<out>/text``
6. **report**   ``report.md``, ``report.json``, ``sr_by_head.png``, ``sr_vs_nfe.png``,
   ``sr_per_task.png``, with the issue's targets marked met / missed and by how much

Every stage resumes: finished outputs are skipped, a killed training continues from its last
checkpoint and a killed evaluation from its last finished episode. ``--quick`` runs the whole
pipeline with tiny budgets (2 tasks, a few training steps, 1 episode) in a few minutes, for CI.

    vla reproduce --out runs/reproduce                 # the full run (defaults below)
    vla reproduce --quick --out /tmp/repro             # CI-sized
    vla reproduce --out runs/reproduce --update-shipped checkpoints/tabletop-tiny-dd
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from vla.cli_help import HelpFormatter

REPO = Path(__file__).resolve().parent.parent
HEADS = ("diffusion", "ar", "l1")
#: the decoder the paper uses and the diffusion head's main evaluation: 12 steps, cosine, max-prob
MAIN_DECODER = "cosine-T12"
#: decoders that choose how many tokens to commit from the model's confidence
ADAPTIVE = ("threshold", "factor", "localleap", "ccd", "semi-ar")


def sweep_decoders(quick: bool = False) -> dict[str, tuple[str, dict[str, Any]]]:
    """Name -> (family, decoder options) of the diffusion decoder sweep."""
    if quick:
        return {
            "cosine-T1": ("cosine top-k", {"steps": 1}),
            "cosine-T4": ("cosine top-k", {"steps": 4}),
            "threshold-0.9": ("threshold", {"commit": "threshold", "threshold": 0.9}),
            "ccd": ("ccd", {"commit": "ccd", "steps": 12}),
        }
    sweep: dict[str, tuple[str, dict[str, Any]]] = {
        f"cosine-T{t}": ("cosine top-k", {"steps": t}) for t in (1, 2, 4, 8, 12)
    }
    sweep |= {f"threshold-{x}": ("threshold", {"commit": "threshold", "threshold": x}) for x in (0.5, 0.7, 0.9)}
    sweep["factor-1.0"] = ("factor", {"commit": "factor", "factor": 1.0})
    sweep["T12+remask-code"] = ("remasking", {"steps": 12, "remask": "ddvla_code"})
    sweep["T12+remask-paper"] = ("remasking", {"steps": 12, "remask": "ddvla_paper"})
    sweep["T12+remdm-cap"] = ("remasking", {"steps": 12, "remask": "remdm", "remdm_schedule": "cap"})
    sweep["localleap"] = ("localleap", {"commit": "localleap"})
    sweep["ccd"] = ("ccd", {"commit": "ccd", "steps": 12})
    # AdaBlock ends blocks at predicted delimiter tokens; action chunks have none, so the block
    # rule that applies is fixed semi-autoregressive blocks of one timestep (7 tokens)
    sweep["semi-ar-step+threshold-0.9"] = ("semi-ar", {"commit": "threshold", "threshold": 0.9, "block": "fixed",
                                                       "block_size": 7})
    return sweep


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vla reproduce", description=__doc__,
                                formatter_class=HelpFormatter)
    p.add_argument("--out", default=str(REPO / "runs" / "reproduce"), help="work and report folder")
    p.add_argument("--quick", action="store_true", help="tiny budgets for CI: 2 tasks, few steps, 1 episode")
    g = p.add_argument_group("data")
    g.add_argument("--demos-per-task", type=int, default=20)
    g.add_argument("--action-noise", type=float, default=0.1, help="expert noise executed (labels stay clean)")
    g.add_argument("--tasks", nargs="+", default=None, help="subset of tabletop tasks (default: all 10)")
    g = p.add_argument_group("training (same for every head)")
    g.add_argument("--heads", nargs="+", choices=HEADS, default=list(HEADS))
    g.add_argument("--steps", type=int, default=3000, help="training steps per head (the reported run: 3000 x 16)")
    g.add_argument("--batch-size", type=int, default=16)
    g.add_argument("--lr", type=float, default=1e-3)
    g.add_argument("--image-size", type=int, default=64)
    g.add_argument("--hidden-size", type=int, default=128)
    g.add_argument("--layers", type=int, default=2)
    g.add_argument("--vision-layers", type=int, default=1)
    g.add_argument("--image-pool", type=int, default=1, help="1: one image token per 8x8 patch")
    g.add_argument("--vision-arch", choices=("siglip", "resnet"), default="resnet", help="tiny vision tower")
    g.add_argument("--image-coords", type=int, default=32, help="grid-coordinate features per image token (0: none)")
    g.add_argument("--prefix-order", choices=("images_first", "text_first"), default="text_first")
    g.add_argument("--no-action-slot-embed", dest="action_slot_embed", action="store_false",
                   help="leave out the learned per-slot embeddings of the action block")
    g.add_argument("--ground-points", type=int, default=2,
                   help="grounding head points (instructed object, goal) supervised by the demos' privileged "
                        "positions and fed to the LM; 0: none (the recipe before the grounding head)")
    g.add_argument("--no-ground-relative", dest="ground_relative", action="store_false",
                   help="leave out the end-effector-relative copies of the grounding points")
    g.add_argument("--crop-area", type=float, default=1.0,
                   help="random-crop area at train (1: none; a crop shifts pixels but not the grid coordinates)")
    g.add_argument("--n-bins", type=int, default=32,
                   help="action bins per dimension (the paper's 256 spreads these few demos too thin)")
    g.add_argument("--seed", type=int, default=0)
    g = p.add_argument_group("evaluation")
    g.add_argument("--episodes-per-task", type=int, default=50, help="main comparison of the heads")
    g.add_argument("--sweep-episodes-per-task", type=int, default=3,
                   help="each decoder of the sweep (3 keeps the whole run under 2 h on 2 cores)")
    g.add_argument("--no-sweep", action="store_true")
    g.add_argument("--sweep-decoders", nargs="+", default=None, metavar="NAME",
                   help="only these decoders of the sweep (default: all; see sweep_decoders())")
    g.add_argument("--no-text", action="store_true", help="skip the list-task (text) side")
    g.add_argument("--workers", type=int, default=max(1, min(2, os.cpu_count() or 1)))
    g.add_argument("--max-steps", type=int, default=None, help="override the suite's step limit")
    g.add_argument("--update-shipped", default="", metavar="DIR",
                   help="copy the diffusion policy to DIR (e.g. checkpoints/tabletop-tiny-dd) if it beats DIR's SR")
    g.add_argument("--no-progress", action="store_true")
    g.add_argument("--notes", default="", metavar="FILE",
                   help="markdown appended to report.md under 'Notes' (what was tried, caveats)")
    return p


def apply_quick(args: argparse.Namespace) -> None:
    """``--quick``: every budget cut to CI size (explicit values for the rest stay)."""
    args.tasks = args.tasks or ["PickCube", "PushLeft"]
    args.demos_per_task, args.steps, args.batch_size = 1, 4, 4
    args.hidden_size, args.layers, args.vision_layers, args.image_size = 32, 1, 1, 32
    args.episodes_per_task = args.sweep_episodes_per_task = 1
    args.max_steps = args.max_steps or 12
    args.workers = 1
    args.no_text = True


# --------------------------------------------------------------------------- stages
def stage_collect(args: argparse.Namespace, demos: Path) -> dict[str, Any]:
    if (demos / "summary.json").exists():
        return json.loads((demos / "summary.json").read_text())
    from envs.collect import collect

    return collect("tabletop-10", args.demos_per_task, demos, tasks=args.tasks,
                   image_size=64 if args.quick else 128, action_noise=args.action_noise, seed=args.seed,
                   progress=not args.no_progress, label="clean")


def train_argv(args: argparse.Namespace, head: str, demos: Path, out: Path) -> list[str]:
    """The ``vla train`` command of one head: everything but the head is shared."""
    argv = ["--data", str(demos), "--out", str(out), "--preset", "tiny", "--head", head, "--horizon", "8",
            "--image-size", str(args.image_size), "--hidden-size", str(args.hidden_size), "--layers", str(args.layers),
            "--heads", "4", "--vision-arch", args.vision_arch, "--vision-layers", str(args.vision_layers),
            "--image-pool", str(args.image_pool), "--image-coords", str(args.image_coords),
            "--prefix-order", args.prefix_order, *(["--action-slot-embed"] if args.action_slot_embed else []),
            "--n-bins", str(args.n_bins), "--binary-gripper", "--steps", str(args.steps),
            "--crop-area", str(args.crop_area), "--ground-points", str(args.ground_points),
            *(["--ground-relative"] if args.ground_relative and args.ground_points else []),
            "--batch-size", str(args.batch_size), "--lr", str(args.lr), "--warmup-steps", str(min(100, args.steps // 10)),
            "--seed", str(args.seed), "--save-every", str(max(1, min(500, args.steps))), "--keep-checkpoints", "1",
            "--log-every", str(max(1, min(50, args.steps)))]
    return argv + (["--no-progress"] if args.no_progress else [])


def stage_train(args: argparse.Namespace, head: str, demos: Path, out: Path) -> list[str]:
    argv = train_argv(args, head, demos, out)
    if not (out / "model.safetensors").exists():
        from vla.train_cli import main as train_main

        rc = train_main(argv + ["--resume"])  # continues from a checkpoint if there is one
        if rc != 0:
            raise RuntimeError(f"training the {head} head failed (exit {rc}): vla train {' '.join(argv)}")
    return argv


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


def stage_text(args: argparse.Namespace, out: Path) -> dict[str, Any] | None:
    if args.no_text:
        return None
    if not (out / "results.json").exists():
        from scripts.parallelbench import main as pb_main

        rc = pb_main(["--out", str(out), "--seed", str(args.seed)])
        if rc:
            raise RuntimeError(f"scripts/parallelbench.py failed (exit {rc})")
    return {"report": str(out / "report.md"), "results": str(out / "results.json")}


# --------------------------------------------------------------------------- report
def targets(heads: dict[str, Any], sweep: dict[str, Any]) -> list[dict[str, Any]]:
    """The issue's three targets, each met or missed and by how much (SR in points)."""
    out = []
    dd = heads.get("diffusion")
    if dd is not None:
        sr = 100 * dd["average_sr"]
        out.append({"target": "diffusion head >= 80% average SR", "value": round(sr, 1), "met": sr >= 80,
                    "margin_points": round(sr - 80, 1)})
    if dd is not None and "ar" in heads:
        gap = 100 * (dd["average_sr"] - heads["ar"]["average_sr"])
        row = {"target": "diffusion SR >= AR SR", "value": round(gap, 1), "met": gap >= 0, "margin_points": round(gap, 1)}
        a, b = dd.get("overall") or {}, heads["ar"].get("overall") or {}
        if all(k in o for o in (a, b) for k in ("successes", "episodes")):
            from policies.results import fisher_exact_p

            p = fisher_exact_p(a["successes"], a["episodes"], b["successes"], b["episodes"])
            row["p_value"] = round(p, 4)
            row["note"] = (f"{a['successes']}/{a['episodes']} vs {b['successes']}/{b['episodes']} episodes, "
                           f"two-sided Fisher exact p = {p:.3f}")
        out.append(row)
    ref = sweep.get(MAIN_DECODER)
    if ref is not None:
        cands = [(n, r) for n, r in sweep.items() if r["family"] in ADAPTIVE and r["mean_nfe"] is not None
                 and r["mean_nfe"] <= 4]
        best = max(cands, key=lambda nr: nr[1]["average_sr"], default=None)
        if best is None:
            out.append({"target": "an adaptive decoder within 2 points of cosine T=12 at <= 4 mean NFE",
                        "value": None, "met": False, "margin_points": None,
                        "note": "no adaptive decoder averaged <= 4 NFE per chunk"})
        else:
            gap = 100 * (best[1]["average_sr"] - ref["average_sr"])
            out.append({"target": "an adaptive decoder within 2 points of cosine T=12 at <= 4 mean NFE",
                        "value": round(gap, 1), "met": gap >= -2, "margin_points": round(gap + 2, 1),
                        "decoder": best[0], "mean_nfe": round(best[1]["mean_nfe"], 2)})
    return out


def _fmt_sr(r: dict[str, Any]) -> str:
    lo, hi = r["overall"]["ci95"]
    return f"{100 * r['average_sr']:.1f}% [{100 * lo:.1f}, {100 * hi:.1f}]"


def _fmt(v: Any, spec: str = ".1f") -> str:
    return "-" if v is None else format(v, spec)


class WorkLedger:
    """Seconds each stage worked, summed over every invocation on the same ``--out``.

    Every stage resumes, so a later invocation (e.g. one that only regenerates the report with
    ``--notes``) finishes in seconds; its own stage times say nothing about the run. The ledger in
    ``<out>/work_seconds.json`` keeps what each stage cost when it did its work, and how many
    invocations it took, so the report states the whole run's cost and whether it ran in one go.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.data: dict[str, Any] = {"stages": {}, "invocations": []}
        if path.exists():
            self.data = json.loads(path.read_text())
        self.data["invocations"].append({"started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                                         "wall_s": None})
        self._save()

    def add(self, stage: str, seconds: float) -> None:
        self.data["stages"][stage] = self.data["stages"].get(stage, 0.0) + seconds
        self.data["invocations"][-1]["wall_s"] = None
        self._save()

    def finish(self, wall_s: float) -> dict[str, Any]:
        """Close this invocation; returns the ledger with the total work and the longest invocation."""
        self.data["invocations"][-1]["wall_s"] = wall_s
        self.data["total_work_s"] = sum(self.data["stages"].values())
        walls = [i["wall_s"] for i in self.data["invocations"] if i["wall_s"] is not None]
        #: one uninterrupted invocation did (nearly) all the work: its wall time is the run's
        self.data["one_invocation_s"] = max(walls) if walls else None
        self._save()
        return self.data

    def _save(self) -> None:
        self.path.write_text(json.dumps(self.data, indent=2))


def work_line(work: dict[str, Any] | None) -> str:
    """One sentence on what the whole run cost (all invocations), for the report's header."""
    if not work:
        return ""
    total, longest = work.get("total_work_s") or 0.0, work.get("one_invocation_s") or 0.0
    n = len(work.get("invocations", []))
    killed = sum(1 for i in work.get("invocations", []) if i.get("wall_s") is None)
    if total and longest >= 0.95 * total:
        how = f"one uninterrupted invocation took {longest / 60:.1f} min"
    else:
        how = (f"spread over {n} invocations{f', {killed} of them interrupted' if killed else ''}; "
               f"the longest that finished took {longest / 60:.1f} min")
    return f"Whole run: {total / 60:.1f} min of stage work ({how})."


def write_report(out: Path, report: dict[str, Any]) -> None:
    (out / "report.json").write_text(json.dumps(report, indent=2, default=str))
    lines = ["# Discrete diffusion vs autoregressive vs L1 heads on tabletop-10", "",
             f"Run: {report['finished']}, {report['machine']}, commit {report['git'].get('commit', '?')[:12]}"
             f"{' (dirty)' if report['git'].get('dirty') else ''}; total {report['wall_time_s'] / 60:.1f} min"
             f"{' — QUICK MODE (CI budgets, numbers meaningless)' if report['quick'] else ''}. "
             f"{work_line(report.get('work'))}", "",
             f"Data: {report['data']['kept']} expert demos ({report['config']['demos_per_task']} per task, "
             f"action noise {report['config']['action_noise']} executed, clean labels). Training (every head): "
             f"`vla train {' '.join(report['train_commands'].get('diffusion', []))}` with `--head` changed.", "",
             "## Heads (same demos, backbone, steps, seed)", "",
             f"{report['config']['episodes_per_task']} episodes per task, the suite's fixed initial states. "
             "SR = average over tasks; interval = Wilson 95% over all episodes.", "",
             "| head | SR [95% CI] | mean NFE / chunk | max NFE | latency / chunk (ms) | errored |",
             "|---|---|---|---|---|---|"]
    for h, r in report["heads"].items():
        lines.append(f"| {h} | {_fmt_sr(r)} | {_fmt(r['mean_nfe'])} | {_fmt(r['max_nfe'], '.0f')} | "
                     f"{_fmt(r['mean_latency_ms'])} | {r['errored']} |")
    tasks = sorted({t for r in report["heads"].values() for t in r["per_task"]},
                   key=lambda t: list(next(iter(report["heads"].values()))["per_task"]).index(t)
                   if t in next(iter(report["heads"].values()))["per_task"] else 99)
    lines += ["", "Per task:", "", "| task | " + " | ".join(report["heads"]) + " |",
              "|---|" + "---|" * len(report["heads"])]
    for t in tasks:
        cells = [f"{100 * r['per_task'][t]['sr']:.0f}%" if t in r["per_task"] else "-" for r in report["heads"].values()]
        lines.append(f"| {t} | " + " | ".join(cells) + " |")
    if report["sweep"]:
        cfg = report["config"]
        same = cfg["sweep_episodes_per_task"] == cfg["episodes_per_task"]
        main_note = (f"{MAIN_DECODER} is the main evaluation above" if same else
                     f"{MAIN_DECODER} is run again on these episodes, so that every row is measured alike; the "
                     f"main evaluation above has {cfg['episodes_per_task']}")
        lines += ["", "## Decoder sweep on the diffusion policy", "",
                  f"{cfg['sweep_episodes_per_task']} episodes per task per decoder "
                  f"({main_note}). NFE = model calls per action chunk of 56 tokens.", "",
                  "| decoder | family | SR [95% CI] | mean NFE | max NFE | latency / chunk (ms) |", "|---|---|---|---|---|---|"]
        for n, r in sorted(report["sweep"].items(), key=lambda nr: (nr[1]["mean_nfe"] or 0)):
            lines.append(f"| {n} | {r['family']} | {_fmt_sr(r)} | {_fmt(r['mean_nfe'], '.2f')} | "
                         f"{_fmt(r['max_nfe'], '.0f')} | {_fmt(r['mean_latency_ms'])} |")
    lines += ["", "## Targets", "", "| target | value | met | margin (points) |", "|---|---|---|---|"]
    for t in report["targets"]:
        extra = f" ({t['decoder']}, {t['mean_nfe']} NFE)" if t.get("decoder") else (f" ({t['note']})" if t.get("note") else "")
        lines.append(f"| {t['target']} | {_fmt(t['value'])}{extra} | {'yes' if t['met'] else 'no'} | "
                     f"{_fmt(t['margin_points'])} |")
    if report.get("text"):
        lines += ["", "## Text side", "", f"List-task results: {report['text']['report']}"]
    if report.get("notes"):
        lines += ["", "## Notes", "", report["notes"].strip()]
    lines += ["", "Plots: `sr_by_head.png`, `sr_vs_nfe.png`, `sr_per_task.png`. Stage times of this invocation (s; "
              "stages finished by an earlier, interrupted invocation count only what was left): "
              + ", ".join(f"{k} {v:.0f}" for k, v in report["stage_seconds"].items()), ""]
    (out / "report.md").write_text("\n".join(lines))


def write_plots(out: Path, report: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    heads = report["heads"]
    fig, ax = plt.subplots(figsize=(5, 3.5))
    names = list(heads)
    srs = [100 * heads[h]["average_sr"] for h in names]
    err = [[s - 100 * heads[h]["overall"]["ci95"][0] for s, h in zip(srs, names)],
           [100 * heads[h]["overall"]["ci95"][1] - s for s, h in zip(srs, names)]]
    ax.bar(names, srs, yerr=err, capsize=4, color=["tab:blue", "tab:orange", "tab:green"][: len(names)])
    ax.set_ylabel("success rate (%)")
    ax.set_ylim(0, 100)
    ax.set_title("tabletop-10: SR by action head (Wilson 95%)")
    fig.tight_layout()
    fig.savefig(out / "sr_by_head.png", dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    markers = {"cosine top-k": "o", "threshold": "s", "factor": "D", "remasking": "^", "localleap": "P",
               "ccd": "X", "semi-ar": "v"}
    for fam, mk in markers.items():
        pts = [(r["mean_nfe"], 100 * r["average_sr"], n) for n, r in report["sweep"].items()
               if r["family"] == fam and r["mean_nfe"] is not None]
        if pts:
            ax.scatter([p[0] for p in pts], [p[1] for p in pts], marker=mk, label=f"diffusion: {fam}", s=40)
            for x, y, n in pts:
                ax.annotate(n, (x, y), fontsize=6, xytext=(3, 3), textcoords="offset points")
    for h, mk, c in (("ar", "*", "black"), ("l1", "h", "gray")):
        if h in heads and heads[h]["mean_nfe"] is not None:
            ax.scatter([heads[h]["mean_nfe"]], [100 * heads[h]["average_sr"]], marker=mk, c=c, s=120, label=f"{h} head")
    ax.set_xscale("log")
    ax.set_xlabel("mean NFE per action chunk (log)")
    ax.set_ylabel("success rate (%)")
    ax.set_title("success vs function evaluations")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "sr_vs_nfe.png", dpi=120)
    plt.close(fig)

    tasks = list(next(iter(heads.values()))["per_task"])
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(tasks)), 3.8))
    w = 0.8 / max(1, len(names))
    for i, h in enumerate(names):
        ax.bar([k + i * w for k in range(len(tasks))], [100 * heads[h]["per_task"].get(t, {}).get("sr", 0) for t in tasks],
               width=w, label=h)
    ax.set_xticks([k + w * (len(names) - 1) / 2 for k in range(len(tasks))], tasks, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("success rate (%)")
    ax.set_ylim(0, 100)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "sr_per_task.png", dpi=120)
    plt.close(fig)


def update_shipped(dest: Path, ckpt: Path, result: dict[str, Any], report: dict[str, Any]) -> bool:
    """Copy the diffusion policy's inference files to ``dest`` when its SR beats the one recorded there."""
    old = dest / "eval.json"
    old_sr = json.loads(old.read_text()).get("average_sr", 0.0) if old.exists() else 0.0
    if result["average_sr"] <= old_sr:
        print(f"vla reproduce: kept {dest} (its SR {100 * old_sr:.1f}% >= {100 * result['average_sr']:.1f}%)")
        return False
    dest.mkdir(parents=True, exist_ok=True)
    for f in ("config.json", "model.safetensors", "norm_stats.json", "tokenizer.json", "tokenizer_config.json",
              "special_tokens_map.json", "train_log.csv"):
        if (ckpt / f).exists():
            shutil.copy2(ckpt / f, dest / f)
    old.write_text(json.dumps({"average_sr": result["average_sr"], "overall": result["overall"],
                               "per_task": result["per_task"], "decoder": MAIN_DECODER,
                               "episodes_per_task": report["config"]["episodes_per_task"],
                               "source": "vla reproduce", "git": report["git"]}, indent=2))
    print(f"vla reproduce: updated {dest} with the diffusion policy ({100 * result['average_sr']:.1f}% > {100 * old_sr:.1f}%)")
    return True


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.quick:
        apply_quick(args)
    for name in ("demos_per_task", "steps", "batch_size", "episodes_per_task", "sweep_episodes_per_task", "workers"):
        if getattr(args, name) < 1:
            print(f"vla reproduce: --{name.replace('_', '-')} must be >= 1", file=sys.stderr)
            return 2
    unknown = sorted(set(args.sweep_decoders or ()) - set(sweep_decoders(args.quick)))
    if unknown:
        print(f"vla reproduce: --sweep-decoders: unknown {unknown}; expected some of "
              f"{sorted(sweep_decoders(args.quick))}", file=sys.stderr)
        return 2
    if args.notes and not Path(args.notes).is_file():
        print(f"vla reproduce: --notes: {args.notes!r} is not a readable file", file=sys.stderr)
        return 2
    os.environ.setdefault("MUJOCO_GL", "egl")
    os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
    from policies.results import git_commit

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    times: dict[str, float] = {}
    ledger = WorkLedger(out / "work_seconds.json")

    def timed(name: str, fn: Any, *a: Any) -> Any:
        t0 = time.perf_counter()
        print(f"[{time.strftime('%H:%M:%S')}] vla reproduce: {name}", flush=True)
        r = fn(*a)
        dt = time.perf_counter() - t0
        times[name] = times.get(name, 0.0) + dt
        ledger.add(name, dt)
        return r

    demos = out / "demos"
    data = timed("collect", stage_collect, args, demos)
    train_cmds, heads = {}, {}
    for h in args.heads:
        train_cmds[h] = timed(f"train {h}", stage_train, args, h, demos, out / "train" / h)
    for h in args.heads:
        heads[h] = timed(f"eval {h}", evaluate, args, out / "train" / h, None, out / "eval" / h,
                         args.episodes_per_task, 1)
    sweep: dict[str, Any] = {}
    if "diffusion" in args.heads and not args.no_sweep:
        chosen = sweep_decoders(args.quick)
        if args.sweep_decoders:
            chosen = {n: v for n, v in chosen.items() if n in args.sweep_decoders}
        for name, (family, dec) in chosen.items():
            if name == MAIN_DECODER and args.sweep_episodes_per_task == args.episodes_per_task:
                r = heads["diffusion"]
            else:
                r = timed("sweep", evaluate, args, out / "train" / "diffusion", dec, out / "sweep" / name,
                          args.sweep_episodes_per_task, 0)
            sweep[name] = {"family": family, "decoder": dec, **r}
        if MAIN_DECODER not in sweep:  # the main evaluation is the reference point
            sweep[MAIN_DECODER] = {"family": "cosine top-k", "decoder": {"steps": 12}, **heads["diffusion"]}
    text = timed("text", stage_text, args, out / "text")
    report = {
        "quick": args.quick,
        "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": f"{os.cpu_count()} CPU cores",
        "git": git_commit(),
        "config": {k: v for k, v in vars(args).items() if k not in ("no_progress",)},
        "data": {"kept": data.get("kept"), "attempts": data.get("attempts"), "summary": str(demos / "summary.json")},
        "train_commands": train_cmds,
        "heads": heads,
        "sweep": sweep,
        "text": text,
        "notes": Path(args.notes).read_text() if args.notes else "",
    }
    report["targets"] = targets(heads, sweep)
    report["stage_seconds"] = times
    report["wall_time_s"] = time.perf_counter() - t_start
    report["work"] = ledger.finish(report["wall_time_s"])
    write_report(out, report)
    try:
        write_plots(out, report)
    except Exception as e:  # noqa: BLE001 - a plotting failure never loses the numbers
        print(f"vla reproduce: plots not written: {type(e).__name__}: {e}", file=sys.stderr)
    if args.update_shipped and "diffusion" in heads and not args.quick:
        update_shipped(Path(args.update_shipped), out / "train" / "diffusion", heads["diffusion"], report)
    print((out / "report.md").read_text())
    print(f"report: {out / 'report.md'}  {out / 'report.json'}  plots in {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
