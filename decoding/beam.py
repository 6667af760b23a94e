"""Beam search and diverse (group) beam search over an incremental model.

Follows `transformers`' beam scorer: each step scores ``log_softmax`` of the next-token
logits (after the ``allowed`` mask and logits processors) plus the beam's running score, keeps
the ``2 * beams`` best candidates, moves candidates ending in EOS to the finished hypotheses
(score = sum log p / generated_length ** length_penalty) and the rest to the next beams.
Diverse beam search (Vijayakumar et al.) splits the beams into groups decoded in turn; group
g's scores are lowered by ``diversity_penalty`` times the number of times each token was
chosen by groups 0..g-1 at the same step (Hamming diversity). Beam width 1 equals greedy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from decoding.ar_common import ARDecodeConfig, build_processors, eos_tensor, tokens_per_call
from decoding.incremental import select
from decoding.logits_processors import StoppingCriteriaList
from decoding.stats import DecodeResult, DecodeStats, Timer

__all__ = ["BeamDecodeResult", "beam_decode"]


@dataclass
class BeamDecodeResult(DecodeResult):
    """Best sequence per row in ``tokens``, plus every returned beam, best first."""

    sequences: torch.Tensor | None = None  # [B, num_beams, L]
    sequence_scores: torch.Tensor | None = None  # [B, num_beams]


class _Hypotheses:
    """Finished hypotheses of one (row, group): keeps the ``size`` best."""

    def __init__(self, size: int, length_penalty: float, early_stopping: bool | str, max_len: int) -> None:
        self.size = size
        self.lp = length_penalty
        self.early_stopping = early_stopping
        self.max_len = max_len
        self.items: list[tuple[float, list[int]]] = []
        self.done = False

    def worst(self) -> float:
        return min(s for s, _ in self.items) if self.items else float("inf")

    def add(self, sum_logprobs: float, tokens: list[int]) -> None:
        score = sum_logprobs / (max(len(tokens), 1) ** self.lp)
        if len(self.items) < self.size or score > self.worst():
            self.items.append((score, tokens))
            if len(self.items) > self.size:
                self.items.remove(min(self.items, key=lambda x: x[0]))

    def is_done(self, best_running_sum: float, cur_len: int) -> bool:
        if len(self.items) < self.size:
            return False
        if self.early_stopping is True:
            return True
        if self.early_stopping == "never" and self.lp > 0:
            best = best_running_sum / (self.max_len**self.lp)
        else:
            best = best_running_sum / (cur_len**self.lp)
        return self.worst() >= best


def beam_decode(
    inc: Any,
    prompt_ids: torch.Tensor,
    max_new_tokens: int,
    config: ARDecodeConfig,
    *,
    allowed: torch.Tensor | None = None,
    eos_id: int | Sequence[int] | None = None,
    pad_id: int = 0,
    logits_processors: Sequence[Any] = (),
    stopping_criteria: Sequence[Any] = (),
    model_name: str = "target",
) -> BeamDecodeResult:
    """Beam / diverse beam search with ``config.num_beams`` beams in ``config.num_beam_groups`` groups.

    ``inc`` is an incremental model with ``select``. Stopping criteria end a beam like EOS does.
    """
    B, P = prompt_ids.shape
    K = config.num_beams
    G = config.num_beam_groups if config.strategy == "diverse_beam" else 1
    S = K // G
    penalty = config.diversity_penalty if config.strategy == "diverse_beam" else 0.0
    device = prompt_ids.device
    eos = eos_tensor(eos_id, device)
    eos_set = set(eos.tolist()) if eos is not None else set()
    if allowed is not None and allowed.dim() == 3:  # per-row sets: one copy per beam
        allowed = allowed.repeat_interleave(K, dim=0)
    procs = build_processors(config, P, eos_id, allowed, logits_processors)
    stops = StoppingCriteriaList(stopping_criteria)
    stats = DecodeStats()
    stats.row_nfe = torch.zeros(B, dtype=torch.long)
    stats.tokens_per_step = [[] for _ in range(B)]
    hyps = [[_Hypotheses(S, config.length_penalty, config.early_stopping, max_new_tokens) for _ in range(G)] for _ in range(B)]
    seqs = torch.zeros(B * K, 0, dtype=torch.long, device=device)
    beam_scores = torch.full((B, K), -1e9, device=device)
    beam_scores[:, ::S] = 0.0  # one live beam per group at the start
    ids = prompt_ids.long().repeat_interleave(K, dim=0)
    with Timer(stats):
        if max_new_tokens > 0:
            logits, state = inc.start(prompt_ids.long())
            stats.count_call(model_name)
            stats.row_nfe += 1
            state = select(inc, state, torch.arange(B, device=device).repeat_interleave(K))
            logits = logits[:, -1].repeat_interleave(K, dim=0)
            for t in range(max_new_tokens):
                raw = logits.float()
                if allowed is not None:  # renormalise over the allowed set
                    raw = procs[0](ids, raw)
                logp = torch.log_softmax(raw, dim=-1)
                logp = procs(ids, logp)
                V = logp.shape[-1]
                if 2 * S > V:
                    raise ValueError(f"num_beams: 2 * beams per group ({2 * S}) exceeds the vocabulary size {V}")
                logp = logp.view(B, K, V)
                next_tokens = torch.full((B, K), pad_id, dtype=torch.long, device=device)
                next_scores = torch.full((B, K), -1e9, device=device)
                src = torch.arange(B * K, device=device).view(B, K).clone()
                for g in range(G):
                    lo, hi = g * S, (g + 1) * S
                    s = logp[:, lo:hi]
                    if penalty > 0 and g > 0:
                        counts = torch.zeros(B, V, device=device)
                        counts.scatter_add_(1, next_tokens[:, :lo], torch.ones(B, lo, device=device))
                        s = s - penalty * counts[:, None, :]
                    total = (s + beam_scores[:, lo:hi, None]).view(B, S * V)
                    top_v, top_i = torch.topk(total, 2 * S, dim=1)
                    for b in range(B):
                        h = hyps[b][g]
                        if h.done:
                            src[b, lo:hi] = b * K + lo
                            continue
                        filled = 0
                        for rank in range(2 * S):
                            score = float(top_v[b, rank])
                            beam = lo + int(top_i[b, rank]) // V
                            tok = int(top_i[b, rank]) % V
                            row = b * K + beam
                            if tok in eos_set or bool(
                                stops and stops(torch.cat([ids[row : row + 1], torch.tensor([[tok]], device=device)], 1), raw[row : row + 1]).any()
                            ):
                                if rank < S:
                                    h.add(score, seqs[row].tolist() + [tok])
                                continue
                            next_tokens[b, lo + filled] = tok
                            next_scores[b, lo + filled] = score
                            src[b, lo + filled] = row
                            filled += 1
                            if filled == S:
                                break
                        h.done = h.is_done(float(next_scores[b, lo:hi].max()), t + 1)
                beam_scores = next_scores
                flat_src = src.view(-1)
                seqs = torch.cat([seqs[flat_src], next_tokens.view(-1, 1)], dim=1)
                ids = torch.cat([ids[flat_src], next_tokens.view(-1, 1)], dim=1)
                for b in range(B):
                    stats.tokens_per_step[b].append(1)
                all_done = all(h.done for row in hyps for h in row)
                if all_done or t == max_new_tokens - 1:
                    break
                state = select(inc, state, flat_src)
                logits, state = inc.extend(next_tokens.view(-1, 1), state)
                logits = logits[:, -1]
                stats.count_call(model_name)
                live = torch.tensor([not all(h.done for h in row) for row in hyps])
                stats.row_nfe[live] += 1
            # unfinished groups: their running beams become hypotheses
            for b in range(B):
                for g in range(G):
                    h = hyps[b][g]
                    if h.done:
                        continue
                    for j in range(g * S, (g + 1) * S):
                        h.add(float(beam_scores[b, j]), seqs[b * K + j].tolist())
    sequences = torch.full((B, K, max_new_tokens), pad_id, dtype=torch.long, device=device)
    seq_scores = torch.full((B, K), float("-inf"), device=device)
    for b in range(B):
        items = sorted((it for h in hyps[b] for it in h.items), key=lambda x: -x[0])[:K]
        for j, (score, toks) in enumerate(items):
            toks = toks[:max_new_tokens]
            sequences[b, j, : len(toks)] = torch.tensor(toks, dtype=torch.long)
            seq_scores[b, j] = score
    best = sequences[:, 0].clone()
    stats.extra["strategy"] = config.strategy
    stats.extra["num_beams"] = K
    stats.extra["num_beam_groups"] = G
    stats.extra["tokens_per_target_call"] = tokens_per_call(best, pad_id, eos, stats.nfe_per_model.get(model_name, 0))
    return BeamDecodeResult(best, stats, sequences=sequences, sequence_scores=seq_scores)
