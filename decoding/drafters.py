"""Drafters for speculative decoding: a small model, prompt lookup (n-gram), ADED tri-gram table.

A drafter proposes up to ``k`` tokens after the current sequence; the target verifies them in
one call (:mod:`decoding.speculative`). Protocol:

* ``reset(prompt_ids, attention_mask, setup)`` before a decode (``setup`` carries the sampling
  settings, the drafter's per-row RNG and the ``allowed`` mask of the decode);
* ``propose(ids [B, T], valid [B, T], k, active [B], stats) -> Draft``: ``ids`` is prompt (left
  padded, ``valid`` False on padding) plus accepted tokens;
* ``accepted(num_kept)``: how many of the last drafts were kept (the same for every row), so a
  model drafter can roll its cache back.

A :class:`Draft` holds tokens ``[B, k']``, the number of valid drafts per row ``[B]`` (a row may
propose fewer), and ``q [B, k', V]``, the distribution each token was *sampled* from (None:
deterministic drafts, i.e. one-hot q, which keeps Leviathan verification exact).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch

from decoding.incremental import as_incremental, rollback
from decoding.sampling import NEG_INF, RowRNG, choose_tokens, process_logits
from decoding.stats import DecodeStats

__all__ = [
    "Draft",
    "DraftSetup",
    "Drafter",
    "SmallModelDrafter",
    "PromptLookupDrafter",
    "ADEDDrafter",
    "as_drafter",
]


@dataclass
class Draft:
    """Proposed tokens; entries at or after ``n_valid[b]`` in row b are filler."""

    tokens: torch.Tensor  # [B, k] long
    n_valid: torch.Tensor  # [B] long
    q: torch.Tensor | None = None  # [B, k, V] sampling distribution of each drafted token


@dataclass
class DraftSetup:
    """Settings a decode passes to its drafter."""

    temperature: float = 0.0
    top_k: int = 0
    top_p: float = 1.0
    rng: RowRNG | None = None
    #: generated position -> bool [B, V] of allowed tokens (None: unconstrained)
    allowed_at: Callable[[int], torch.Tensor | None] = field(default=lambda pos: None)
    prompt_len: int = 0


class Drafter(Protocol):
    name: str

    def reset(self, prompt_ids: torch.Tensor, attention_mask: torch.Tensor | None, setup: DraftSetup) -> None: ...

    def propose(
        self, ids: torch.Tensor, valid: torch.Tensor, k: int, active: torch.Tensor, stats: DecodeStats
    ) -> Draft: ...

    def accepted(self, num_kept: int) -> None: ...


def _empty(batch: int, device: torch.device) -> Draft:
    return Draft(torch.zeros(batch, 0, dtype=torch.long, device=device), torch.zeros(batch, dtype=torch.long, device=device))


def _pack(rows: list[list[int]], device: torch.device) -> Draft:
    k = max((len(r) for r in rows), default=0)
    toks = torch.zeros(len(rows), k, dtype=torch.long, device=device)
    for b, r in enumerate(rows):
        if r:
            toks[b, : len(r)] = torch.tensor(r, dtype=torch.long)
    return Draft(toks, torch.tensor([len(r) for r in rows], dtype=torch.long, device=device))


def _row_tokens(ids: torch.Tensor, valid: torch.Tensor) -> list[list[int]]:
    return [row[m].tolist() for row, m in zip(ids, valid)]


class SmallModelDrafter:
    """Drafts with a small causal model (an incremental model, `transformers` LM or callable).

    Samples from the processed draft distribution (temperature / top-k / top-p of the decode)
    or takes its argmax at temperature 0. ``stop_threshold`` h enables a SpecDec++-style stop:
    after each drafted token the predicted acceptance a_i (``acceptance_predictor(q_token,
    entropy)``, default: the draft's own probability of its token) is multiplied in, and
    drafting stops once ``1 - prod(a_i) > h`` for some active row.
    """

    name = "small_model"

    def __init__(
        self,
        model: Any,
        stop_threshold: float | None = None,
        acceptance_predictor: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
        model_name: str = "draft",
    ) -> None:
        if stop_threshold is not None and not 0 <= stop_threshold <= 1:
            raise ValueError(f"stop_threshold: expected 0 <= h <= 1, got {stop_threshold}")
        self.model = model
        self.stop_threshold = stop_threshold
        self.acceptance_predictor = acceptance_predictor
        self.model_name = model_name
        self.inc: Any = None
        self.state: Any = None
        self.fed = 0
        self.last_k = 0
        self.base = 0

    def reset(self, prompt_ids: torch.Tensor, attention_mask: torch.Tensor | None, setup: DraftSetup) -> None:
        self.inc = as_incremental(self.model, attention_mask)
        self.setup = setup
        self.state = None
        self.fed = 0

    def _step_logits(self, logits: torch.Tensor, position: int) -> torch.Tensor:
        lg = logits.float()
        m = self.setup.allowed_at(position)
        return lg if m is None else lg.masked_fill(~m, NEG_INF)

    def propose(self, ids: torch.Tensor, valid: torch.Tensor, k: int, active: torch.Tensor, stats: DecodeStats) -> Draft:
        B, T = ids.shape
        if k <= 0:
            return _empty(B, ids.device)
        if self.state is None:
            logits, self.state = self.inc.start(ids)
        else:
            logits, self.state = self.inc.extend(ids[:, self.fed :], self.state)
        stats.count_call(self.model_name)
        self.fed = T
        self.base = T
        s = self.setup
        greedy = s.temperature <= 0
        toks, qs = [], []
        n_valid = torch.full((B,), k, dtype=torch.long, device=ids.device)
        prod = torch.ones(B, device=ids.device)
        pos0 = T - s.prompt_len
        for j in range(k):
            lg = self._step_logits(logits[:, -1], pos0 + j)
            filtered = process_logits(lg, s.temperature if not greedy else 1.0, s.top_k, s.top_p)
            q = torch.softmax(filtered, dim=-1)
            tok = lg.argmax(-1) if greedy else choose_tokens(lg, s.rng, s.temperature, s.top_k, s.top_p)
            toks.append(tok)
            qs.append(q)
            if self.stop_threshold is not None:
                q_tok = q.gather(1, tok[:, None]).squeeze(1)
                ent = -(q * torch.log(q.clamp_min(1e-30))).sum(-1)
                a = q_tok if self.acceptance_predictor is None else self.acceptance_predictor(q_tok, ent)
                prod = prod * a.to(prod.device)
                stop = (1 - prod > self.stop_threshold) & active
                if bool(stop.any()):
                    n_valid.fill_(j + 1)
                    break
            if j < k - 1:
                logits, self.state = self.inc.extend(tok[:, None], self.state)
                stats.count_call(self.model_name)
                self.fed += 1
        tokens = torch.stack(toks, dim=1)
        self.last_k = tokens.shape[1]
        return Draft(tokens, n_valid[:], None if greedy else torch.stack(qs, dim=1))

    def accepted(self, num_kept: int) -> None:
        keep = self.base + min(num_kept, self.fed - self.base)
        if keep < self.fed:
            self.state = rollback(self.inc, self.state, keep)
        self.fed = keep


class PromptLookupDrafter:
    """Prompt lookup decoding: match the last n tokens (n = max_ngram..min_ngram) earlier in the
    row's context (most recent match first) and propose the tokens that followed, at most
    ``max_draft``. No model calls."""

    name = "prompt_lookup"

    def __init__(self, max_ngram: int = 3, min_ngram: int = 1, max_draft: int = 10) -> None:
        if not 1 <= min_ngram <= max_ngram:
            raise ValueError(f"min_ngram/max_ngram: expected 1 <= min <= max, got {min_ngram}, {max_ngram}")
        if max_draft < 1:
            raise ValueError(f"max_draft: expected >= 1, got {max_draft}")
        self.max_ngram, self.min_ngram, self.max_draft = max_ngram, min_ngram, max_draft

    def reset(self, prompt_ids: torch.Tensor, attention_mask: torch.Tensor | None, setup: DraftSetup) -> None:
        pass

    def _lookup(self, toks: list[int], k: int) -> list[int]:
        L = len(toks)
        for n in range(min(self.max_ngram, L - 1), self.min_ngram - 1, -1):
            pattern = toks[L - n :]
            for i in range(L - n - 1, -1, -1):
                if toks[i : i + n] == pattern:
                    return toks[i + n : i + n + k]
        return []

    def propose(self, ids: torch.Tensor, valid: torch.Tensor, k: int, active: torch.Tensor, stats: DecodeStats) -> Draft:
        k = min(k, self.max_draft)
        if k <= 0:
            return _empty(ids.shape[0], ids.device)
        return _pack([self._lookup(r, k) if a else [] for r, a in zip(_row_tokens(ids, valid), active.tolist())], ids.device)

    def accepted(self, num_kept: int) -> None:
        pass


class ADEDDrafter:
    """ADED-style online tri-gram table built from the target's own outputs.

    Each generated (accepted) token c is recorded under the two tokens before it,
    ``table[(a, b)][c] += 1``; drafting chains the most frequent continuation from the row's
    last two tokens. The table persists across decode calls (it keeps learning).
    ``include_prompt`` also records prompt tri-grams.
    """

    name = "aded"

    def __init__(self, max_draft: int = 8, include_prompt: bool = False) -> None:
        if max_draft < 1:
            raise ValueError(f"max_draft: expected >= 1, got {max_draft}")
        self.max_draft = max_draft
        self.include_prompt = include_prompt
        self.table: dict[tuple[int, int], Counter] = defaultdict(Counter)
        self._seen: list[int] = []
        self._prompt_lens: list[int] = []

    def reset(self, prompt_ids: torch.Tensor, attention_mask: torch.Tensor | None, setup: DraftSetup) -> None:
        valid = torch.ones_like(prompt_ids, dtype=torch.bool) if attention_mask is None else attention_mask.bool()
        lens = valid.sum(1).tolist()
        self._prompt_lens = [int(n) for n in lens]
        self._seen = [2 if self.include_prompt else max(int(n), 2) for n in lens]

    def _ingest(self, toks: list[int], b: int) -> None:
        for i in range(self._seen[b], len(toks)):
            self.table[(toks[i - 2], toks[i - 1])][toks[i]] += 1
        self._seen[b] = max(self._seen[b], len(toks))

    def _chain(self, toks: list[int], k: int) -> list[int]:
        out: list[int] = []
        a, b = (toks[-2], toks[-1]) if len(toks) >= 2 else (None, None)
        while len(out) < k and a is not None:
            nxt = self.table.get((a, b))
            if not nxt:
                break
            c = nxt.most_common(1)[0][0]
            out.append(c)
            a, b = b, c
        return out

    def propose(self, ids: torch.Tensor, valid: torch.Tensor, k: int, active: torch.Tensor, stats: DecodeStats) -> Draft:
        rows = _row_tokens(ids, valid)
        for b, toks in enumerate(rows):
            self._ingest(toks, b)
        k = min(k, self.max_draft)
        if k <= 0:
            return _empty(ids.shape[0], ids.device)
        return _pack([self._chain(r, k) if a else [] for r, a in zip(rows, active.tolist())], ids.device)

    def accepted(self, num_kept: int) -> None:
        pass


def as_drafter(drafter: Any) -> Any:
    """A drafter object is returned as is; a model becomes a :class:`SmallModelDrafter`."""
    if callable(getattr(drafter, "propose", None)) and callable(getattr(drafter, "reset", None)):
        return drafter
    return SmallModelDrafter(drafter)
