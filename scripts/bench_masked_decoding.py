"""Benchmark: NFE and wall time of each masked-diffusion decoder, with and without the prefix cache.

Runs a randomly initialised `transformers` Llama (sharpened output head, so confidences vary)
at generation lengths 56 (an 8x7 action chunk) and 256 (text), with cache none / prefix /
dual, and checks that the cached runs give the same tokens. Prints a table, writes JSON.
Speed-ups are ratios measured in the same run on the same machine.
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

import torch

from decoding.masked import MaskedDecodeConfig, masked_decode
from decoding.model import HFModel
from decoding.presets import preset

DECODERS = ["ddvla", "ddvla-remask-code", "llada-semi-ar", "fastdllm-threshold", "fastdllm-factor", "fastdllm-threshold-blocks", "localleap", "ccd"]


def build_model(vocab: int, hidden: int, layers: int, sharpen: float, device: str, causal: bool = True) -> HFModel:
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=vocab, hidden_size=hidden, intermediate_size=hidden * 4, num_hidden_layers=layers,
                      num_attention_heads=max(1, hidden // 64), num_key_value_heads=max(1, hidden // 64),
                      max_position_embeddings=4096, **({} if causal else {"is_causal": False}))
    m = LlamaForCausalLM(cfg).eval().to(device)
    with torch.no_grad():
        m.lm_head.weight.mul_(sharpen)
    return HFModel(m)


def bidirectional_agreement(args: argparse.Namespace) -> list[dict]:
    """Token agreement of the approximate prefix / dual cache with the exact decode, bidirectional model."""
    model = build_model(args.vocab, args.hidden, args.layers, args.sharpen, args.device, causal=False)
    mask_id = args.vocab - 1
    g = torch.Generator().manual_seed(1)
    rows = []
    for L in args.lengths:
        prompt = torch.randint(0, args.vocab - 1, (args.batch, args.prompt), generator=g).to(args.device)
        base = preset("ddvla", gen_len=L)
        exact = masked_decode(model, prompt, L, MaskedDecodeConfig.from_dict({**base.to_dict(), "cache": "none"}),
                              mask_id=mask_id, seed=0)
        for cache in ("prefix", "dual"):
            for n in args.refresh:
                cfg = MaskedDecodeConfig.from_dict({**base.to_dict(), "cache": cache, "cache_refresh": n})
                r = masked_decode(model, prompt, L, cfg, mask_id=mask_id, seed=0)
                rows.append({"gen_len": L, "cache": cache, "refresh_every": n,
                             "token_agreement": round(float((r.tokens == exact.tokens).float().mean()), 3),
                             "wall_ms": round(r.stats.wall_time_s * 1000, 1),
                             "exact_wall_ms": round(exact.stats.wall_time_s * 1000, 1)})
    return rows


def step_cost(model: HFModel, batch: int, prompt: int, gen_len: int, vocab: int, device: str,
              repeats: int = 15) -> dict:
    """Median time of one prefix-cached refinement step over a ``gen_len`` canvas against one full
    forward over ``prompt + gen_len`` tokens (interleaved), and the canvas' token share."""
    import time

    ids = torch.randint(0, vocab - 1, (batch, prompt + gen_len), generator=torch.Generator().manual_seed(1)).to(device)
    _, cache = model.prefill(ids, prompt)

    def timed(fn) -> float:
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        return time.perf_counter() - t0

    full, step = [], []
    for i in range(repeats + 2):
        f, s = timed(lambda: model(ids)), timed(lambda: model.step(ids[:, prompt:], cache))
        if i >= 2:  # warm-up
            full.append(f)
            step.append(s)
    f_ms, s_ms = 1000 * sorted(full)[len(full) // 2], 1000 * sorted(step)[len(step) // 2]
    return {"batch": batch, "prompt": prompt, "gen_len": gen_len, "full_forward_ms": round(f_ms, 2),
            "prefix_step_ms": round(s_ms, 2), "step_over_full": round(s_ms / f_ms, 3),
            "token_share": round(gen_len / (prompt + gen_len), 3)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lengths", type=int, nargs="+", default=[56, 256])
    ap.add_argument("--prompt", type=int, default=256, help="prompt tokens (stands in for image + instruction tokens)")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--vocab", type=int, default=512)
    ap.add_argument("--sharpen", type=float, default=40.0)
    ap.add_argument("--decoders", nargs="+", default=DECODERS)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--out", type=Path, default=Path("outputs/bench_masked_decoding.json"))
    ap.add_argument("--refresh", type=int, nargs="+", default=[1, 4, 100],
                    help="bidirectional model: cache_refresh values of the approximate cache (token agreement)")
    args = ap.parse_args(argv)

    model = build_model(args.vocab, args.hidden, args.layers, args.sharpen, args.device)
    mask_id = args.vocab - 1
    g = torch.Generator().manual_seed(0)
    rows = []
    for L in args.lengths:
        prompt = torch.randint(0, args.vocab - 1, (args.batch, args.prompt), generator=g).to(args.device)
        for name in args.decoders:
            base = preset(name, gen_len=L)
            results = {}
            for cache in ("none", "prefix", "dual"):
                cfg = MaskedDecodeConfig.from_dict({**base.to_dict(), "cache": cache})
                masked_decode(model, prompt[:1], min(L, 8), cfg, mask_id=mask_id)  # warm-up
                results[cache] = masked_decode(model, prompt, L, cfg, mask_id=mask_id, seed=0)
            ref = results["none"]
            for cache, r in results.items():
                rows.append({
                    "gen_len": L, "decoder": name, "cache": cache,
                    "nfe": r.stats.nfe, "mean_row_nfe": round(r.stats.row_nfe.float().mean().item(), 2),
                    "wall_ms": round(r.stats.wall_time_s * 1000, 1),
                    "speedup_vs_none": round(ref.stats.wall_time_s / max(r.stats.wall_time_s, 1e-9), 2),
                    "same_tokens": bool(torch.equal(r.tokens, ref.tokens)),
                })
                print(" | ".join(f"{k}={v}" for k, v in rows[-1].items()), flush=True)
    from scripts.decode_demo import format_table

    print()
    print(format_table(rows))
    costs = [step_cost(model, b, 300, 56, args.vocab, args.device) for b in (1, args.batch)]
    print("\none prefix-cached refinement step (56-token canvas) vs one full forward (300 + 56 tokens); "
          "target: step/full <= 0.15, near the token share")
    print(format_table(costs))
    bidir = bidirectional_agreement(args)
    print("\nbidirectional model (is_causal=False): the exact decode runs without a cache; the approximate cache "
          "(Fast-dLLM) refreshed every N steps agrees on this share of tokens")
    print(format_table(bidir))
    meta = {"device": args.device, "torch": torch.__version__, "machine": platform.machine(), "threads": torch.get_num_threads(),
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}
    meta |= {k: v for k, v in vars(args).items() if k != "out"}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"meta": meta, "rows": rows, "prefix_step_cost": costs, "bidirectional": bidir}, indent=2))
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
