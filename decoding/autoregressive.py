"""Autoregressive decoding: greedy, sampling (temperature / top-k / top-p), beam and diverse beam.

:func:`ar_decode` is the one entry point. ``model`` is an
:class:`decoding.incremental.IncrementalModel`, a `transformers` causal LM (KV cache through
its own cache object, left padding through ``attention_mask``) or a plain ``ids -> logits``
callable. Each step's next-token logits go through: the per-position ``allowed`` mask, the
config's built-in processors (repetition penalty, no-repeat n-gram, minimum length), the
caller's ``logits_processors``, then temperature / top-k / top-p (sampling only). Rows stop at
``eos_id`` or when a stopping criterion says so and are padded with ``pad_id`` afterwards.
Sampling draws from one generator per row, so a batch equals its rows decoded one by one.
The config and the helpers shared with :mod:`decoding.beam` live in :mod:`decoding.ar_common`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from decoding.ar_common import (
    EARLY_STOPPING,
    STRATEGIES,
    ARDecodeConfig,
    build_processors,
    check_prompt,
    eos_tensor,
    generated_lengths,
    tokens_per_call,
)
from decoding.beam import BeamDecodeResult, beam_decode
from decoding.incremental import as_incremental
from decoding.logits_processors import StoppingCriteriaList
from decoding.sampling import RowRNG, choose_tokens
from decoding.stats import DecodeResult, DecodeStats, Timer

__all__ = [
    "EARLY_STOPPING",
    "STRATEGIES",
    "ARDecodeConfig",
    "BeamDecodeResult",
    "ar_decode",
    "build_processors",
    "check_prompt",
    "eos_tensor",
    "generated_lengths",
    "tokens_per_call",
]


def ar_decode(
    model: Any,
    prompt_ids: torch.Tensor,
    max_new_tokens: int,
    config: ARDecodeConfig | None = None,
    *,
    attention_mask: torch.Tensor | None = None,
    allowed: torch.Tensor | None = None,
    eos_id: int | Sequence[int] | None = None,
    pad_id: int = 0,
    seed: int | Sequence[int] | None = 0,
    logits_processors: Sequence[Any] = (),
    stopping_criteria: Sequence[Any] = (),
    model_name: str = "target",
) -> DecodeResult:
    """Decode ``max_new_tokens`` tokens after ``prompt_ids [B, P]`` left to right.

    Returns tokens ``[B, max_new_tokens]`` (``pad_id`` after a row stops) and statistics: NFE
    under ``model_name``, per-row NFE, one token per step, wall time, and
    ``extra["tokens_per_target_call"]``. Beam strategies return a
    :class:`decoding.beam.BeamDecodeResult` that also holds every final beam.
    """
    config = config or ARDecodeConfig()
    check_prompt(prompt_ids, max_new_tokens)
    inc = as_incremental(model, attention_mask)
    if config.strategy in ("beam", "diverse_beam"):
        return beam_decode(
            inc, prompt_ids, max_new_tokens, config, allowed=allowed, eos_id=eos_id, pad_id=pad_id,
            logits_processors=logits_processors, stopping_criteria=stopping_criteria, model_name=model_name,
        )
    B, P = prompt_ids.shape
    device = prompt_ids.device
    stats = DecodeStats()
    stats.row_nfe = torch.zeros(B, dtype=torch.long)
    stats.tokens_per_step = [[] for _ in range(B)]
    stats.commit_step = torch.full((B, max_new_tokens), -1, dtype=torch.long)
    procs = build_processors(config, P, eos_id, allowed, logits_processors)
    stops = StoppingCriteriaList(stopping_criteria)
    eos = eos_tensor(eos_id, device)
    sample = config.strategy == "sample"
    rng = RowRNG(B, seed, device) if sample else None
    out = torch.full((B, max_new_tokens), pad_id, dtype=torch.long, device=device)
    done = torch.zeros(B, dtype=torch.bool, device=device)
    ids = prompt_ids.long()
    with Timer(stats):
        if max_new_tokens > 0:
            logits, state = inc.start(ids)
            stats.count_call(model_name)
            stats.row_nfe += 1
            alive = [True] * B  # host copy of ~done
            for t in range(max_new_tokens):
                scores = procs(ids, logits[:, -1].float())
                if sample:
                    tok = choose_tokens(scores, rng, config.temperature, config.top_k, config.top_p)
                else:
                    tok = scores.argmax(-1)
                tok = torch.where(done, torch.full_like(tok, pad_id), tok)
                out[:, t] = tok
                for b in range(B):
                    if alive[b]:
                        stats.tokens_per_step[b].append(1)
                        stats.commit_step[b, t] = t
                ids = torch.cat([ids, tok[:, None]], dim=1)
                newly = stops(ids, scores) if stops else torch.zeros_like(done)
                if eos is not None:
                    newly |= torch.isin(tok, eos)
                done |= newly.to(device)
                alive = [not d for d in done.tolist()]  # the one host sync per step: which rows go on?
                if not any(alive) or t == max_new_tokens - 1:
                    break
                logits, state = inc.extend(tok[:, None], state)
                stats.count_call(model_name)
                stats.row_nfe += torch.tensor(alive, dtype=torch.long)
    stats.extra["strategy"] = config.strategy
    stats.extra["tokens_per_target_call"] = tokens_per_call(out, pad_id, eos, stats.nfe_per_model.get(model_name, 0))
    return DecodeResult(out, stats)
