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

With ``--init-from`` the heads are compared under the shipped checkpoint's recipe instead: every
head is the stage-2d fine-tune of one trained backbone + spatial grounding head (``--head``
swapped on it; vision tower and grounding head frozen), on the demos it was trained on:

    vla reproduce --out runs/repro-2d --demos runs/g1/demos --init-from runs/g4/headB60 \
        --steps 4000 --batch-size 32 --lr 3e-4 --seed 5 --holdout 5 --nproc 2 \
        --diffusion-decoder '{"steps": 1}'
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

# the stages are in scripts/reproduce_stages/, one module each; this file parses the options and runs them
from scripts.reproduce_stages.collect import stage_collect
from scripts.reproduce_stages.evaluate import evaluate
from scripts.reproduce_stages.ledger import StageClock
from scripts.reproduce_stages.plots import write_plots
from scripts.reproduce_stages.report import build_report, write_report
from scripts.reproduce_stages.shipped import update_shipped
from scripts.reproduce_stages.sweep import stage_sweep, sweep_decoders
from scripts.reproduce_stages.text import stage_text
from scripts.reproduce_stages.train import HEADS, stage_train
from vla.cli_help import HelpFormatter

REPO = Path(__file__).resolve().parent.parent


def build_parser() -> argparse.ArgumentParser:
    """The options of ``vla reproduce`` (the description is this module's docstring)."""
    p = argparse.ArgumentParser(prog="vla reproduce", description=__doc__,
                                formatter_class=HelpFormatter)
    p.add_argument("--out", default=str(REPO / "runs" / "reproduce"), help="work and report folder")
    p.add_argument("--quick", action="store_true", help="tiny budgets for CI: 2 tasks, few steps, 1 episode")
    g = p.add_argument_group("data")
    g.add_argument("--demos-per-task", type=int, default=20)
    g.add_argument("--action-noise", type=float, default=0.1, help="expert noise executed (labels stay clean)")
    g.add_argument("--tasks", nargs="+", default=None, help="subset of tabletop tasks (default: all 10)")
    g.add_argument("--demos", default="", metavar="DIR",
                   help="reuse demos collected before (a `vla collect` folder, or folders of them such as the "
                        "shipped recipe's runs/g1/demos); nothing is collected")
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
    g.add_argument("--nproc", type=int, default=1,
                   help="training processes (torchrun, one thread each; >1 uses that many cores, same batches)")
    g = p.add_argument_group("stage-2d recipe (the shipped checkpoint's last stage, for every head)")
    g.add_argument("--init-from", default="", metavar="CKPT",
                   help="every head starts from this trained model (backbone + spatial grounding head, e.g. the "
                        "shipped recipe's stage-2b output) with the vision tower and grounding head frozen; "
                        "--head is swapped on it. Then --steps/--batch-size/--lr/--seed are the fine-tune's and "
                        "the model-shape options are unused (suggested: --steps 4000 --batch-size 32 --lr 3e-4)")
    g.add_argument("--holdout", type=int, default=0, metavar="N",
                   help="keep the last N demos of every file out of training and log held-out diagnostics every "
                        "1000 steps (the shipped recipe keeps 5; default: 0)")
    g.add_argument("--ground-teacher-forcing", type=float, default=0.2,
                   help="with --init-from: share of rows fed the true points (plus noise) instead of the head's")
    g.add_argument("--ground-label-noise", type=float, default=0.02, help="with --init-from: that noise, in metres")
    g.add_argument("--full-mask-fraction", type=float, default=0.0, metavar="F",
                   help="diffusion head only: share of each batch with every action token masked, the input of "
                        "one-pass decoding (default: 0)")
    g.add_argument("--diffusion-decoder", default=None, metavar="JSON",
                   help="the diffusion policy's default decoder (written as its decoder.json), used by its main "
                        "evaluation and --update-shipped, e.g. '{\"steps\": 1}' (default: cosine T=12)")
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


def check_args(args: argparse.Namespace) -> str | None:
    """What is wrong with the options (checked before any work), or None."""
    for name in ("demos_per_task", "steps", "batch_size", "episodes_per_task", "sweep_episodes_per_task", "workers",
                 "nproc"):
        if getattr(args, name) < 1:
            return f"--{name.replace('_', '-')} must be >= 1"
    unknown = sorted(set(args.sweep_decoders or ()) - set(sweep_decoders(args.quick)))
    if unknown:
        return f"--sweep-decoders: unknown {unknown}; expected some of {sorted(sweep_decoders(args.quick))}"
    if not 0.0 <= args.full_mask_fraction <= 1.0:
        return f"--full-mask-fraction: expected a number in [0, 1], got {args.full_mask_fraction}"
    if args.holdout < 0:
        return f"--holdout: expected an integer >= 0, got {args.holdout}"
    if args.demos and not Path(args.demos).is_dir():
        return f"--demos: {args.demos!r} is not a folder"
    if args.init_from and not (Path(args.init_from) / "config.json").is_file():
        return f"--init-from: {args.init_from!r} is not a checkpoint folder (config.json + model.safetensors)"
    if isinstance(args.diffusion_decoder, str):
        try:
            args.diffusion_decoder = json.loads(args.diffusion_decoder)
        except json.JSONDecodeError:
            pass  # stays a string: refused below
        if not isinstance(args.diffusion_decoder, dict):
            return (f"--diffusion-decoder: expected a JSON object of decoder options such as '{{\"steps\": 1}}', "
                    f"got {args.diffusion_decoder!r}")
    if args.diffusion_decoder is not None:
        from vla.predict import decoder_config

        try:
            decoder_config("diffusion", args.diffusion_decoder)
        except (TypeError, ValueError) as e:
            return f"--diffusion-decoder: {e}"
    if args.notes and not Path(args.notes).is_file():
        return f"--notes: {args.notes!r} is not a readable file"
    return None


def main(argv: list[str] | None = None) -> int:
    """``vla reproduce``: check the options, run every stage in order (each resumes), write the report."""
    args = build_parser().parse_args(argv)
    if args.quick:
        apply_quick(args)
    problem = check_args(args)
    if problem:
        print(f"vla reproduce: {problem}", file=sys.stderr)
        return 2
    os.environ.setdefault("MUJOCO_GL", "egl")
    os.environ.setdefault("PYOPENGL_PLATFORM", "egl")

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    clock = StageClock(out / "work_seconds.json")
    demos = Path(args.demos) if args.demos else out / "demos"
    data = clock("collect", stage_collect, args, demos)
    train_cmds, heads = {}, {}
    for h in args.heads:
        train_cmds[h] = clock(f"train {h}", stage_train, args, h, demos, out / "train" / h)
    for h in args.heads:
        heads[h] = clock(f"eval {h}", evaluate, args, out / "train" / h, None, out / "eval" / h,
                         args.episodes_per_task, 1)
        if h == "diffusion" and args.diffusion_decoder is not None:
            heads[h]["decoder"] = args.diffusion_decoder  # from its decoder.json
    sweep: dict[str, Any] = {}
    if "diffusion" in args.heads and not args.no_sweep:
        sweep = stage_sweep(args, out / "train" / "diffusion", out / "sweep", heads["diffusion"], clock)
    text = clock("text", stage_text, args, out / "text")
    report = build_report(args, data, demos, train_cmds, heads, sweep, text, clock)
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
