"""Speculative decoding: draft with a cheap drafter, verify with the target in one call.

Verification rules:

* sampling (``temperature > 0``), exact rule of Leviathan et al.: drafted x_i is accepted
  while u_i <= min(1, p(x_i) / q(x_i)); at the first rejection the token is sampled from
  norm(max(0, p - q)); when every draft is accepted a bonus token is sampled from p. The output
  is distributed exactly as sampling from the (temperature / top-k / top-p processed) target.
* greedy (``temperature == 0``): accept the longest prefix of drafts equal to the target's
  argmax, then append the target's argmax: the output equals greedy decoding token for token.

Rows of a batch advance independently when the target and drafter support per-row rollback
(the `transformers` and callable adapters do: rejected columns are masked out of the cache).
Otherwise the batch advances in lock step: each round every row keeps ``m = min`` over active
rows of its accepted count, plus one more token (its own next accepted draft, or its
correction / bonus token); truncating an exact round at an independent point keeps it exact.
In greedy mode the tokens are those of greedy decoding either way, so a batch equals its rows
decoded one by one. The candidate length adapts with the
`transformers` heuristic (+2 when all drafts were accepted, else -1) when
``adaptive_length`` is set; a :class:`decoding.drafters.SmallModelDrafter` with
``stop_threshold`` adds a SpecDec++-style stop.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from decoding.autoregressive import check_prompt, eos_tensor, generated_lengths
from decoding.drafters import DraftSetup, as_drafter
from decoding.incremental import as_incremental, rollback
from decoding.logits_processors import AllowedTokensLogitsProcessor
from decoding.sampling import NEG_INF, RowRNG, choose_tokens, process_logits, to_device
from decoding.stats import DecodeResult, DecodeStats, Timer

__all__ = ["SpecConfig", "speculative_decode", "leviathan_accept"]

#: offset added to the row seeds for the drafter's generators
DRAFT_SEED_OFFSET = 1_000_003


@dataclass
class SpecConfig:
    """Speculative decoding settings.

    ``num_draft``: draft tokens per round (gamma; the initial value when ``adaptive_length``).
    ``adaptive_length``: +2 after a round where every draft was accepted, else -1, within
    [``min_draft``, ``max_draft``]. ``temperature`` 0 = greedy verification; > 0 = Leviathan
    sampling with ``top_k`` / ``top_p`` applied to target and draft alike.
    """

    num_draft: int = 5
    adaptive_length: bool = False
    min_draft: int = 1
    max_draft: int = 16
    temperature: float = 0.0
    top_k: int = 0
    top_p: float = 1.0

    def __post_init__(self) -> None:
        if self.num_draft < 0:
            raise ValueError(f"num_draft: expected >= 0, got {self.num_draft}")
        if not 1 <= self.min_draft <= self.max_draft:
            raise ValueError(f"min_draft/max_draft: expected 1 <= min <= max, got {self.min_draft}, {self.max_draft}")
        if self.temperature < 0:
            raise ValueError(f"temperature: expected >= 0, got {self.temperature}")
        if self.top_k < 0 or not 0 < self.top_p <= 1:
            raise ValueError(f"top_k/top_p: expected top_k >= 0 and 0 < top_p <= 1, got {self.top_k}, {self.top_p}")


def leviathan_accept(
    p: torch.Tensor, q: torch.Tensor | None, tokens: torch.Tensor, n_valid: torch.Tensor, u: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Leviathan acceptance for drafts ``tokens [B, k]``.

    ``p [B, k+1, V]`` target probabilities, ``q [B, k, V]`` draft probabilities (None: one-hot
    at the drafted tokens), ``u [B, k]`` uniforms. Returns (accepted count per row ``[B]``,
    residual distributions ``[B, k+1, V]``: norm(max(0, p - q)) at each draft position, p at
    the bonus position and at filler positions).
    """
    B, k = tokens.shape
    pos_valid = torch.arange(k, device=tokens.device)[None, :] < n_valid[:, None]
    px = p[:, :k].gather(2, tokens[..., None]).squeeze(-1)
    if q is None:
        qx = torch.ones_like(px)
        q_full = torch.zeros_like(p[:, :k]).scatter(2, tokens[..., None], 1.0)
    else:
        qx = q.gather(2, tokens[..., None]).squeeze(-1)
        q_full = q
    ratio = torch.where(qx > 0, px / qx.clamp_min(1e-30), torch.zeros_like(px))
    ok = (u <= ratio.clamp(max=1.0)) & pos_valid & (qx > 0)
    n_acc = ok.long().cumprod(1).sum(1)
    resid = (p[:, :k] - q_full).clamp_min(0)
    resid = torch.where(pos_valid[..., None], resid, p[:, :k])
    norm = resid.sum(-1, keepdim=True)
    resid = torch.where(norm > 0, resid / norm.clamp_min(1e-30), p[:, :k])  # p == q: never rejected
    return n_acc, torch.cat([resid, p[:, k:]], dim=1)


def speculative_decode(
    target: Any,
    drafter: Any,
    prompt_ids: torch.Tensor,
    max_new_tokens: int,
    config: SpecConfig | None = None,
    *,
    attention_mask: torch.Tensor | None = None,
    allowed: torch.Tensor | None = None,
    eos_id: int | Sequence[int] | None = None,
    pad_id: int = 0,
    seed: int | Sequence[int] | None = 0,
) -> DecodeResult:
    """Speculative decoding of ``max_new_tokens`` tokens after ``prompt_ids [B, P]``.

    ``target``: incremental model / `transformers` LM / callable (must support ``rollback``;
    the adapters do). ``drafter``: a drafter from :mod:`decoding.drafters` or a model (becomes
    a small-model drafter). Statistics: NFE per model ("target", "draft"), drafted / accepted,
    ``extra["tokens_per_target_call"]``, ``extra["draft_lengths"]``.
    """
    config = config or SpecConfig()
    check_prompt(prompt_ids, max_new_tokens)
    B, P = prompt_ids.shape
    device = prompt_ids.device
    tgt = as_incremental(target, attention_mask)
    drafter = as_drafter(drafter)
    greedy = config.temperature <= 0
    row_seeds: list[int] | None
    if seed is None:
        row_seeds = None
    elif isinstance(seed, int):
        row_seeds = [seed + i for i in range(B)]
    else:
        row_seeds = [int(s) for s in seed]
    rng = RowRNG(B, row_seeds, device)
    d_rng = RowRNG(B, None if row_seeds is None else [s + DRAFT_SEED_OFFSET for s in row_seeds], device)
    allow = AllowedTokensLogitsProcessor(allowed, P) if allowed is not None else None

    def allowed_at(pos: int) -> torch.Tensor | None:
        return None if allow is None else allow.mask_at(pos, B, allowed.shape[-1], device)

    per_row = bool(getattr(tgt, "supports_row_rollback", False))
    setup = DraftSetup(config.temperature, config.top_k, config.top_p, d_rng, allowed_at, constrained=allow is not None,
                       prompt_len=P, lockstep=False)
    drafter.reset(prompt_ids, attention_mask, setup)
    per_row = per_row and bool(getattr(drafter, "supports_row_rollback", False))
    setup.lockstep = not per_row
    valid_prompt = torch.ones_like(prompt_ids, dtype=torch.bool) if attention_mask is None else attention_mask.bool().to(device)
    stats = DecodeStats()
    stats.row_nfe = torch.zeros(B, dtype=torch.long)
    stats.tokens_per_step = [[] for _ in range(B)]
    eos = eos_tensor(eos_id, device)
    eos_set = set(eos.tolist()) if eos is not None else set()
    prompt = prompt_ids.long()
    gen: list[list[int]] = [[] for _ in range(B)]
    done = [False] * B  # on the host: the loop reads the device once per round (the acceptance)
    draft_lengths: list[int] = []

    def target_logits(logits: torch.Tensor, pos0: list[int]) -> torch.Tensor:
        """Target logits [B, n, V] for generated positions pos0[b] + j, ``allowed`` applied."""
        lg = logits.float()
        if allow is not None:
            for j in range(lg.shape[1]):
                for b in range(B):
                    m = allowed_at(pos0[b] + j)
                    if m is not None:
                        lg[b, j] = lg[b, j].masked_fill(~m[b], NEG_INF)
        return lg

    def append(b: int, new: list[int]) -> None:
        """Append accepted tokens to row b (up to EOS and the budget)."""
        if done[b]:
            return
        room = max_new_tokens - len(gen[b])
        new = new[:room]
        for i, x in enumerate(new):
            if x in eos_set:
                new = new[: i + 1]
                done[b] = True
                break
        gen[b].extend(new)
        stats.tokens_per_step[b].append(len(new))
        stats.row_nfe[b] += 1
        if len(gen[b]) >= max_new_tokens:
            done[b] = True

    def current() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, list[int]]:
        """(ids [B, P + width], lengths [B], valid [B, P + width]) on the device, and the
        generated lengths on the host; built from the host lists (no read-back)."""
        lens_h = [len(g) for g in gen]
        width = max(lens_h)
        tail = torch.full((B, width), pad_id, dtype=torch.long)
        for b in range(B):
            if gen[b]:
                tail[b, : len(gen[b])] = torch.tensor(gen[b], dtype=torch.long)
        lens = to_device(torch.tensor(lens_h, dtype=torch.long), device)
        valid = torch.cat([valid_prompt, torch.arange(width, device=device)[None, :] < lens[:, None]], dim=1)
        return torch.cat([prompt, to_device(tail, device)], dim=1), P + lens, valid, lens_h

    with Timer(stats):
        if max_new_tokens > 0:
            logits, state = tgt.start(prompt)
            stats.count_call("target")
            lg = target_logits(logits[:, -1:], [0] * B)[:, 0]
            tok = lg.argmax(-1) if greedy else choose_tokens(lg, rng, config.temperature, config.top_k, config.top_p)
            for b, x in enumerate(tok.tolist()):
                append(b, [x])
            k = config.num_draft
            while not all(done):
                ids, lengths, valid, lens_h = current()
                act = [not d for d in done]
                active = to_device(torch.tensor(act), device)
                rem_h = [max(0, max_new_tokens - n - 1) for n in lens_h]
                remaining = to_device(torch.tensor(rem_h, dtype=torch.long), device)
                rem_active = [r for r, a in zip(rem_h, act) if a]
                k_eff = max(0, min(k, min(rem_active) if not per_row else max(rem_active)))
                draft = drafter.propose(ids, lengths, valid, k_eff, active, stats)
                kd = draft.tokens.shape[1]
                n_valid = torch.minimum(draft.n_valid.clamp(max=kd), remaining)
                n_valid = torch.where(active, n_valid, torch.zeros_like(n_valid))
                draft_lengths.append(kd)
                pending = ids.gather(1, (lengths - 1)[:, None])
                logits, state = tgt.extend(torch.cat([pending, draft.tokens], dim=1), state)
                stats.count_call("target")
                lg = target_logits(logits[:, -(kd + 1) :], lens_h)
                if greedy:
                    choice = lg.argmax(-1)  # [B, kd+1]
                    pos_valid = torch.arange(kd, device=device)[None, :] < n_valid[:, None]
                    match = (draft.tokens == choice[:, :kd]) & pos_valid
                    n_acc = match.long().cumprod(1).sum(1)
                else:
                    p = torch.softmax(process_logits(lg, config.temperature, config.top_k, config.top_p), dim=-1)
                    u = rng.uniform((kd,))
                    n_acc, resid = leviathan_accept(p, draft.q, draft.tokens, n_valid, u)
                    g = rng.gumbel((kd + 1, lg.shape[-1]))
                    choice = (torch.log(resid.clamp_min(0)) + g).argmax(-1)  # [B, kd+1]
                # the round's one read-back: accepted and valid counts, the target's choices, the draft
                rows = torch.cat([n_acc[:, None], n_valid[:, None], choice, draft.tokens.long()], dim=1).tolist()
                n_acc_h, n_valid_h = [r[0] for r in rows], [r[1] for r in rows]
                choice_h, draft_h = [r[2 : kd + 3] for r in rows], [r[kd + 3 :] for r in rows]
                if per_row:
                    n_keep_h = [n if a else 0 for n, a in zip(n_acc_h, act)]
                    extra_h = [c[n] for c, n in zip(choice_h, n_keep_h)]
                else:
                    m = min(n for n, a in zip(n_acc_h, act) if a)
                    n_keep_h = [m] * B
                    extra_h = [(d[m] if m < kd else c[m]) if n > m else c[m]
                               for n, d, c in zip(n_acc_h, draft_h, choice_h)]
                stats.drafted += sum(v for v, a in zip(n_valid_h, act) if a)
                stats.accepted += sum(min(n, keep + 1) for n, keep, a in zip(n_acc_h, n_keep_h, act) if a)
                for b in range(B):
                    if act[b]:
                        append(b, draft_h[b][: n_keep_h[b]] + [extra_h[b]])
                # target state: everything but each row's newest token
                if per_row:
                    keep_len = [P + n + (keep if a else -1) for n, keep, a in zip(lens_h, n_keep_h, act)]
                    state = rollback(tgt, state, to_device(torch.tensor(keep_len, dtype=torch.long), device))
                else:
                    state = rollback(tgt, state, P + lens_h[0] + m)
                    target_len = lens_h[0] + m + 1
                    for b in range(B):  # lock step: finished rows keep the common length with filler
                        gen[b].extend([pad_id] * (target_len - len(gen[b])))
                drafter.accepted(to_device(torch.tensor(n_keep_h, dtype=torch.long), device))
                if config.adaptive_length:
                    all_acc = kd > 0 and all(n >= v and v == kd for n, v, a in zip(n_acc_h, n_valid_h, act) if a)
                    k = min(config.max_draft, k + 2) if all_acc else max(config.min_draft, k - 1)
    out = torch.full((B, max_new_tokens), pad_id, dtype=torch.long, device=device)
    for b in range(B):
        row = gen[b][:max_new_tokens]
        if row:
            out[b, : len(row)] = torch.tensor(row, dtype=torch.long)
    lengths = generated_lengths(out, pad_id, eos)
    out = out.masked_fill(torch.arange(max_new_tokens, device=device)[None, :] >= lengths[:, None].to(device), pad_id)
    calls = stats.nfe_per_model.get("target", 0)
    stats.extra["tokens_per_target_call"] = float(lengths.float().mean() / calls) if calls else 0.0
    stats.extra["draft_lengths"] = draft_lengths
    stats.extra["drafter"] = getattr(drafter, "name", type(drafter).__name__)
    stats.extra["row_mode"] = "per_row" if per_row else "lockstep"
    return DecodeResult(out, stats)
