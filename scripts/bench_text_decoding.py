"""Benchmark of the autoregressive, speculative and entropy-adaptive decoders on text tokens.

Trains, here on CPU, a tiny Llama-style target LM and a smaller draft LM on a synthetic corpus
with repetition (phrases repeated with noise, so copying from context pays off), then decodes
held-out prompts with every method and reports, per method: NFE per model, acceptance rate,
tokens per target call, wall time, speedup over plain greedy, and agreement with the greedy
output (lossless methods must be 1.0). Prints a table and writes JSON.

    python scripts/bench_text_decoding.py --out bench_text_decoding.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from decoding.autoregressive import ARDecodeConfig, ar_decode
from decoding.drafters import AcceptancePredictor, ADEDDrafter, PromptLookupDrafter, SmallModelDrafter
from decoding.entropy_adaptive import AdaDecConfig, EADConfig, adadec_decode, ead_decode
from decoding.speculative import SpecConfig, speculative_decode
from decoding.stats import DecodeResult

BOS = 1


def make_corpus(n: int, length: int, vocab: int, seed: int) -> torch.Tensor:
    """Sequences of repeated random phrases (length 3-8) with 10% token noise, after BOS."""
    g = torch.Generator().manual_seed(seed)
    out = torch.empty(n, length, dtype=torch.long)
    for i in range(n):
        seq = [BOS]
        while len(seq) < length:
            phrase = torch.randint(2, vocab, (int(torch.randint(3, 9, (1,), generator=g)),), generator=g).tolist()
            for _ in range(int(torch.randint(2, 6, (1,), generator=g))):
                seq += [t if torch.rand(1, generator=g) > 0.1 else int(torch.randint(2, vocab, (1,), generator=g))
                        for t in phrase]
        out[i] = torch.tensor(seq[:length])
    return out


def build_lm(vocab: int, hidden: int, layers: int, seed: int) -> torch.nn.Module:
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=vocab, hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=layers,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512, pad_token_id=0)
    return LlamaForCausalLM(cfg)


def train_lm(model: torch.nn.Module, data: torch.Tensor, steps: int, batch: int, lr: float, seed: int, name: str) -> float:
    """Next-token cross-entropy with AdamW; returns the final training loss."""
    from tqdm import tqdm

    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    model.train()
    loss_v = float("nan")
    bar = tqdm(range(steps), desc=f"train {name}", file=sys.stderr, disable=steps < 20)
    for step in bar:
        idx = torch.randint(0, data.shape[0], (batch,), generator=g)
        x = data[idx]
        logits = model(input_ids=x).logits
        loss = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), x[:, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        for group in opt.param_groups:  # linear decay
            group["lr"] = lr * (1 - (step + 1) / steps)
        loss_v = float(loss.detach())
        bar.set_postfix(loss=f"{loss_v:.3f}")
    model.eval()
    return loss_v


def fit_acceptance_head(target: Any, draft: Any, prompts: torch.Tensor, new_tokens: int) -> AcceptancePredictor:
    """SpecDec++ head: record (draft features, accepted) on training prompts, fit a logistic head."""
    rec = SmallModelDrafter(draft, record=True)
    speculative_decode(target, rec, prompts, new_tokens, SpecConfig(num_draft=8))
    return AcceptancePredictor().fit(rec.records)


def methods(
    target: Any, draft: Any, k: int, head: AcceptancePredictor | None = None
) -> dict[str, tuple[bool, Callable[[torch.Tensor, int], DecodeResult]]]:
    """name -> (lossless w.r.t. greedy, decode(prompt, max_new))."""
    aded = ADEDDrafter(include_prompt=True)
    return {
        "greedy": (True, lambda p, n: ar_decode(target, p, n)),
        "sample_t0.8_p0.95": (False, lambda p, n: ar_decode(target, p, n, ARDecodeConfig("sample", temperature=0.8, top_p=0.95))),
        "beam4": (False, lambda p, n: ar_decode(target, p, n, ARDecodeConfig("beam", num_beams=4))),
        "diverse_beam4x2": (False, lambda p, n: ar_decode(
            target, p, n, ARDecodeConfig("diverse_beam", num_beams=4, num_beam_groups=2, diversity_penalty=0.5))),
        f"spec_small_k{k}": (True, lambda p, n: speculative_decode(target, draft, p, n, SpecConfig(num_draft=k))),
        "spec_small_adaptive": (True, lambda p, n: speculative_decode(
            target, draft, p, n, SpecConfig(num_draft=k, adaptive_length=True, max_draft=12))),
        "spec_small_specdec++_h0.3": (True, lambda p, n: speculative_decode(
            target, SmallModelDrafter(draft, stop_threshold=0.3), p, n, SpecConfig(num_draft=10))),
        "spec_small_specdec++_learned_h0.5": (True, lambda p, n: speculative_decode(
            target, SmallModelDrafter(draft, stop_threshold=0.5, acceptance_predictor=head), p, n, SpecConfig(num_draft=10))),
        f"spec_small_sample_k{k}": (False, lambda p, n: speculative_decode(
            target, draft, p, n, SpecConfig(num_draft=k, temperature=0.8, top_p=0.95))),
        "spec_prompt_lookup": (True, lambda p, n: speculative_decode(
            target, PromptLookupDrafter(max_ngram=3, max_draft=10), p, n, SpecConfig(num_draft=10))),
        "spec_aded_trigram": (True, lambda p, n: speculative_decode(target, aded, p, n, SpecConfig(num_draft=8))),
        "ead_tau2.0": (False, lambda p, n: ead_decode(draft, target, p, n, EADConfig(tau=2.0, window=4))),
        "adadec_h2.0": (False, lambda p, n: adadec_decode(target, p, n, AdaDecConfig(threshold=2.0, num_candidates=3, lookahead=3))),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    torch.set_num_threads(args.threads)
    corpus = make_corpus(args.train_seqs + args.prompts, args.seq_len, args.vocab, args.seed)
    train, held = corpus[: args.train_seqs], corpus[args.train_seqs :]
    t0 = time.perf_counter()
    target = build_lm(args.vocab, args.hidden, args.layers, args.seed)
    draft = build_lm(args.vocab, args.draft_hidden, args.draft_layers, args.seed + 1)
    loss_t = train_lm(target, train, args.train_steps, args.batch, 3e-3, args.seed, "target")
    loss_d = train_lm(draft, train, args.draft_steps, args.batch, 3e-3, args.seed + 1, "draft")
    train_s = time.perf_counter() - t0
    prompts = [held[i : i + 1, : args.prompt_len] for i in range(args.prompts)]
    rows: dict[str, dict[str, Any]] = {}
    greedy_tokens: list[torch.Tensor] = []
    head = fit_acceptance_head(target, draft, train[: min(8, len(train)), : args.prompt_len], args.new_tokens)
    for name, (lossless, fn) in methods(target, draft, args.num_draft, head).items():
        fn(prompts[0], 4)  # warm-up
        agg: dict[str, Any] = {"lossless": lossless, "nfe_per_model": {}, "drafted": 0, "accepted": 0,
                               "wall_time_s": 0.0, "tokens": 0, "agree": 0}
        for i, p in enumerate(prompts):
            res = fn(p, args.new_tokens)
            s = res.stats
            for m, v in s.nfe_per_model.items():
                agg["nfe_per_model"][m] = agg["nfe_per_model"].get(m, 0) + v
            agg["drafted"] += s.drafted
            agg["accepted"] += s.accepted
            agg["wall_time_s"] += s.wall_time_s
            agg["tokens"] += int(res.tokens.numel())
            if name == "greedy":
                greedy_tokens.append(res.tokens)
            agg["agree"] += int((res.tokens == greedy_tokens[i]).sum())
            if "large_token_share" in s.extra:
                agg.setdefault("large_tokens", 0)
                agg["large_tokens"] += s.extra["large_token_share"] * res.tokens.numel()
        calls = agg["nfe_per_model"].get("target", agg["nfe_per_model"].get("large", 0))
        row = {
            "lossless": lossless,
            "nfe_per_model": agg["nfe_per_model"],
            "acceptance_rate": agg["accepted"] / agg["drafted"] if agg["drafted"] else None,
            "tokens_per_target_call": agg["tokens"] / calls if calls else None,
            "wall_time_s": agg["wall_time_s"],
            "agreement_with_greedy": agg["agree"] / agg["tokens"],
        }
        if "large_tokens" in agg:
            row["large_token_share"] = agg["large_tokens"] / agg["tokens"]
        rows[name] = row
        print(f"  {name}: done", file=sys.stderr)
    base = rows["greedy"]["wall_time_s"]
    for row in rows.values():
        row["speedup_vs_greedy"] = base / row["wall_time_s"] if row["wall_time_s"] > 0 else None
    looping = [torch.tensor([[BOS] + [5, 9, 12] * 6])] + [p[:, :8] for p in prompts[:3]]
    untrained = build_lm(args.vocab, args.hidden, args.layers, args.seed + 7).eval()  # random weights loop
    side = {"ordinary": lookup_vs_transformers(target, {"ordinary": prompts}, args.new_tokens)["ordinary"],
            "looping": lookup_vs_transformers(untrained, {"looping": looping}, args.new_tokens)["looping"]}
    print("  prompt lookup vs transformers: done", file=sys.stderr)
    return {
        "config": vars(args),
        "prompt_lookup_vs_transformers": side,
        "train": {"target_final_loss": loss_t, "draft_final_loss": loss_d, "train_wall_s": train_s,
                  "target_params": sum(p.numel() for p in target.parameters()),
                  "draft_params": sum(p.numel() for p in draft.parameters()),
                  "acceptance_head_weights": head.weight.tolist()},
        "methods": rows,
    }


def _count_calls(model: torch.nn.Module) -> tuple[list[int], Any]:
    calls = [0]

    def hook(*_: Any) -> None:
        calls[0] += 1

    return calls, model.register_forward_pre_hook(hook)


def lookup_vs_transformers(target: torch.nn.Module, cases: dict[str, list[torch.Tensor]], new_tokens: int,
                           ngram: int = 2, draft: int = 10) -> dict[str, Any]:
    """Prompt-lookup speculative greedy decoding, ours vs transformers' ``generate(prompt_lookup_num_tokens)``,
    on the same prompts: target forward calls, wall time, token agreement (both must equal greedy)."""
    out: dict[str, Any] = {}
    for case, prompts in cases.items():
        row = {"ours_calls": 0, "hf_calls": 0, "ours_s": 0.0, "hf_s": 0.0, "agree": 0, "tokens": 0}
        for p in prompts:
            calls, h = _count_calls(target)
            t0 = time.perf_counter()
            res = speculative_decode(target, PromptLookupDrafter(max_ngram=ngram, max_draft=draft), p, new_tokens,
                                     SpecConfig(num_draft=draft))
            row["ours_s"] += time.perf_counter() - t0
            row["ours_calls"] += calls[0]
            h.remove()
            calls, h = _count_calls(target)
            t0 = time.perf_counter()
            with torch.no_grad():
                hf = target.generate(p, attention_mask=torch.ones_like(p), max_new_tokens=new_tokens, min_new_tokens=new_tokens,
                                     do_sample=False, prompt_lookup_num_tokens=draft, max_matching_ngram_size=ngram,
                                     pad_token_id=0, eos_token_id=None)
            row["hf_s"] += time.perf_counter() - t0
            row["hf_calls"] += calls[0]
            h.remove()
            hf_new = hf[:, p.shape[1]:]
            n = min(hf_new.shape[1], res.tokens.shape[1])
            row["agree"] += int((hf_new[:, :n] == res.tokens[:, :n]).sum())
            row["tokens"] += n
        row["calls_ratio"] = row["ours_calls"] / max(1, row["hf_calls"])
        row["wall_ratio"] = row["ours_s"] / max(1e-9, row["hf_s"])
        row["agreement"] = row["agree"] / max(1, row["tokens"])
        out[case] = row
    return out


def print_table(result: dict[str, Any]) -> None:
    t = result["train"]
    print(f"target {t['target_params']} params (loss {t['target_final_loss']:.3f}), "
          f"draft {t['draft_params']} params (loss {t['draft_final_loss']:.3f}), trained in {t['train_wall_s']:.0f}s")
    head = f"{'method':34s} {'target':>7s} {'draft':>6s} {'accept':>7s} {'tok/tgt':>8s} {'wall s':>7s} {'speedup':>8s} {'=greedy':>8s} {'large%':>7s}"
    print(head)
    print("-" * len(head))
    for name, r in result["methods"].items():
        n = r["nfe_per_model"]
        tgt = n.get("target", n.get("large", 0))
        dr = n.get("draft", n.get("small", 0))
        acc = f"{r['acceptance_rate']:.2f}" if r["acceptance_rate"] is not None else "-"
        large = f"{100 * r['large_token_share']:.0f}" if "large_token_share" in r else "-"
        tpc = f"{r['tokens_per_target_call']:.2f}" if r["tokens_per_target_call"] is not None else "-"
        print(f"{name:34s} {tgt:7d} {dr:6d} {acc:>7s} {tpc:>8s} {r['wall_time_s']:7.2f} "
              f"{r['speedup_vs_greedy']:7.2f}x {r['agreement_with_greedy']:8.2f} {large:>7s}")
    print("(EAD: 'target' = large-model calls, 'draft' = small-model calls)")
    side = result.get("prompt_lookup_vs_transformers")
    if side:
        print("\nprompt lookup (greedy, n-gram 2, draft 10): ours vs transformers generate(prompt_lookup_num_tokens)")
        print(f"{'case':10s} {'ours calls':>10s} {'hf calls':>9s} {'ratio':>6s} {'ours s':>7s} {'hf s':>6s} {'ratio':>6s} {'agree':>6s}")
        for case, r in side.items():
            print(f"{case:10s} {r['ours_calls']:10d} {r['hf_calls']:9d} {r['calls_ratio']:6.2f} {r['ours_s']:7.2f} "
                  f"{r['hf_s']:6.2f} {r['wall_ratio']:6.2f} {r['agreement']:6.2f}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("bench_text_decoding.json"), help="JSON output path")
    ap.add_argument("--vocab", type=int, default=64)
    ap.add_argument("--seq-len", type=int, default=64, help="training sequence length")
    ap.add_argument("--train-seqs", type=int, default=2000)
    ap.add_argument("--hidden", type=int, default=96, help="target hidden size")
    ap.add_argument("--layers", type=int, default=3, help="target layers")
    ap.add_argument("--draft-hidden", type=int, default=32)
    ap.add_argument("--draft-layers", type=int, default=2)
    ap.add_argument("--train-steps", type=int, default=800)
    ap.add_argument("--draft-steps", type=int, default=600)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--prompts", type=int, default=8, help="held-out prompts (decoded one at a time)")
    ap.add_argument("--prompt-len", type=int, default=24)
    ap.add_argument("--new-tokens", type=int, default=40)
    ap.add_argument("--num-draft", type=int, default=4, help="draft length of the small-model drafter")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    for name in ("vocab", "seq_len", "train_seqs", "prompts", "prompt_len", "new_tokens", "threads"):
        if getattr(args, name) < 1:
            ap.error(f"--{name.replace('_', '-')}: expected >= 1")
    if args.prompt_len >= args.seq_len:
        ap.error("--prompt-len: expected less than --seq-len")
    result = run(args)
    print_table(result)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    result["config"] = {k: str(v) if isinstance(v, Path) else v for k, v in result["config"].items()}
    args.out.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
