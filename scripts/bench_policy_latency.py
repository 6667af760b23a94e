"""Per-chunk latency and NFE of each VLA head and decoder, with and without the prefix KV cache.

Random-weight models of the `tiny` preset and of a ~100M-parameter configuration; one
observation (batch 1), median over repeats after a warm-up. CUDA when available (``--device``).
Prints a table and writes JSON (``--out``).

    python scripts/bench_policy_latency.py --out bench_policy_latency.json
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from typing import Any

import numpy as np
import torch

from decoding.autoregressive import ARDecodeConfig, ar_decode
from vla.action_tokenizer import ActionTokenizer
from vla.config import VLAConfig
from vla.decode_adapters import PrefixAdapter
from vla.factory import build_tiny
from vla.inference import VLAInference
from vla.predict import allowed_action_tokens
from vla.synthetic import COLOURS, OBJECTS
from vla.text_tokenizer import build_word_tokenizer

SIZES: dict[str, dict[str, Any]] = {
    "tiny": {"image_size": 64, "vision": {}, "language": {}},
    "100m": {"image_size": 224,
             "vision": dict(patch_size=16, hidden_size=384, num_hidden_layers=6, num_attention_heads=6,
                            intermediate_size=1536),
             "language": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, num_key_value_heads=4,
                              intermediate_size=2560, max_position_embeddings=1024)},
}

# (head, decoder name, decoder options)
VARIANTS: list[tuple[str, str, dict[str, Any]]] = [
    ("diffusion", "masked T=12 cosine topk, prefix cache", {"steps": 12, "cache": "prefix"}),
    ("diffusion", "masked T=12 cosine topk, no cache", {"steps": 12, "cache": "none"}),
    ("diffusion", "masked T=12 + ddvla_code remask, prefix cache", {"steps": 12, "remask": "ddvla_code",
                                                                     "cache": "prefix"}),
    ("diffusion", "masked T=4 cosine topk, prefix cache", {"steps": 4, "cache": "prefix"}),
    ("ar", "ar greedy, KV cache", {}),
    ("ar", "ar greedy, no cache", {"no_cache": True}),
    ("l1", "l1 one pass", {}),
]


def make_policy(size: str, head: str, decoder: dict[str, Any], device: str) -> VLAInference:
    words = [f"pick up the {c} {o}" for c in COLOURS for o in OBJECTS]
    tok = build_word_tokenizer(words)
    spec = SIZES[size]
    cfg = VLAConfig(head=head, image_size=spec["image_size"])
    model = build_tiny(cfg, tok, spec["vision"], spec["language"], seed=0)
    stats = ActionTokenizer.fit(np.random.default_rng(0).normal(size=(100, 7)),
                                np.random.default_rng(1).normal(size=(100, 8)))
    return VLAInference(model, tok, stats, decoder=decoder if head == "diffusion" else None, device=device)


def observation(size: int) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    return {"agentview_rgb": rng.integers(0, 255, (size, size, 3), dtype=np.uint8),
            "eye_in_hand_rgb": rng.integers(0, 255, (size, size, 3), dtype=np.uint8),
            "proprio": np.zeros(8, np.float32), "instruction": "pick up the red cube"}


def run_once(policy: VLAInference, obs: dict[str, Any], no_cache_ar: bool) -> tuple[float, int]:
    if not no_cache_ar:
        _, info = policy.predict(obs)
        return float(info["latency_s"]), int(info["nfe"])
    # AR without a KV cache: the adapter as a plain callable re-runs prefix + block every token
    cfg = policy.config
    t0 = time.perf_counter()
    with torch.no_grad():
        prefix = policy.prepare([obs])
        adapter = PrefixAdapter(policy.model, prefix, causal=True)
        start = torch.full((1, 1), cfg.action_start_id, dtype=torch.long, device=policy.device)
        res = ar_decode(lambda ids: adapter(ids), start, cfg.action_tokens, ARDecodeConfig(),
                        allowed=allowed_action_tokens(cfg, policy.device))
        res.tokens.cpu()
    if policy.device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t0, res.stats.nfe


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", nargs="+", default=list(SIZES), choices=list(SIZES))
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--repeats-100m", type=int, default=2, help="repeats for the 100m size on CPU")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    p.add_argument("--out", default="bench_policy_latency.json")
    args = p.parse_args(argv)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    rows = []
    for size in args.sizes:
        obs = observation(SIZES[size]["image_size"])
        reps = args.repeats if (size == "tiny" or args.device != "cpu") else args.repeats_100m
        for head, name, options in VARIANTS:
            opts = {k: v for k, v in options.items() if k != "no_cache"}
            policy = make_policy(size, head, opts, args.device)
            params = sum(x.numel() for x in policy.model.parameters())
            run_once(policy, obs, "no_cache" in options)  # warm-up
            times, nfe = [], 0
            for _ in range(reps):
                t, nfe = run_once(policy, obs, "no_cache" in options)
                times.append(t)
            row = {"size": size, "params_m": round(params / 1e6, 2), "head": head, "decoder": name, "nfe": nfe,
                   "latency_ms_median": 1000 * statistics.median(times), "latency_ms_min": 1000 * min(times),
                   "repeats": reps, "device": args.device, "action_tokens": policy.config.action_tokens}
            rows.append(row)
            print(f"{size:5s} {row['params_m']:7.2f}M {head:9s} {name:46s} NFE {nfe:3d} "
                  f"{row['latency_ms_median']:9.1f} ms", flush=True)
            del policy
    meta = {"device": args.device, "torch": torch.__version__, "threads": torch.get_num_threads(),
            "machine": platform.processor() or platform.machine(),
            "gpu": torch.cuda.get_device_name(0) if args.device.startswith("cuda") else None}
    with open(args.out, "w") as f:
        json.dump({"meta": meta, "results": rows}, f, indent=2)
    print(f"\n{'size':5s} {'params':>8s} {'head':9s} {'decoder':46s} {'NFE':>4s} {'median ms':>10s}")
    for r in rows:
        print(f"{r['size']:5s} {r['params_m']:7.2f}M {r['head']:9s} {r['decoder']:46s} {r['nfe']:4d} "
              f"{r['latency_ms_median']:10.1f}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
