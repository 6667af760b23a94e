"""Commit rules: which masked positions of the block receive their proposed token this step.

Each rule is ``rule(ctx, **its parameters) -> bool [B, Lb]`` selecting a subset of
``ctx.eligible``; every rule commits at least one position per active row, so decoding always
progresses. The piece objects that own the parameters (``Threshold(0.9)``, ...) are in
``decoding/pieces.py``.

* ``topk``: the schedule's count, highest ranking score first (LLaDA / MaskGIT / DD-VLA);
* ``threshold``: every position with p >= tau, at least the best one (Fast-dLLM);
* ``deadline``: every position with p >= tau, and at least the schedule's count: a block ends
  within the schedule's steps, earlier where the model is confident (NFE between 1 and T);
* ``factor``: sort p descending, accept the longest prefix with ``p_n >= 1 - f/(n+1)`` (Fast-dLLM);
* ``learned``: a trained filter predicts "current proposal is final"; commit where its
  probability exceeds a threshold, at least the schedule's top-k (Learn2PD);
* ``localleap``: anchors above a high threshold, plus positions within a radius of an anchor
  above a relaxed threshold (local determinism propagation);
* ``ccd``: commit positions that were in last step's buffer of most confident positions and
  whose argmax did not change (coherent contextual decoding); else the schedule's budget.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from .step_context import StepContext, at_least_one, top_k_mask


def commit_topk(ctx: StepContext) -> torch.Tensor:
    return at_least_one(top_k_mask(ctx.rank, ctx.eligible, ctx.scheduled_k), ctx)


def commit_threshold(ctx: StepContext, threshold: float) -> torch.Tensor:
    return at_least_one(ctx.eligible & (ctx.conf >= threshold), ctx)


def commit_deadline(ctx: StepContext, threshold: float) -> torch.Tensor:
    sure = ctx.eligible & (ctx.conf >= threshold)
    return at_least_one(sure | top_k_mask(ctx.rank, ctx.eligible, ctx.scheduled_k), ctx)


def commit_factor(ctx: StepContext, factor: float) -> torch.Tensor:
    conf = ctx.conf.masked_fill(~ctx.eligible, -1.0)
    sorted_c, order = torch.sort(conf, dim=1, descending=True, stable=True)
    n = torch.arange(1, conf.shape[1] + 1, device=conf.device, dtype=conf.dtype)
    ok = (sorted_c >= 1.0 - factor / (n + 1)) & (sorted_c >= 0)
    prefix = ok.long().cumprod(dim=1).sum(1)  # longest accepted prefix
    commit = top_k_mask(conf, ctx.eligible, prefix)
    return at_least_one(commit, ctx)


def commit_learned(ctx: StepContext, learned_filter: Any, threshold: float) -> torch.Tensor:
    """``learned_filter``: a saved filter's path or a ``CommitFilter`` (loaded once per block)."""
    filt = ctx.state.get("learned_filter")
    if filt is None:
        from .learned_filter import load_filter

        if not learned_filter:
            raise ValueError("learned_filter: commit='learned' needs a filter (a path or a CommitFilter)")
        filt = learned_filter if not isinstance(learned_filter, str) else load_filter(learned_filter)
        ctx.state["learned_filter"] = filt
    from .learned_filter import step_features

    with torch.no_grad():
        p = torch.sigmoid(filt(step_features(ctx)))
    commit = ctx.eligible & (p > threshold)
    commit = commit | top_k_mask(ctx.rank, ctx.eligible, ctx.scheduled_k)
    return at_least_one(commit, ctx)


def commit_localleap(ctx: StepContext, anchor_threshold: float, relaxed_threshold: float,
                     radius: int) -> torch.Tensor:
    anchors = ctx.eligible & (ctx.conf >= anchor_threshold)
    r = int(radius)
    near = F.max_pool1d(anchors.float()[:, None], kernel_size=2 * r + 1, stride=1, padding=r)[:, 0] > 0
    relaxed = ctx.eligible & near & (ctx.conf >= relaxed_threshold)
    return at_least_one(anchors | relaxed, ctx)


def commit_ccd(ctx: StepContext, adaptive: bool, buffer: int) -> torch.Tensor:
    # CCD orders by negative entropy
    logp = torch.log(ctx.probs.clamp_min(1e-30))
    score = (ctx.probs * logp).sum(-1)
    budget = ctx.scheduled_k.clamp(min=1)
    prev_buf = ctx.state.get("ccd_buffer")
    prev_tok = ctx.state.get("ccd_tokens")
    if prev_buf is not None:
        consistent = prev_buf & (ctx.x0 == prev_tok) & ctx.eligible
    else:
        consistent = torch.zeros_like(ctx.eligible)
    if adaptive:
        fallback = top_k_mask(score, ctx.eligible, budget)
        has = consistent.any(1, keepdim=True)
        commit = torch.where(has, consistent, fallback)
    else:  # exactly the budget, consistent positions first
        commit = top_k_mask(score + 1e6 * consistent.float(), ctx.eligible, budget)
    commit = at_least_one(commit, ctx)
    # buffer for the next step: the next most confident positions that stay masked
    remaining = ctx.eligible & ~commit
    m = buffer or None
    size = torch.full_like(budget, m) if m else torch.clamp(2 * budget, min=1)
    ctx.state["ccd_buffer"] = top_k_mask(score, remaining, size)
    ctx.state["ccd_tokens"] = ctx.x0.clone()
    return commit



def expected_threshold_nfe(conf: list[float], tau: float) -> int:
    """NFE of the threshold rule on a model with fixed per-position confidences (for tests/docs)."""
    above = sum(c >= tau for c in conf)
    below = len(conf) - above
    return below + (1 if above else 0)


def expected_factor_commits(conf: list[float], f: float) -> int:
    """Commits of the factor rule in one step for sorted-descending confidences."""
    n = 0
    for i, c in enumerate(sorted(conf, reverse=True), start=1):
        if c >= 1 - f / (i + 1):
            n = i
        else:
            break
    return max(n, 1)


