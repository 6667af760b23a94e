"""Masked-diffusion decoding: iterative unmasking, one loop composing the decoder's pieces.

``masked_decode(model, prompt_ids, gen_len, decoder, mask_id=...)`` fills ``gen_len`` masked
positions after the prompt. ``decoder`` is a :class:`~decoding.masked_config.MaskedDecoder`
(pieces from :mod:`decoding.pieces`) or its flat form (a :class:`MaskedDecodeConfig` or a dict).
Each refinement step runs the model once, proposes a token per position (``decoder.sampling``),
scores it (``decoder.score``), re-masks uncertain kept tokens (``decoder.remask``) and commits
confident masked ones (``decoder.commit``), block by block (``decoder.block``) on a schedule
(``decoder.schedule``). Rows of a batch are independent: each has its own random stream
and may finish at a different step. With a prefix (or dual) cache piece and a model that
implements :class:`decoding.model.CacheableModel`, each block starts with one full pass that
caches everything before the block; the block's other steps run only the block (+ suffix).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import torch

from .learned_filter import features_from
from .masked_config import MaskedDecodeConfig, MaskedDecoder, as_decoder
from .model import call_logits, exact_prefix_cache, supports_cache
from .sampling import RowRNG, to_device
from .stats import DecodeResult, DecodeStats, Timer
from .step_context import StepContext, top_k_mask

__all__ = ["MaskedDecodeConfig", "MaskedDecoder", "masked_decode"]


class _ActiveRNG:
    """Draws noise only for active rows so a row's random stream is independent of its batch.

    ``rows`` are the active rows' indices, already on the host (the loop reads the active mask
    once per step); the noise is drawn on the CPU and copied to the device without a sync.
    """

    def __init__(self, rng: RowRNG, rows: list[int], batch: int) -> None:
        self.rng, self.rows, self.batch = rng, rows, batch

    def _fill(self, shape: Sequence[int], value: float, gumbel: bool) -> torch.Tensor:
        out = torch.full((self.batch, *shape), value)
        if self.rows:
            out[self.rows] = self.rng.host_draw(shape, self.rows, gumbel)
        return to_device(out, self.rng.device)

    def uniform(self, shape: Sequence[int], rows: Any = None) -> torch.Tensor:
        return self._fill(shape, 0.5, gumbel=False)

    def gumbel(self, shape: Sequence[int], rows: Any = None) -> torch.Tensor:
        return self._fill(shape, 0.0, gumbel=True)


def _normalize_allowed(allowed: torch.Tensor | None, B: int, L: int, V: int, mask_id: int, device: torch.device) -> torch.Tensor:
    if allowed is None:
        a = torch.ones(B, L, V, dtype=torch.bool, device=device)
    else:
        a = allowed.to(device=device, dtype=torch.bool)
        if a.dim() == 2:
            a = a.unsqueeze(0).expand(B, -1, -1)
        if a.shape != (B, L, V):
            raise ValueError(f"allowed: expected a bool tensor [L, V] or [B, L, V] = [{B}, {L}, {V}], got {tuple(allowed.shape)}")
        a = a.clone()
    if 0 <= mask_id < V:
        a[..., mask_id] = False
    if not a.any(-1).all():
        raise ValueError("allowed: every generated position needs at least one allowed token other than the mask id")
    return a


@torch.no_grad()
def masked_decode(
    model: Any,
    prompt_ids: torch.Tensor,
    gen_len: int,
    config: MaskedDecoder | MaskedDecodeConfig | dict[str, Any] | None = None,
    *,
    mask_id: int,
    allowed: torch.Tensor | None = None,
    eos_id: int | None = None,
    seed: int | Sequence[int] | None = 0,
    record_trace: bool = False,
    keep_probs: bool = False,
) -> DecodeResult:
    """Decode ``gen_len`` tokens after ``prompt_ids [B, P]`` by iterative unmasking.

    Returns the generated tokens ``[B, gen_len]`` and :class:`DecodeStats` (NFE, per-row NFE,
    tokens committed per step, commit step and re-mask count per position, wall time). With
    ``record_trace`` the per-step features and proposals are kept in ``stats.extra["trace"]``
    (used to train the learned commit filter). With ``keep_probs`` the result's ``probs [B, gen_len, V]``
    holds, per position, the distribution (over allowed ids) its final token was committed from.
    """
    dec = as_decoder(config)
    if prompt_ids.dim() != 2:
        raise ValueError(f"prompt_ids: expected a [B, P] tensor, got shape {tuple(prompt_ids.shape)}")
    if gen_len < 1:
        raise ValueError(f"gen_len: expected >= 1, got {gen_len}")
    B, P = prompt_ids.shape
    L = gen_len
    device = prompt_ids.device
    use_cache = dec.cache.KIND != "none" and supports_cache(model)
    approximate = use_cache and not exact_prefix_cache(model)
    if approximate and dec.cache.refresh <= 0:
        warnings.warn(f"cache={dec.cache.KIND!r}: this model's prefix attends to later positions (bidirectional), so "
                      "reusing its keys and values would change the output; decoding without a cache. Set "
                      "cache_refresh=N for Fast-dLLM's approximate cache refreshed every N steps.", stacklevel=2)
        use_cache = approximate = False
    stats = DecodeStats()
    rng = RowRNG(B, seed, device=device)

    x = torch.cat([prompt_ids.long(), torch.full((B, L), mask_id, dtype=torch.long, device=device)], dim=1)
    masked = torch.ones(B, L, dtype=torch.bool, device=device)
    commit_step = torch.full((B, L), -1, dtype=torch.long, device=device)
    commit_conf = torch.zeros(B, L, device=device)
    remask_count = torch.zeros(B, L, dtype=torch.long, device=device)
    commit_probs: torch.Tensor | None = None
    row_nfe = torch.zeros(B, dtype=torch.long)
    # per-step records stay on the device until the end (no host sync inside the loop)
    log: dict[str, list] = {"commits": [], "active": [], "remask": [], "remask_step": []}
    trace_steps: list[dict[str, Any]] = []
    allowed_full: torch.Tensor | None = None
    global_step = 0
    block_sizes: list[int] = []

    with Timer(stats):
        start = 0
        while start < L:
            # first pass of the block: full sequence (and the cache of everything before the block)
            if use_cache:
                full_logits, cache = model.prefill(x, P + start)
            else:
                full_logits, cache = call_logits(model, x), None
            logits = full_logits[:, P:]
            if allowed_full is None:
                allowed_full = _normalize_allowed(allowed, B, L, logits.shape[-1], mask_id, device)
                if keep_probs:
                    commit_probs = torch.zeros(B, L, logits.shape[-1], device=device)
            active = masked[:, start:].any(1)
            probs_all = None
            if dec.block.NEEDS_PROBS:
                probs_all = torch.softmax(logits.float().masked_fill(~allowed_full, float("-inf")), -1)
            end = dec.block.next_end(start, L, probs_all, active)
            block_sizes.append(end - start)
            steps = dec.block.steps(dec.schedule.steps, L, start, end)
            n0 = masked[:, start:end].sum(1)
            state: dict[str, Any] = {}
            t = 0
            max_block_steps = (end - start) * (dec.remask.max_remasks + 1) + steps + 1
            while True:
                active = masked[:, start:end].any(1)
                active_rows = active.tolist()  # the one host sync per step: is anything left to decode?
                if not any(active_rows):
                    break
                if t > 0:  # refinement step: rerun the model
                    if approximate and t % dec.cache.refresh == 0:  # refresh the stale cache with a full pass
                        full_logits, cache = model.prefill(x, P + start)
                        blk_logits = full_logits[:, P + start : P + end]
                    elif use_cache:
                        tail_end = end if dec.cache.KIND == "dual" else L
                        blk_logits = model.step(x[:, P + start : P + tail_end], cache)[:, : end - start]
                    else:
                        blk_logits = call_logits(model, x)[:, P + start : P + end]
                else:
                    blk_logits = logits[:, start:end]
                stats.count_call("model")
                row_nfe += torch.tensor(active_rows, dtype=torch.long)
                final = t + 1 >= max_block_steps
                log["active"].append(active_rows)
                _refine_step(
                    dec, x, P, start, end, blk_logits, allowed_full, masked, commit_step, commit_conf,
                    remask_count, active, n0, t, steps,
                    _ActiveRNG(rng, [b for b, a in enumerate(active_rows) if a], B), state, global_step,
                    log, eos_id, final, trace_steps if record_trace else None, mask_id, commit_probs,
                )
                t += 1
                global_step += 1
            start = end

    stats.row_nfe = row_nfe
    stats.tokens_per_step, stats.remask_events = _read_log(log, B, L)
    stats.commit_step = commit_step.cpu()
    stats.remask_count = remask_count.cpu()
    stats.extra["block_sizes"] = block_sizes
    stats.extra["cache"] = (dec.cache.KIND + (f" (approximate, refresh {dec.cache.refresh})" if approximate else "")
                            if use_cache else "none")
    tokens = x[:, P:].clone()
    if record_trace:
        stats.extra["trace"] = {"final": tokens.cpu(), "steps": trace_steps}
    return DecodeResult(tokens=tokens, stats=stats, probs=commit_probs)


def _refine_step(
    dec: MaskedDecoder,
    x: torch.Tensor,
    P: int,
    s: int,
    e: int,
    blk_logits: torch.Tensor,
    allowed_full: torch.Tensor,
    masked: torch.Tensor,
    commit_step: torch.Tensor,
    commit_conf: torch.Tensor,
    remask_count: torch.Tensor,
    active: torch.Tensor,
    n0: torch.Tensor,
    t: int,
    steps: int,
    rng: Any,
    state: dict[str, Any],
    global_step: int,
    log: dict[str, list],
    eos_id: int | None,
    final: bool,
    trace: list[dict[str, Any]] | None,
    mask_id: int,
    commit_probs: torch.Tensor | None = None,
) -> None:
    """One refinement step on block [s, e): propose, score, re-mask, commit (in place)."""
    lg = blk_logits.float().masked_fill(~allowed_full[:, s:e], float("-inf"))
    probs = torch.softmax(lg, dim=-1)
    x0 = dec.sampling.choose(lg, rng)
    conf = probs.gather(-1, x0.unsqueeze(-1)).squeeze(-1)
    score = dec.score.score(probs, x0, rng)
    rank = dec.score.rank(score, t, steps, rng)
    cur = x[:, P + s : P + e]
    blk_masked = masked[:, s:e]
    safe_cur = torch.where(blk_masked, x0, cur)
    p_cur = probs.gather(-1, safe_cur.unsqueeze(-1)).squeeze(-1)
    cur_score = dec.score.score(probs, safe_cur, rng) if dec.score.KIND != "random" else rank
    target = dec.schedule.remaining(n0, t, steps) if not final else torch.zeros_like(n0)
    ctx = StepContext(
        t=t, steps=steps, active=active, masked=blk_masked.clone(), x0=x0, conf=conf, rank=rank, probs=probs,
        n0=n0, target_remaining=target, p_cur=p_cur, cur_score=cur_score, commit_conf=commit_conf[:, s:e],
        remask_count=remask_count[:, s:e], rng=rng, score_kind=dec.score.KIND, state=state,
    )
    if trace is not None:
        trace.append({
            "block": (s, e), "t": t, "x0": x0.cpu(), "masked": (ctx.eligible).cpu(),
            "features": features_from(probs, x0, blk_masked, t, steps).cpu(),
        })
    if final:  # safety cap reached: commit everything that is left
        commit = ctx.eligible
        remask = torch.zeros_like(commit)
    elif dec.commit.SCHEDULED:  # re-masks first: they enlarge the schedule's count
        remask = dec.remask.select(ctx, target) if dec.remask.active else torch.zeros_like(blk_masked)
        k = blk_masked.sum(1) + remask.sum(1) - target
        commit = top_k_mask(rank, ctx.eligible, torch.where(active, k.clamp(min=1), torch.zeros_like(k)))
    else:
        commit = dec.commit.select(ctx)
        # up to as many re-masks as commits: a step that commits one token can still return a
        # kept one to mask (with ``commits - 1`` threshold-style rules could never re-mask).
        # Termination: each position is re-masked at most ``max_remasks`` times, and the block's
        # step cap commits whatever is left.
        cap = commit.sum(1)
        remask = dec.remask.select(ctx, cap) if dec.remask.active else torch.zeros_like(commit)

    # apply: commit proposals, then return re-masked tokens to mask (masked selects, no host sync)
    blk = torch.where(remask, mask_id, torch.where(commit, x0, x[:, P + s : P + e]))
    step_blk = commit_step[:, s:e]
    commit_step[:, s:e] = torch.where(remask, -1, torch.where(commit, global_step, step_blk))
    commit_conf[:, s:e] = torch.where(commit, conf, commit_conf[:, s:e])
    if commit_probs is not None:
        commit_probs[:, s:e] = torch.where(commit.unsqueeze(-1), probs, commit_probs[:, s:e])
    remask_count[:, s:e] += remask.long()
    masked[:, s:e] = (blk_masked & ~commit) | remask
    x[:, P + s : P + e] = blk
    log["commits"].append(commit.sum(1))
    if dec.remask.active:
        full = torch.zeros(x.shape[0], masked.shape[1], dtype=torch.bool, device=x.device)
        full[:, s:e] = remask
        log["remask"].append(full)
        log["remask_step"].append(global_step)
    if eos_id is not None:
        _end_of_text(x, P, masked, commit_step, eos_id, global_step)


def _read_log(log: dict[str, list], B: int, L: int) -> tuple[list[list[int]], list[tuple[int, int, int]]]:
    """The loop's device-side records -> tokens committed per step per active row, and re-mask
    events ``(row, position, step)`` (one host copy each, after decoding)."""
    per_step: list[list[int]] = [[] for _ in range(B)]
    if log["commits"]:
        counts = torch.stack(log["commits"]).tolist()
        for n, act in zip(counts, log["active"]):
            for b in range(B):
                if act[b]:
                    per_step[b].append(int(n[b]))
    events: list[tuple[int, int, int]] = []
    if log["remask"]:
        hits = torch.stack(log["remask"]).nonzero().tolist()  # (step index, row, position), in order
        events = [(b, i, log["remask_step"][k]) for k, b, i in hits]
    return per_step, events


def _end_of_text(x: torch.Tensor, P: int, masked: torch.Tensor, commit_step: torch.Tensor, eos_id: int, step: int) -> None:
    """Learn2PD EoTP: every position after a committed EOS becomes EOS and is committed."""
    gen = x[:, P:]
    is_eos = (gen == eos_id) & ~masked
    L = gen.shape[1]
    first = torch.where(is_eos.any(1), is_eos.float().argmax(1), torch.full_like(is_eos[:, 0], L, dtype=torch.long))
    after = torch.arange(L, device=gen.device)[None, :] > first[:, None]
    fill = after & (masked | (gen != eos_id))
    commit_step.copy_(torch.where(fill & masked, step, commit_step))
    masked &= ~after
    x[:, P:] = torch.where(fill, eos_id, gen)
