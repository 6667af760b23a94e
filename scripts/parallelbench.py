"""Text side of the NFE question: where does parallel decoding break? (ParallelBench-style)

Trains a tiny masked-diffusion LM and a tiny autoregressive LM on list tasks over person names
(copy, reverse, sort, shuffle, insert, remove, replace and their "random" variants; regenerated
locally with fixed seeds), then decodes held-out examples with each parallel decoder and
reports accuracy against tokens per step, per task. Exact tasks should survive parallel
decoding; tasks with many valid answers (shuffle, *_random) break when positions are chosen
independently. Writes ``report.md``, ``results.json`` and ``accuracy_vs_tokens_per_step.png``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from decoding.learned_filter import train_filter
from decoding.masked import MaskedDecodeConfig, masked_decode
from vla.list_lm import answer_allowed, encode, evaluate_arlm, evaluate_mdlm, train_lm
from vla.list_tasks import MAX_OUT, TASKS, ListVocab, generate


def decoder_sweep(include_learned: bool = True) -> dict[str, dict]:
    sweep: dict[str, dict] = {f"cosine-T{t}": {"steps": t} for t in (1, 2, 4, MAX_OUT)}
    sweep |= {f"threshold-{tau}": {"commit": "threshold", "threshold": tau} for tau in (0.5, 0.7, 0.9, 0.99)}
    sweep |= {f"factor-{f}": {"commit": "factor", "factor": f} for f in (0.5, 1.0, 2.0)}
    sweep["localleap"] = {"commit": "localleap"}
    sweep["ccd"] = {"commit": "ccd", "steps": 4}
    sweep["cosine-T4+remask-code"] = {"steps": 4, "remask": "ddvla_code"}
    if include_learned:
        sweep["learn2pd"] = {"commit": "learned", "learned_threshold": 0.9, "steps": MAX_OUT, "schedule": "linear"}
    return sweep


def fit_learned_filter(model: torch.nn.Module, vocab: ListVocab, seed: int, n_per_task: int) -> object:
    """Learn2PD: record one-token-per-step traces on training-distribution data, fit the filter."""
    exs = [ex for t in TASKS for ex in generate(t, n_per_task, seed=seed + 7)]
    prompt, _ = encode(exs, vocab)
    cfg = MaskedDecodeConfig(steps=MAX_OUT, schedule="linear", cache="none")
    res = masked_decode(model, prompt, MAX_OUT, cfg, mask_id=vocab.mask, allowed=answer_allowed(vocab), record_trace=True)
    return train_filter([res.stats.extra["trace"]])


def plot(results: dict, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = list(results["mdlm"])
    cols = 5
    rows = (len(tasks) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3.2 * rows), squeeze=False)
    for ax, task in zip(axes.flat, tasks):
        pts = sorted((r["tokens_per_step"], r["accuracy"], name) for name, r in results["mdlm"][task].items())
        ax.plot([p[0] for p in pts], [p[1] for p in pts], "o", alpha=0.8, label="masked diffusion decoders")
        ar = results["arlm"][task]
        ax.plot([ar["tokens_per_step"]], [ar["accuracy"]], "r*", markersize=12, label="autoregressive (greedy)")
        ax.set_title(task)
        ax.set_xlabel("tokens per step")
        ax.set_ylabel("accuracy")
        ax.set_ylim(-0.05, 1.05)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(tasks) :]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=90)
    plt.close(fig)


def markdown(results: dict, meta: dict) -> str:
    tasks = list(results["mdlm"])
    decoders = list(results["mdlm"][tasks[0]])
    lines = ["# List tasks: accuracy vs tokens per step", "", f"Setup: `{json.dumps(meta)}`", ""]
    lines.append("| decoder | tokens/step | " + " | ".join(tasks) + " |")
    lines.append("|---|---|" + "---|" * len(tasks))
    for d in decoders:
        tps = sum(results["mdlm"][t][d]["tokens_per_step"] for t in tasks) / len(tasks)
        cells = " | ".join(f"{results['mdlm'][t][d]['accuracy']:.2f}" for t in tasks)
        lines.append(f"| {d} | {tps:.2f} | {cells} |")
    ar_cells = " | ".join(f"{results['arlm'][t]['accuracy']:.2f}" for t in tasks)
    lines.append(f"| AR greedy | {sum(results['arlm'][t]['tokens_per_step'] for t in tasks) / len(tasks):.2f} | {ar_cells} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="parallelbench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("outputs/parallelbench"))
    ap.add_argument("--train-steps", type=int, default=1500)
    ap.add_argument("--eval-per-task", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="tiny budgets for CI (minutes): 20 train steps, 8 examples per task")
    args = ap.parse_args(argv)
    if args.quick:
        args.train_steps, args.eval_per_task = 20, 8
    args.out.mkdir(parents=True, exist_ok=True)
    vocab = ListVocab()
    t0 = time.time()
    mdlm, mdlm_losses = train_lm("mdlm", vocab, args.train_steps, seed=args.seed)
    arlm, arlm_losses = train_lm("arlm", vocab, args.train_steps, seed=args.seed)
    sweep = decoder_sweep()
    learned = fit_learned_filter(mdlm, vocab, args.seed, max(4, args.eval_per_task // 2))
    results: dict = {"mdlm": {}, "arlm": {}}
    for task in TASKS:
        exs = generate(task, args.eval_per_task, seed=10_000 + args.seed)  # held out: other seeds than training
        results["mdlm"][task] = {}
        for name, cfg in sweep.items():
            cfg = dict(cfg)
            if cfg.get("commit") == "learned":
                cfg["learned_filter"] = learned
            results["mdlm"][task][name] = evaluate_mdlm(mdlm, vocab, exs, cfg)
        results["arlm"][task] = evaluate_arlm(arlm, vocab, exs)
        best = max(results["mdlm"][task].values(), key=lambda r: r["accuracy"])
        print(f"{task:15s} AR acc {results['arlm'][task]['accuracy']:.2f} | best diffusion acc {best['accuracy']:.2f} at {best['tokens_per_step']:.2f} tok/step", flush=True)
    meta = {"train_steps": args.train_steps, "eval_per_task": args.eval_per_task, "seed": args.seed,
            "final_loss": {"mdlm": mdlm_losses[-1], "arlm": arlm_losses[-1]}, "wall_s": round(time.time() - t0, 1)}
    (args.out / "results.json").write_text(json.dumps({"meta": meta, "decoders": sweep | {"learn2pd": {**sweep["learn2pd"], "learned_filter": "trained on traces"}}, "results": results}, indent=2, default=str))
    (args.out / "report.md").write_text(markdown(results, meta))
    plot(results, args.out / "accuracy_vs_tokens_per_step.png")
    print((args.out / "report.md").read_text())
    print(f"wrote {args.out}/report.md, results.json, accuracy_vs_tokens_per_step.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
