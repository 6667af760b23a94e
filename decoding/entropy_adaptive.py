"""Entropy-adaptive decoders: EAD (switch small -> large model) and AdaDec (look-ahead rerank).

* :func:`ead_decode` (Entropy Adaptive Decoding): the small model generates; while the rolling
  mean entropy (nats) of the last ``window`` next-token distributions of the generating
  model exceeds ``tau``, the large model generates instead. No verification (lossy). An empty
  window counts as entropy 0, so ``tau = +inf`` is the small model alone and ``tau = -inf``
  the large one alone. Each model is fed the tokens it has not seen lazily, in one call,
  when it is next used. Reports the share of large-model tokens.
* :func:`adadec_decode` (AdaDec): greedy decoding, except at steps whose entropy exceeds
  ``threshold``: the top ``num_candidates`` tokens are each rolled out ``lookahead`` greedy
  tokens (all candidates and rows in one batched branch of the cache) and the candidate with
  the best look-ahead log-probability (sum, or mean per token) wins.
  :func:`fit_entropy_threshold` learns the threshold from entropies labelled with "greedy was
  wrong here".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from decoding.autoregressive import check_prompt, eos_tensor, tokens_per_call
from decoding.incremental import as_incremental, select
from decoding.logits_processors import AllowedTokensLogitsProcessor
from decoding.sampling import NEG_INF, RowRNG, choose_tokens
from decoding.stats import DecodeResult, DecodeStats, Timer

__all__ = ["EADConfig", "ead_decode", "AdaDecConfig", "adadec_decode", "entropy", "fit_entropy_threshold"]


def entropy(logits: torch.Tensor) -> torch.Tensor:
    """Entropy in nats of softmax(logits) over the last axis (masked -inf entries count 0)."""
    logp = torch.log_softmax(logits.float(), dim=-1)
    p = logp.exp()
    return -(p * logp.masked_fill(p == 0, 0.0)).sum(-1)


class _LazyModel:
    """An incremental model fed lazily with the tokens it has not seen yet."""

    def __init__(self, inc: Any, name: str, stats: DecodeStats) -> None:
        self.inc, self.name, self.stats = inc, name, stats
        self.state: Any = None
        self.fed = 0

    def next_logits(self, ids: torch.Tensor) -> torch.Tensor:
        if self.state is None:
            logits, self.state = self.inc.start(ids)
        else:
            logits, self.state = self.inc.extend(ids[:, self.fed :], self.state)
        self.fed = ids.shape[1]
        self.stats.count_call(self.name)
        return logits[:, -1].float()


def _mask(allow: AllowedTokensLogitsProcessor | None, logits: torch.Tensor, pos: int) -> torch.Tensor:
    if allow is None:
        return logits
    m = allow.mask_at(pos, logits.shape[0], logits.shape[-1], logits.device)
    return logits if m is None else logits.masked_fill(~m, NEG_INF)


@dataclass
class EADConfig:
    """``tau``: entropy threshold (nats) on the rolling mean over ``window`` steps. Token choice:
    argmax at ``temperature`` 0, else sampling with ``top_k`` / ``top_p``."""

    tau: float = 1.0
    window: int = 4
    temperature: float = 0.0
    top_k: int = 0
    top_p: float = 1.0

    def __post_init__(self) -> None:
        if self.window < 1:
            raise ValueError(f"window: expected >= 1, got {self.window}")
        if self.temperature < 0:
            raise ValueError(f"temperature: expected >= 0, got {self.temperature}")


def ead_decode(
    small: Any,
    large: Any,
    prompt_ids: torch.Tensor,
    max_new_tokens: int,
    config: EADConfig | None = None,
    *,
    attention_mask: torch.Tensor | None = None,
    allowed: torch.Tensor | None = None,
    eos_id: int | Sequence[int] | None = None,
    pad_id: int = 0,
    seed: int | Sequence[int] | None = 0,
) -> DecodeResult:
    """EAD: small model by default, large model while the rolling mean entropy exceeds tau.

    Statistics: NFE of "small" and "large", ``extra["large_token_share"]`` (over all generated
    tokens) and ``extra["row_large_share"]``, ``extra["used_large"]`` ([B][L] bools).
    """
    config = config or EADConfig()
    check_prompt(prompt_ids, max_new_tokens)
    B, P = prompt_ids.shape
    device = prompt_ids.device
    stats = DecodeStats()
    stats.row_nfe = torch.zeros(B, dtype=torch.long)
    stats.tokens_per_step = [[] for _ in range(B)]
    models = {
        False: _LazyModel(as_incremental(small, attention_mask), "small", stats),
        True: _LazyModel(as_incremental(large, attention_mask), "large", stats),
    }
    allow = AllowedTokensLogitsProcessor(allowed, P) if allowed is not None else None
    rng = RowRNG(B, seed, device) if config.temperature > 0 else None
    eos = eos_tensor(eos_id, device)
    ids = prompt_ids.long()
    out = torch.full((B, max_new_tokens), pad_id, dtype=torch.long, device=device)
    done = torch.zeros(B, dtype=torch.bool, device=device)
    hist = torch.zeros(B, config.window, device=device)
    n_hist = 0
    used_large = torch.zeros(B, max_new_tokens, dtype=torch.bool)
    with Timer(stats):
        for t in range(max_new_tokens):
            w = min(n_hist, config.window)
            mean_ent = hist[:, :w].mean(1) if w else torch.zeros(B, device=device)
            use_large = mean_ent > config.tau
            logits: torch.Tensor | None = None
            for which in (False, True):
                rows = (use_large == which) & ~done
                if not bool(rows.any()):
                    continue
                lg = models[which].next_logits(ids)
                if logits is None:
                    logits = torch.zeros_like(lg)
                elif logits.shape[-1] != lg.shape[-1]:
                    raise ValueError(f"large: vocabulary {lg.shape[-1]} differs from the small model's {logits.shape[-1]}")
                logits[rows] = lg[rows]
            assert logits is not None
            logits = _mask(allow, logits, t)
            tok = choose_tokens(logits, rng, config.temperature, config.top_k, config.top_p)
            tok = torch.where(done, torch.full_like(tok, pad_id), tok)
            hist[:, t % config.window] = entropy(logits)
            n_hist += 1
            out[:, t] = tok
            active = (~done).cpu()
            used_large[:, t] = use_large.cpu() & active
            stats.row_nfe[active] += 1
            for b in active.nonzero().flatten().tolist():
                stats.tokens_per_step[b].append(1)
            ids = torch.cat([ids, tok[:, None]], dim=1)
            if eos is not None:
                done |= torch.isin(tok, eos)
            if bool(done.all()):
                break
    n_tok = sum(len(r) for r in stats.tokens_per_step)
    stats.extra["large_token_share"] = float(used_large.sum()) / n_tok if n_tok else 0.0
    lens = torch.tensor([max(len(r), 1) for r in stats.tokens_per_step], dtype=torch.float)
    stats.extra["row_large_share"] = (used_large.sum(1).float() / lens).tolist()
    stats.extra["used_large"] = used_large.tolist()
    stats.extra["tokens_per_target_call"] = tokens_per_call(out, pad_id, eos, stats.nfe_per_model.get("large", 0))
    return DecodeResult(out, stats)


@dataclass
class AdaDecConfig:
    """``threshold``: entropy (nats) above which to look ahead; ``num_candidates`` top tokens,
    each rolled out ``lookahead`` greedy tokens; ``score``: "sum" or "mean" log-probability of
    candidate + look-ahead tokens (a roll-out stops at EOS)."""

    threshold: float = 1.0
    num_candidates: int = 3
    lookahead: int = 3
    score: str = "sum"

    def __post_init__(self) -> None:
        if self.num_candidates < 1:
            raise ValueError(f"num_candidates: expected >= 1, got {self.num_candidates}")
        if self.lookahead < 0:
            raise ValueError(f"lookahead: expected >= 0, got {self.lookahead}")
        if self.score not in ("sum", "mean"):
            raise ValueError(f"score: expected 'sum' or 'mean', got {self.score!r}")


def adadec_decode(
    model: Any,
    prompt_ids: torch.Tensor,
    max_new_tokens: int,
    config: AdaDecConfig | None = None,
    *,
    attention_mask: torch.Tensor | None = None,
    allowed: torch.Tensor | None = None,
    eos_id: int | Sequence[int] | None = None,
    pad_id: int = 0,
) -> DecodeResult:
    """AdaDec: greedy with entropy-gated look-ahead reranking (``model`` needs ``select``).

    Statistics: NFE of "target" (including look-ahead calls), ``extra["lookahead_calls"]``,
    ``extra["lookahead_steps"]`` (decisions that looked ahead), ``extra["reranked"]`` (decisions
    where the winner differs from the argmax).
    """
    config = config or AdaDecConfig()
    check_prompt(prompt_ids, max_new_tokens)
    B, P = prompt_ids.shape
    device = prompt_ids.device
    inc = as_incremental(model, attention_mask)
    stats = DecodeStats()
    stats.row_nfe = torch.zeros(B, dtype=torch.long)
    stats.tokens_per_step = [[] for _ in range(B)]
    allow = AllowedTokensLogitsProcessor(allowed, P) if allowed is not None else None
    eos = eos_tensor(eos_id, device)
    C = config.num_candidates
    out = torch.full((B, max_new_tokens), pad_id, dtype=torch.long, device=device)
    done = torch.zeros(B, dtype=torch.bool, device=device)
    la_calls = la_steps = reranked = 0
    with Timer(stats):
        if max_new_tokens > 0:
            logits, state = inc.start(prompt_ids.long())
            stats.count_call("target")
            stats.row_nfe += 1
            for t in range(max_new_tokens):
                lg = _mask(allow, logits[:, -1].float(), t)
                logp = torch.log_softmax(lg, dim=-1)
                tok = logp.argmax(-1)
                need = (entropy(lg) > config.threshold) & ~done
                if bool(need.any()) and config.lookahead > 0 and C > 1 and t < max_new_tokens - 1:
                    rows = need.nonzero().flatten()
                    c_lp, cands = torch.topk(logp[rows], min(C, logp.shape[-1]), dim=-1)  # [R, C]
                    Cn = cands.shape[1]
                    branch = select(inc, state, rows.repeat_interleave(Cn))
                    cur = cands.reshape(-1, 1)
                    score = c_lp.reshape(-1).clone()
                    count = torch.ones_like(score)
                    alive = torch.ones_like(score, dtype=torch.bool)
                    if eos is not None:
                        alive &= ~torch.isin(cur[:, 0], eos)
                    for j in range(min(config.lookahead, max_new_tokens - 1 - t)):
                        bl, branch = inc.extend(cur, branch)
                        stats.count_call("target")
                        la_calls += 1
                        blp = torch.log_softmax(_mask(allow, bl[:, -1].float(), t + 1 + j), dim=-1)
                        v, nxt = blp.max(-1)
                        score = score + torch.where(alive, v, torch.zeros_like(v))
                        count = count + alive.float()
                        if eos is not None:
                            alive &= ~torch.isin(nxt, eos)
                        cur = nxt[:, None]
                    if config.score == "mean":
                        score = score / count
                    best = score.view(-1, Cn).argmax(-1)
                    choice = cands.gather(1, best[:, None]).squeeze(1)
                    reranked += int((choice != tok[rows]).sum())
                    la_steps += int(rows.numel())
                    tok[rows] = choice
                tok = torch.where(done, torch.full_like(tok, pad_id), tok)
                out[:, t] = tok
                for b in (~done).nonzero().flatten().tolist():
                    stats.tokens_per_step[b].append(1)
                if eos is not None:
                    done |= torch.isin(tok, eos)
                if bool(done.all()) or t == max_new_tokens - 1:
                    break
                logits, state = inc.extend(tok[:, None], state)
                stats.count_call("target")
                stats.row_nfe[(~done).cpu()] += 1
    stats.extra.update(lookahead_calls=la_calls, lookahead_steps=la_steps, reranked=reranked)
    stats.extra["tokens_per_target_call"] = tokens_per_call(out, pad_id, eos, stats.nfe_per_model.get("target", 0))
    return DecodeResult(out, stats)


def fit_entropy_threshold(entropies: torch.Tensor, greedy_wrong: torch.Tensor) -> float:
    """AdaDec's learned threshold: the entropy cut that best separates steps where greedy was
    wrong (label True) from the rest, by balanced accuracy of ``entropy > threshold``."""
    e = entropies.flatten().float()
    y = greedy_wrong.flatten().bool()
    if e.numel() != y.numel() or e.numel() == 0:
        raise ValueError("entropies/greedy_wrong: expected two non-empty tensors of the same size")
    if bool(y.all()) or not bool(y.any()):
        raise ValueError("greedy_wrong: expected both labels (some True, some False)")
    cands = torch.unique(e)
    cuts = torch.cat([cands[:1] - 1e-6, cands])
    pred = e[None, :] > cuts[:, None]
    tpr = (pred & y).sum(1).float() / y.sum()
    tnr = (~pred & ~y).sum(1).float() / (~y).sum()
    return float(cuts[((tpr + tnr) / 2).argmax()])
