"""The pieces a masked-diffusion decoder is built from, each a small object owning its parameters.

A decoder (:class:`decoding.masked_config.MaskedDecoder`) is

    schedule + score + sampling + commit rule + remask rule + block policy + cache

composed by one loop (``decoding/masked.py``), the way ``transformers`` composes logits
processors and stopping criteria::

    MaskedDecoder(schedule=Cosine(12), commit=Threshold(0.9), remask=ReMDM(schedule="cap", eta=0.05),
                  block=FixedBlocks(32))

Every piece has a plain-dict form: its slot names its kind (``{"commit": "threshold"}``) and its
parameters keep the flat names CLI flags, checkpoints and reports have always used
(``{"threshold": 0.9}``); ``to_flat`` / ``from_flat`` convert, and :data:`PIECES` lists every
kind per slot. The rules themselves (tensor code) live in ``schedules``, ``scores``,
``sampling``, ``commit_rules``, ``remasking`` and ``blocks``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

import torch

from . import blocks, commit_rules, remasking, schedules, scores
from .sampling import RowRNG, choose_tokens
from .step_context import StepContext


@dataclass(frozen=True)
class Piece:
    """A decoder piece: ``SLOT`` is its place in the decoder, ``KIND`` its name there, ``FLAT`` maps
    each of its fields to its key in the flat dict form."""

    SLOT: ClassVar[str] = ""
    KIND: ClassVar[str] = ""
    FLAT: ClassVar[dict[str, str]] = {}

    def to_flat(self) -> dict[str, Any]:
        out: dict[str, Any] = {self.SLOT: self.KIND} if self.KIND else {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[self.FLAT.get(f.name, f.name)] = list(value) if isinstance(value, tuple) else value
        return out

    @classmethod
    def from_flat(cls, d: dict[str, Any]) -> Piece:
        kwargs = {}
        for f in fields(cls):
            key = cls.FLAT.get(f.name, f.name)
            if key in d:
                kwargs[f.name] = tuple(int(x) for x in d[key]) if f.name == "delimiter_ids" else d[key]
        return cls(**kwargs)


# -- schedule: how many positions stay masked after each step -------------------------------------

@dataclass(frozen=True)
class Schedule(Piece):
    steps: int = 12
    SLOT: ClassVar[str] = "schedule"

    def __post_init__(self) -> None:
        if int(self.steps) < 1:
            raise ValueError(f"steps: expected >= 1, got {self.steps}")

    def remaining(self, n0: torch.Tensor, t: int, steps: int) -> torch.Tensor:
        return schedules.remaining(n0, t, steps, self.KIND)


@dataclass(frozen=True)
class Cosine(Schedule):
    """MaskGIT / Discrete Diffusion VLA: ``floor(n0 * cos(pi/2 * (t+1)/T))`` stay masked."""

    KIND: ClassVar[str] = "cosine"


@dataclass(frozen=True)
class Linear(Schedule):
    """LLaDA: the same number of positions every step."""

    KIND: ClassVar[str] = "linear"


# -- score: which positions are most confident (ranking), with optional MaskGIT noise ---------------

@dataclass(frozen=True)
class Score(Piece):
    #: tau of MaskGIT's annealed Gumbel noise ``tau * (1 - t/T)`` on the ranking (0: none)
    gumbel_temperature: float = 0.0
    SLOT: ClassVar[str] = "score"

    def score(self, probs: torch.Tensor, tokens: torch.Tensor, rng: RowRNG | None) -> torch.Tensor:
        return scores.token_score(self.KIND, probs, tokens, rng)

    def rank(self, score: torch.Tensor, t: int, steps: int, rng: RowRNG) -> torch.Tensor:
        return scores.add_gumbel(score, self.gumbel_temperature, t, steps, rng)


@dataclass(frozen=True)
class ProbScore(Score):
    KIND: ClassVar[str] = "prob"


@dataclass(frozen=True)
class MarginScore(Score):
    KIND: ClassVar[str] = "margin"


@dataclass(frozen=True)
class EntropyScore(Score):
    KIND: ClassVar[str] = "entropy"


@dataclass(frozen=True)
class RandomScore(Score):
    KIND: ClassVar[str] = "random"


# -- sampling: the token proposed at each masked position -------------------------------------------

@dataclass(frozen=True)
class Sampling(Piece):
    """Token choice: argmax at temperature 0, else sampled (with top-k / top-p)."""

    temperature: float = 0.0
    top_k: int = 0
    top_p: float = 1.0

    def choose(self, logits: torch.Tensor, rng: RowRNG) -> torch.Tensor:
        return choose_tokens(logits, rng, self.temperature, self.top_k, self.top_p)


# -- commit rules: which masked positions take their proposal this step -----------------------------

@dataclass(frozen=True)
class Commit(Piece):
    SLOT: ClassVar[str] = "commit"
    #: the rule commits the schedule's count (re-masks are decided first and enlarge it)
    SCHEDULED: ClassVar[bool] = False

    def select(self, ctx: StepContext) -> torch.Tensor:
        raise NotImplementedError


@dataclass(frozen=True)
class TopK(Commit):
    """The schedule's count, highest ranking score first (LLaDA / MaskGIT / DD-VLA)."""

    KIND: ClassVar[str] = "topk"
    SCHEDULED: ClassVar[bool] = True

    def select(self, ctx: StepContext) -> torch.Tensor:
        return commit_rules.commit_topk(ctx)


@dataclass(frozen=True)
class Threshold(Commit):
    """Fast-dLLM: every position with p >= threshold (at least the best one)."""

    threshold: float = 0.9
    KIND: ClassVar[str] = "threshold"

    def select(self, ctx: StepContext) -> torch.Tensor:
        return commit_rules.commit_threshold(ctx, self.threshold)


@dataclass(frozen=True)
class Deadline(Commit):
    """Every position with p >= threshold plus the schedule's count: done within ``steps``, early if sure."""

    threshold: float = 0.9
    KIND: ClassVar[str] = "deadline"

    def select(self, ctx: StepContext) -> torch.Tensor:
        return commit_rules.commit_deadline(ctx, self.threshold)


@dataclass(frozen=True)
class Factor(Commit):
    """Fast-dLLM: the longest confidence-sorted prefix with ``p_n >= 1 - factor / (n + 1)``."""

    factor: float = 1.0
    KIND: ClassVar[str] = "factor"

    def select(self, ctx: StepContext) -> torch.Tensor:
        return commit_rules.commit_factor(ctx, self.factor)


@dataclass(frozen=True)
class Learned(Commit):
    """Learn2PD: a trained filter (a path or a ``CommitFilter``) says "this proposal is final"."""

    filter: Any = None
    threshold: float = 0.96
    KIND: ClassVar[str] = "learned"
    FLAT: ClassVar[dict[str, str]] = {"filter": "learned_filter", "threshold": "learned_threshold"}

    def select(self, ctx: StepContext) -> torch.Tensor:
        return commit_rules.commit_learned(ctx, self.filter, self.threshold)

    def to_flat(self) -> dict[str, Any]:
        out = super().to_flat()
        if out["learned_filter"] is not None and not isinstance(out["learned_filter"], str):
            out["learned_filter"] = "<in-memory>"
        return out


@dataclass(frozen=True)
class LocalLeap(Commit):
    """Anchors above ``anchor_threshold`` plus neighbours within ``radius`` above ``relaxed_threshold``."""

    anchor_threshold: float = 0.9
    relaxed_threshold: float = 0.7
    radius: int = 2
    KIND: ClassVar[str] = "localleap"

    def select(self, ctx: StepContext) -> torch.Tensor:
        return commit_rules.commit_localleap(ctx, self.anchor_threshold, self.relaxed_threshold, self.radius)


@dataclass(frozen=True)
class CCD(Commit):
    """Coherent contextual decoding: positions whose argmax held since last step's buffer."""

    adaptive: bool = True
    buffer: int = 0  # 0: twice the schedule's budget
    KIND: ClassVar[str] = "ccd"
    FLAT: ClassVar[dict[str, str]] = {"adaptive": "ccd_adaptive", "buffer": "ccd_buffer"}

    def select(self, ctx: StepContext) -> torch.Tensor:
        return commit_rules.commit_ccd(ctx, self.adaptive, self.buffer)


# -- remask rules: which committed tokens go back to mask ------------------------------------------

@dataclass(frozen=True)
class Remask(Piece):
    SLOT: ClassVar[str] = "remask"
    #: a position is re-masked at most this many times (bounds the steps)
    max_remasks: int = 2

    @property
    def active(self) -> bool:
        return True

    def select(self, ctx: StepContext, cap: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


@dataclass(frozen=True)
class NoRemask(Piece):
    """Committed tokens stay."""

    SLOT: ClassVar[str] = "remask"
    KIND: ClassVar[str] = "none"
    max_remasks: ClassVar[int] = 0

    @property
    def active(self) -> bool:
        return False

    def select(self, ctx: StepContext, cap: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(ctx.masked)


@dataclass(frozen=True)
class DDVLACode(Remask):
    """Discrete Diffusion VLA's released code: kept scores scaled by ``1 - t/T`` compete with masked ones."""

    KIND: ClassVar[str] = "ddvla_code"

    def select(self, ctx: StepContext, cap: torch.Tensor) -> torch.Tensor:
        return remasking.remask_ddvla_code(ctx, cap, self.max_remasks)


@dataclass(frozen=True)
class DDVLAPaper(Remask):
    """Discrete Diffusion VLA's paper: below a threshold rising ``low -> high``, or dropped by ``delta``."""

    low: float = 0.1
    high: float = 0.5
    delta: float = 0.4
    KIND: ClassVar[str] = "ddvla_paper"
    FLAT: ClassVar[dict[str, str]] = {"low": "remask_low", "high": "remask_high", "delta": "remask_delta"}

    def select(self, ctx: StepContext, cap: torch.Tensor) -> torch.Tensor:
        return remasking.remask_ddvla_paper(ctx, cap, self.low, self.high, self.delta, self.max_remasks)


@dataclass(frozen=True)
class ReMDM(Remask):
    """ReMDM: each kept token re-masked with probability sigma_t (``cap`` / ``rescale`` / ``conf``)."""

    schedule: str = "cap"
    eta: float = 0.05
    KIND: ClassVar[str] = "remdm"
    FLAT: ClassVar[dict[str, str]] = {"schedule": "remdm_schedule", "eta": "remdm_eta"}

    def __post_init__(self) -> None:
        if self.schedule not in ("cap", "rescale", "conf"):
            raise ValueError(f"remdm_schedule: expected 'cap', 'rescale' or 'conf', got {self.schedule!r}")

    def select(self, ctx: StepContext, cap: torch.Tensor) -> torch.Tensor:
        return remasking.remask_remdm(ctx, cap, self.schedule, self.eta, self.max_remasks)


# -- block policy: which stretch of the canvas is refined ------------------------------------------

@dataclass(frozen=True)
class Block(Piece):
    SLOT: ClassVar[str] = "block"
    #: the policy reads the first pass's distributions to place the block end
    NEEDS_PROBS: ClassVar[bool] = False

    def steps(self, total: int, gen_len: int, start: int, end: int) -> int:
        return blocks.block_steps(self.KIND, total, getattr(self, "size", gen_len), gen_len, start, end)

    def next_end(self, start: int, gen_len: int, probs: torch.Tensor | None = None,
                 active: torch.Tensor | None = None) -> int:
        return blocks.next_block_end(self.KIND, start, gen_len, getattr(self, "size", gen_len), probs=probs,
                                     active=active)


@dataclass(frozen=True)
class SingleBlock(Block):
    """The whole generated region is one block."""

    KIND: ClassVar[str] = "single"


@dataclass(frozen=True)
class FixedBlocks(Block):
    """LLaDA semi-autoregressive: blocks of ``size`` decoded left to right."""

    size: int = 32
    KIND: ClassVar[str] = "fixed"
    FLAT: ClassVar[dict[str, str]] = {"size": "block_size"}


@dataclass(frozen=True)
class AdaptiveBlocks(Block):
    """AdaBlock-dLLM: end the block after a confidently predicted delimiter, else after ``size``."""

    size: int = 32
    delimiter_ids: tuple[int, ...] = field(default_factory=tuple)
    delta: float = 0.3
    window: float = 0.25
    KIND: ClassVar[str] = "adaptive"
    NEEDS_PROBS: ClassVar[bool] = True
    FLAT: ClassVar[dict[str, str]] = {"size": "block_size", "delta": "adaptive_delta", "window": "adaptive_window"}

    def __post_init__(self) -> None:
        object.__setattr__(self, "delimiter_ids", tuple(int(d) for d in self.delimiter_ids))

    def next_end(self, start: int, gen_len: int, probs: torch.Tensor | None = None,
                 active: torch.Tensor | None = None) -> int:
        return blocks.next_block_end(self.KIND, start, gen_len, self.size, self.delimiter_ids, self.delta,
                                     self.window, probs, active)


# -- cache: reuse of the keys and values before the block ------------------------------------------

@dataclass(frozen=True)
class Cache(Piece):
    #: models whose cache is not exact (bidirectional prefix): 0 decodes them without a cache (exact,
    #: with a warning); N > 0 opts into Fast-dLLM's approximate cache, refreshed every N steps
    refresh: int = 0
    SLOT: ClassVar[str] = "cache"
    FLAT: ClassVar[dict[str, str]] = {"refresh": "cache_refresh"}

    def __post_init__(self) -> None:
        if int(self.refresh) < 0:
            raise ValueError(f"cache_refresh: expected >= 0, got {self.refresh}")


@dataclass(frozen=True)
class NoCache(Cache):
    """Every step is a full forward pass."""

    KIND: ClassVar[str] = "none"


@dataclass(frozen=True)
class PrefixCache(Cache):
    """Everything before the block is cached; each step runs the block and everything after it."""

    KIND: ClassVar[str] = "prefix"


@dataclass(frozen=True)
class DualCache(Cache):
    """Fast-dLLM's dual cache: the prefix and the suffix after the block are both cached."""

    KIND: ClassVar[str] = "dual"


#: every kind of every slot: slot -> kind -> piece class
PIECES: dict[str, dict[str, type[Piece]]] = {
    "schedule": {c.KIND: c for c in (Linear, Cosine)},
    "score": {c.KIND: c for c in (ProbScore, MarginScore, EntropyScore, RandomScore)},
    "commit": {c.KIND: c for c in (TopK, Threshold, Deadline, Factor, Learned, LocalLeap, CCD)},
    "remask": {c.KIND: c for c in (NoRemask, DDVLACode, DDVLAPaper, ReMDM)},
    "block": {c.KIND: c for c in (SingleBlock, FixedBlocks, AdaptiveBlocks)},
    "cache": {c.KIND: c for c in (NoCache, PrefixCache, DualCache)},
}
