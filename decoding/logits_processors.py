"""Composable logits processors and stopping criteria in the style of `transformers`.

A *processor* is any callable ``(input_ids [B, T], scores [B, V]) -> scores [B, V]`` where
``input_ids`` is the whole sequence so far (prompt, left padding included, then generated
tokens) and ``scores`` the next-token logits (log-probabilities in beam search). A *stopping
criterion* is a callable ``(input_ids, scores) -> bool [B]`` (True = this row is done).
`transformers` processors and criteria follow the same convention and can be mixed in.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

import torch

from decoding.sampling import NEG_INF, filter_top_k, filter_top_p

__all__ = [
    "LogitsProcessor",
    "StoppingCriterion",
    "LogitsProcessorList",
    "StoppingCriteriaList",
    "TemperatureLogitsWarper",
    "TopKLogitsWarper",
    "TopPLogitsWarper",
    "RepetitionPenaltyLogitsProcessor",
    "NoRepeatNGramLogitsProcessor",
    "MinNewTokensLogitsProcessor",
    "SuppressTokensLogitsProcessor",
    "AllowedTokensLogitsProcessor",
    "MaxNewTokensCriteria",
    "EosTokenCriteria",
    "StopSequenceCriteria",
    "MaxTimeCriteria",
]


class LogitsProcessor(Protocol):
    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor: ...


class StoppingCriterion(Protocol):
    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor: ...


class LogitsProcessorList(list):
    """Applies its processors in order."""

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        for proc in self:
            scores = proc(input_ids, scores, **kwargs) if kwargs else proc(input_ids, scores)
        return scores


class StoppingCriteriaList(list):
    """A row is done when any criterion says so."""

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        done = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
        for crit in self:
            out = crit(input_ids, scores)
            if isinstance(out, bool):
                out = torch.full_like(done, out)
            done |= out.to(done.device).bool()
        return done


def _check_positive(name: str, value: float) -> None:
    if not value > 0:
        raise ValueError(f"{name}: expected a value > 0, got {value}")


class TemperatureLogitsWarper:
    """Divide logits by ``temperature`` (> 0)."""

    def __init__(self, temperature: float) -> None:
        _check_positive("temperature", temperature)
        self.temperature = float(temperature)

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        return scores / self.temperature


class TopKLogitsWarper:
    """Keep the ``top_k`` highest logits."""

    def __init__(self, top_k: int) -> None:
        if top_k < 1:
            raise ValueError(f"top_k: expected >= 1, got {top_k}")
        self.top_k = int(top_k)

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        return filter_top_k(scores, self.top_k)


class TopPLogitsWarper:
    """Nucleus filtering: keep the smallest set with probability >= ``top_p``."""

    def __init__(self, top_p: float) -> None:
        if not 0 < top_p <= 1:
            raise ValueError(f"top_p: expected 0 < top_p <= 1, got {top_p}")
        self.top_p = float(top_p)

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        return filter_top_p(scores, self.top_p)


class RepetitionPenaltyLogitsProcessor:
    """CTRL repetition penalty: seen tokens' positive logits / penalty, negative ones * penalty."""

    def __init__(self, penalty: float, ignore_ids: Sequence[int] = ()) -> None:
        _check_positive("penalty", penalty)
        self.penalty = float(penalty)
        self.ignore_ids = list(ignore_ids)

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        ids = input_ids.clamp(0, scores.shape[-1] - 1)
        seen = torch.gather(scores, 1, ids)
        seen = torch.where(seen < 0, seen * self.penalty, seen / self.penalty)
        out = scores.scatter(1, ids, seen)
        if self.ignore_ids:
            idx = torch.tensor(self.ignore_ids, device=scores.device)
            out[:, idx] = scores[:, idx]
        return out


class NoRepeatNGramLogitsProcessor:
    """Forbid tokens that would repeat an n-gram already present in the row."""

    def __init__(self, ngram_size: int) -> None:
        if ngram_size < 1:
            raise ValueError(f"ngram_size: expected >= 1, got {ngram_size}")
        self.n = int(ngram_size)

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        n = self.n
        if input_ids.shape[1] + 1 < n:
            return scores
        scores = scores.clone()
        for b, row in enumerate(input_ids.tolist()):
            prefix = tuple(row[len(row) - (n - 1) :]) if n > 1 else ()
            banned = {row[i + n - 1] for i in range(len(row) - n + 1) if tuple(row[i : i + n - 1]) == prefix}
            if banned:
                scores[b, list(banned)] = NEG_INF
        return scores


class MinNewTokensLogitsProcessor:
    """Forbid ``eos_id`` until ``min_new_tokens`` tokens were generated after ``prompt_len``."""

    def __init__(self, prompt_len: int, min_new_tokens: int, eos_id: int | Sequence[int]) -> None:
        self.prompt_len = int(prompt_len)
        self.min_new_tokens = int(min_new_tokens)
        self.eos = [eos_id] if isinstance(eos_id, int) else list(eos_id)

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        if input_ids.shape[1] - self.prompt_len < self.min_new_tokens:
            scores = scores.clone()
            scores[:, self.eos] = NEG_INF
        return scores


class SuppressTokensLogitsProcessor:
    """Never emit the given token ids."""

    def __init__(self, token_ids: Iterable[int]) -> None:
        self.ids = list(token_ids)

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        scores = scores.clone()
        scores[:, self.ids] = NEG_INF
        return scores


class AllowedTokensLogitsProcessor:
    """Per generated position l, keep only ``allowed[l]`` (bool ``[L, V]`` or ``[B, L, V]``).

    Positions beyond ``L`` are unconstrained. Used by the VLA action head to restrict action
    positions to action-bin ids.
    """

    def __init__(self, allowed: torch.Tensor, prompt_len: int) -> None:
        if allowed.dtype != torch.bool or allowed.dim() not in (2, 3):
            raise ValueError(f"allowed: expected a bool tensor [L, V] or [B, L, V], got {allowed.dtype} {tuple(allowed.shape)}")
        self.allowed = allowed
        self.prompt_len = int(prompt_len)

    def mask_at(self, position: int, batch: int, vocab: int, device: torch.device) -> torch.Tensor | None:
        """Bool ``[B, V]`` of allowed tokens at generated ``position`` (None: unconstrained)."""
        a = self.allowed
        length = a.shape[-2]
        if position >= length:
            return None
        if a.shape[-1] != vocab:
            raise ValueError(f"allowed: last dim {a.shape[-1]} does not match the vocabulary size {vocab}")
        m = a[position] if a.dim() == 2 else a[:, position]
        m = m.to(device)
        if m.dim() == 1:
            m = m.expand(batch, -1)
        elif m.shape[0] != batch:
            raise ValueError(f"allowed: batch {m.shape[0]} does not match {batch}")
        return m

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        m = self.mask_at(input_ids.shape[1] - self.prompt_len, scores.shape[0], scores.shape[-1], scores.device)
        return scores if m is None else scores.masked_fill(~m, NEG_INF)


class MaxNewTokensCriteria:
    """Done after ``max_new_tokens`` tokens past ``prompt_len``."""

    def __init__(self, prompt_len: int, max_new_tokens: int) -> None:
        self.prompt_len = int(prompt_len)
        self.max_new_tokens = int(max_new_tokens)

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        done = input_ids.shape[1] - self.prompt_len >= self.max_new_tokens
        return torch.full((input_ids.shape[0],), done, dtype=torch.bool, device=input_ids.device)


class EosTokenCriteria:
    """Done when the last token is one of ``eos_id``."""

    def __init__(self, eos_id: int | Sequence[int]) -> None:
        self.eos = torch.tensor([eos_id] if isinstance(eos_id, int) else list(eos_id))

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        return torch.isin(input_ids[:, -1], self.eos.to(input_ids.device))


class StopSequenceCriteria:
    """Done when the row ends with any of the given token sequences."""

    def __init__(self, sequences: Sequence[Sequence[int]]) -> None:
        self.sequences = [list(s) for s in sequences if len(s) > 0]
        if not self.sequences:
            raise ValueError("sequences: expected at least one non-empty stop sequence")

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        done = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
        for seq in self.sequences:
            n = len(seq)
            if input_ids.shape[1] >= n:
                tail = input_ids[:, -n:]
                done |= (tail == torch.tensor(seq, device=input_ids.device)).all(-1)
        return done


class MaxTimeCriteria:
    """Done for every row once ``max_time`` seconds passed since construction (or ``start``)."""

    def __init__(self, max_time: float, start: float | None = None) -> None:
        self.max_time = float(max_time)
        self.start = time.perf_counter() if start is None else start

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        done = time.perf_counter() - self.start > self.max_time
        return torch.full((input_ids.shape[0],), done, dtype=torch.bool, device=input_ids.device)
