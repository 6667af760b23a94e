"""Drafters for speculative decoding: a small model, prompt lookup (n-gram), ADED tri-gram table.

A drafter proposes up to ``k`` tokens after the current sequence; the target verifies them in
one call (:mod:`decoding.speculative`). Protocol:

* ``reset(prompt_ids, attention_mask, setup)`` before a decode (``setup`` carries the sampling
  settings, the drafter's per-row RNG and the ``allowed`` mask of the decode);
* ``propose(ids [B, T], lengths [B], valid [B, T], k, active [B], stats) -> Draft``: row b is
  ``ids[b, :lengths[b]]``, the prompt (left padded, ``valid`` False on padding) plus accepted
  tokens; right padding beyond ``lengths[b]`` is not valid either;
* ``accepted(num_kept [B])``: how many of the last drafts each row kept, so a model drafter
  can roll its cache back.

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
    "AcceptancePredictor",
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
    #: False when ``allowed_at`` is None everywhere: drafters then skip reading positions back
    constrained: bool = True
    prompt_len: int = 0
    #: rows advance together (the target cannot roll rows back separately)
    lockstep: bool = False


class Drafter(Protocol):
    name: str

    def reset(self, prompt_ids: torch.Tensor, attention_mask: torch.Tensor | None, setup: DraftSetup) -> None: ...

    def propose(
        self, ids: torch.Tensor, lengths: torch.Tensor, valid: torch.Tensor, k: int, active: torch.Tensor, stats: DecodeStats
    ) -> Draft: ...

    def accepted(self, num_kept: torch.Tensor) -> None: ...


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
    entropy)``, default: the draft's own probability of its token) is multiplied in; a row
    stops drafting once ``1 - prod(a_i) > h`` (in lock-step batches: once any active row does).
    """

    name = "small_model"

    def __init__(
        self,
        model: Any,
        stop_threshold: float | None = None,
        acceptance_predictor: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
        model_name: str = "draft",
        record: bool = False,
    ) -> None:
        if stop_threshold is not None and not 0 <= stop_threshold <= 1:
            raise ValueError(f"stop_threshold: expected 0 <= h <= 1, got {stop_threshold}")
        self.model = model
        self.stop_threshold = stop_threshold
        self.acceptance_predictor = acceptance_predictor
        self.model_name = model_name
        self.inc: Any = None
        self.state: Any = None
        self.fed: torch.Tensor | None = None  # tokens in the state per row
        self.base: torch.Tensor | None = None  # sequence length per row when drafting began
        self.supports_row_rollback = False
        #: with ``record``: (q_token, entropy, accepted) of every verified draft, for
        #: :meth:`AcceptancePredictor.fit` (per-row batches only; lock step labels are not exact)
        self.record = record
        self.records: list[torch.Tensor] = []
        self._last: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor] | None = None

    def reset(self, prompt_ids: torch.Tensor, attention_mask: torch.Tensor | None, setup: DraftSetup) -> None:
        self.inc = as_incremental(self.model, attention_mask)
        self.supports_row_rollback = bool(getattr(self.inc, "supports_row_rollback", False))
        self.setup = setup
        self.state = None
        self.fed = None

    def _step_logits(self, logits: torch.Tensor, position: torch.Tensor) -> torch.Tensor:
        lg = logits.float()
        if not self.setup.constrained:  # nothing to mask: no need to read the positions back
            return lg
        pos = position.tolist()
        if all(p == pos[0] for p in pos):
            m = self.setup.allowed_at(pos[0])
            return lg if m is None else lg.masked_fill(~m, NEG_INF)
        for b, p in enumerate(pos):
            m = self.setup.allowed_at(p)
            if m is not None:
                lg[b] = lg[b].masked_fill(~m[b], NEG_INF)
        return lg

    def _catch_up(self, ids: torch.Tensor, lengths: torch.Tensor, stats: DecodeStats) -> torch.Tensor:
        """Feed each row the tokens its state lacks; logits [B, V] for the next token."""
        if self.state is None:
            if bool((lengths != lengths[0]).any()):
                raise ValueError("ids: rows must have equal lengths when the drafter starts")
            logits, self.state = self.inc.start(ids[:, : int(lengths[0])])
        else:
            assert self.fed is not None
            fed, ends = torch.stack([self.fed, lengths.to(self.fed.device)]).tolist()  # one read-back
            unfed = [e - f for f, e in zip(fed, ends)]
            n = max(unfed)
            if n < 1 or min(unfed) < 0:
                raise RuntimeError("drafter: its state is ahead of the sequence")
            if min(unfed) == n:
                chunk = torch.stack([ids[b, fed[b] : ends[b]] for b in range(ids.shape[0])])
                logits, self.state = self.inc.extend(chunk, self.state)
            else:  # right-aligned chunk, filler on the left
                chunk = torch.zeros(ids.shape[0], n, dtype=ids.dtype, device=ids.device)
                real = torch.zeros(ids.shape[0], n, dtype=torch.bool, device=ids.device)
                for b in range(ids.shape[0]):
                    u = unfed[b]
                    chunk[b, n - u :] = ids[b, fed[b] : ends[b]]
                    real[b, n - u :] = True
                logits, self.state = self.inc.extend(chunk, self.state, real)
        stats.count_call(self.model_name)
        self.fed = lengths.clone()
        return logits[:, -1]

    def propose(
        self, ids: torch.Tensor, lengths: torch.Tensor, valid: torch.Tensor, k: int, active: torch.Tensor, stats: DecodeStats
    ) -> Draft:
        B = ids.shape[0]
        if k <= 0:
            self.base = self.fed
            return _empty(B, ids.device)
        logits = self._catch_up(ids, lengths, stats)
        self.base = lengths.clone()
        s = self.setup
        greedy = s.temperature <= 0
        toks, qs, feats = [], [], []
        n_valid = torch.full((B,), k, dtype=torch.long, device=ids.device)
        stopped = torch.zeros(B, dtype=torch.bool, device=ids.device)
        prod = torch.ones(B, device=ids.device)
        pos0 = lengths - s.prompt_len
        for j in range(k):
            lg = self._step_logits(logits, pos0 + j)
            filtered = process_logits(lg, s.temperature if not greedy else 1.0, s.top_k, s.top_p)
            q = torch.softmax(filtered, dim=-1)
            tok = lg.argmax(-1) if greedy else choose_tokens(lg, s.rng, s.temperature, s.top_k, s.top_p)
            toks.append(tok)
            qs.append(q)
            q_tok = q.gather(1, tok[:, None]).squeeze(1)
            ent = -(q * torch.log(q.clamp_min(1e-30))).sum(-1)
            feats.append(torch.stack([q_tok, ent], dim=1))
            if self.stop_threshold is not None:
                a = q_tok if self.acceptance_predictor is None else self.acceptance_predictor(q_tok, ent)
                prod = prod * a.to(prod.device)
                stop = (1 - prod > self.stop_threshold) & active & ~stopped
                n_valid = torch.where(stop, torch.full_like(n_valid, j + 1), n_valid)
                stopped |= stop
                if bool(stopped[active].any()) if s.lockstep else bool(stopped[active].all()):
                    if s.lockstep:
                        n_valid.fill_(j + 1)
                    break
            if j < k - 1:
                logits, self.state = self.inc.extend(tok[:, None], self.state)
                logits = logits[:, -1]
                stats.count_call(self.model_name)
                self.fed = self.fed + 1
        tokens = torch.stack(toks, dim=1)
        if self.record and not s.lockstep:
            self._last = (torch.stack(feats, dim=1), n_valid.clone(), active.clone(), tokens)
        return Draft(tokens, n_valid, None if greedy else torch.stack(qs, dim=1))

    def accepted(self, num_kept: torch.Tensor) -> None:
        if self.fed is None or self.base is None:
            return
        if self._last is not None:  # labels: kept drafts accepted, the next valid one rejected
            feats, n_valid, active, _ = self._last
            j = torch.arange(feats.shape[1], device=feats.device)[None, :]
            kept = num_kept.to(feats.device)[:, None]
            seen = (j <= kept) & (j < n_valid[:, None]) & active[:, None]
            rows = torch.cat([feats, (j < kept).float()[..., None]], dim=2)[seen]
            self.records.append(rows.cpu())
            self._last = None
        keep = self.base + torch.minimum(num_kept.to(self.base.device), self.fed - self.base)
        if bool((keep < self.fed).any()):
            if bool((keep == keep[0]).all()) and bool((self.fed == self.fed[0]).all()):
                self.state = rollback(self.inc, self.state, int(keep[0]))
            else:
                self.state = rollback(self.inc, self.state, keep)
        self.fed = keep


class AcceptancePredictor:
    """SpecDec++-style acceptance head: logistic regression of "the target accepts this draft
    token" on features of the draft distribution (log q(token), q(token), entropy).

    Fit it on the ``records`` of a :class:`SmallModelDrafter` run with ``record=True``, then
    pass it as ``acceptance_predictor`` together with ``stop_threshold``.
    """

    def __init__(self) -> None:
        self.weight = torch.zeros(4)

    @staticmethod
    def _features(q_tok: torch.Tensor, ent: torch.Tensor) -> torch.Tensor:
        q = q_tok.float()
        return torch.stack([torch.ones_like(q), torch.log(q.clamp_min(1e-8)), q, ent.float()], dim=-1)

    def fit(self, records: torch.Tensor | list[torch.Tensor], steps: int = 300, l2: float = 1e-3) -> AcceptancePredictor:
        """``records [N, 3]`` rows of (q_token, entropy, accepted 0/1)."""
        if isinstance(records, list) and not records:
            raise ValueError("records: empty; run a SmallModelDrafter(record=True) decode with drafts first")
        data = torch.cat(records) if isinstance(records, list) else records
        if data.dim() != 2 or data.shape[1] != 3 or data.shape[0] < 2:
            raise ValueError(f"records: expected rows (q_token, entropy, accepted) [N>=2, 3], got {tuple(data.shape)}")
        x = self._features(data[:, 0], data[:, 1])
        y = data[:, 2].float()
        w = torch.zeros(4, requires_grad=True)
        opt = torch.optim.LBFGS([w], max_iter=steps, line_search_fn="strong_wolfe")

        def closure() -> torch.Tensor:
            opt.zero_grad()
            loss = torch.nn.functional.binary_cross_entropy_with_logits(x @ w, y) + l2 * (w[1:] ** 2).sum()
            loss.backward()
            return loss

        with torch.enable_grad():
            opt.step(closure)
        self.weight = w.detach()
        return self

    def __call__(self, q_tok: torch.Tensor, ent: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self._features(q_tok, ent) @ self.weight.to(q_tok.device))


class PromptLookupDrafter:
    """Prompt lookup decoding: match the last n tokens (n = max_ngram..min_ngram) earlier in the
    row's context (earliest match first, as transformers' prompt-lookup generation) and propose
    the tokens that followed, at most ``max_draft``. No model calls.

    Earliest, not most recent: when the output loops, the most recent match sits at the end of
    the sequence and leaves a continuation of a token or two, while the earliest match has the
    whole loop after it."""

    name = "prompt_lookup"
    supports_row_rollback = True

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
            for i in range(0, L - n):  # i + n < L: a non-empty continuation
                if toks[i : i + n] == pattern:
                    return toks[i + n : i + n + k]
        return []

    def propose(
        self, ids: torch.Tensor, lengths: torch.Tensor, valid: torch.Tensor, k: int, active: torch.Tensor, stats: DecodeStats
    ) -> Draft:
        k = min(k, self.max_draft)
        if k <= 0:
            return _empty(ids.shape[0], ids.device)
        return _pack([self._lookup(r, k) if a else [] for r, a in zip(_row_tokens(ids, valid), active.tolist())], ids.device)

    def accepted(self, num_kept: torch.Tensor) -> None:
        pass


class ADEDDrafter:
    """ADED-style online tri-gram table built from the target's own outputs.

    Each generated (accepted) token c is recorded under the two tokens before it,
    ``table[(a, b)][c] += 1``; drafting chains the most frequent continuation from the row's
    last two tokens. The table persists across decode calls (it keeps learning).
    ``include_prompt`` also records prompt tri-grams.
    """

    name = "aded"
    supports_row_rollback = True

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

    def propose(
        self, ids: torch.Tensor, lengths: torch.Tensor, valid: torch.Tensor, k: int, active: torch.Tensor, stats: DecodeStats
    ) -> Draft:
        rows = _row_tokens(ids, valid)
        for b, toks in enumerate(rows):
            self._ingest(toks, b)
        k = min(k, self.max_draft)
        if k <= 0:
            return _empty(ids.shape[0], ids.device)
        return _pack([self._chain(r, k) if a else [] for r, a in zip(rows, active.tolist())], ids.device)

    def accepted(self, num_kept: torch.Tensor) -> None:
        pass


def as_drafter(drafter: Any) -> Any:
    """A drafter object is returned as is; a model becomes a :class:`SmallModelDrafter`."""
    if callable(getattr(drafter, "propose", None)) and callable(getattr(drafter, "reset", None)):
        return drafter
    return SmallModelDrafter(drafter)
