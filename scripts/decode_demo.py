"""Decoding demo: every masked-diffusion decoder on a synthetic task, as a table of NFE and accuracy.

The task (``decoding.synthetic.DependencyModel``) has a known answer: a position is confident
once a neighbour holds its right token and unsure (often wrong) on its own, so decoders that
commit too much in parallel lose accuracy while adaptive rules stay accurate with few steps.
A learned (Learn2PD) filter is trained on traces of one decode and evaluated on fresh rows.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from decoding.learned_filter import train_filter
from decoding.masked import MaskedDecodeConfig, masked_decode
from decoding.presets import PRESETS, preset
from decoding.synthetic import DependencyModel
from vla.cli_help import HelpFormatter


def make_task(batch: int, length: int, vocab: int, seed: int) -> tuple[DependencyModel, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    targets = torch.randint(0, vocab - 1, (batch, length), generator=g)
    base = torch.rand(batch, length, generator=g) * 0.6 + 0.35
    return DependencyModel(targets, base, vocab, vocab - 1), targets


def run(batch: int = 64, length: int = 56, vocab: int = 64, seed: int = 0) -> list[dict]:
    model, targets = make_task(batch, length, vocab, seed)
    mask_id = vocab - 1
    prompt = torch.zeros(batch, 0, dtype=torch.long)
    configs: dict[str, MaskedDecodeConfig] = {name: preset(name, gen_len=length) for name in PRESETS}
    for steps in (1, 2, 4, 8):
        configs[f"cosine-T{steps}"] = MaskedDecodeConfig(steps=steps)
    # Learn2PD: train the filter on traces of another task instance, then decode this one
    train_model, _ = make_task(batch, length, vocab, seed + 1)
    trace = masked_decode(train_model, prompt, length, MaskedDecodeConfig(steps=length, schedule="linear"), mask_id=mask_id, record_trace=True)
    configs["learn2pd"] = MaskedDecodeConfig(commit="learned", learned_filter=train_filter([trace.stats.extra["trace"]]), learned_threshold=0.9, steps=length, schedule="linear")
    rows = []
    for name, cfg in configs.items():
        r = masked_decode(model, prompt, length, cfg, mask_id=mask_id, seed=seed)
        nfe = r.stats.row_nfe.float()
        rows.append({
            "decoder": name,
            "mean_nfe": round(nfe.mean().item(), 2),
            "max_nfe": int(nfe.max().item()),
            "tokens_per_step": round(length / nfe.mean().item(), 2),
            "token_acc": round((r.tokens == targets).float().mean().item(), 4),
            "seq_acc": round((r.tokens == targets).all(1).float().mean().item(), 4),
            "remasks_per_row": round(r.stats.remask_count.sum().item() / batch, 2),
            "wall_ms": round(r.stats.wall_time_s * 1000, 1),
        })
    return rows


def format_table(rows: list[dict]) -> str:
    cols = list(rows[0])
    widths = [max(len(c), *(len(str(r[c])) for r in rows)) for c in cols]
    line = " | ".join(c.ljust(w) for c, w in zip(cols, widths))
    sep = "-|-".join("-" * w for w in widths)
    body = [" | ".join(str(r[c]).ljust(w) for c, w in zip(cols, widths)) for r in rows]
    return "\n".join([line, sep, *body])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="vla decode-demo", description=__doc__, formatter_class=HelpFormatter)
    ap.add_argument("--batch", type=int, default=64, help="rows decoded together (default 64)")
    ap.add_argument("--length", type=int, default=56, help="tokens per row, e.g. 8 steps x 7 dims (default 56)")
    ap.add_argument("--vocab", type=int, default=64, help="vocabulary size incl. the mask token (default 64)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("outputs/decode_demo.json"), help="JSON results path")
    args = ap.parse_args(argv)
    rows = run(args.batch, args.length, args.vocab, args.seed)
    print(f"Masked-diffusion decoders on a synthetic dependency task (L={args.length}, batch={args.batch})\n")
    print(format_table(rows))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"task": vars(args) | {"out": str(args.out)}, "rows": rows}, indent=2))
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
