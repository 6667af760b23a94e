"""Decode statistics shared by every decoder: NFE, per-step commits, timing, acceptance.

Every decoder returns a :class:`DecodeResult` holding the tokens and a :class:`DecodeStats`.
NFE counts model calls (one batched forward = 1), per model name (``"target"``, ``"draft"``,
``"small"``, ``"large"``...). Per-row counters let rows of one batch finish at different steps.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import torch


@dataclass
class DecodeStats:
    """Statistics of one decode call (a batch of rows)."""

    #: model calls per model name (one batched forward counts once)
    nfe_per_model: dict[str, int] = field(default_factory=dict)
    #: per row: number of model calls made while the row was still being decoded  [B]
    row_nfe: torch.Tensor | None = None
    #: per row: tokens committed at each step (list of lists, one per row)
    tokens_per_step: list[list[int]] = field(default_factory=list)
    #: per row and generated position: step at which the final token was committed (-1: never) [B, L]
    commit_step: torch.Tensor | None = None
    #: per row and position: how many times a committed token was re-masked  [B, L]
    remask_count: torch.Tensor | None = None
    #: (row, position, step) for every re-mask event
    remask_events: list[tuple[int, int, int]] = field(default_factory=list)
    #: speculative decoding: drafted and accepted token counts
    drafted: int = 0
    accepted: int = 0
    #: wall time of the whole decode in seconds
    wall_time_s: float = 0.0
    #: free-form extras (e.g. share of large-model tokens, block sizes)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def nfe(self) -> int:
        """Total model calls over all models."""
        return int(sum(self.nfe_per_model.values()))

    def count_call(self, model: str = "model", n: int = 1) -> None:
        """Record ``n`` model calls of ``model``."""
        self.nfe_per_model[model] = self.nfe_per_model.get(model, 0) + n

    @property
    def acceptance_rate(self) -> float:
        """Accepted / drafted tokens (speculative decoders); 0 when nothing was drafted."""
        return self.accepted / self.drafted if self.drafted else 0.0

    @property
    def mean_tokens_per_step(self) -> float:
        """Average committed tokens per step over rows and steps."""
        steps = [n for row in self.tokens_per_step for n in row]
        return float(sum(steps) / len(steps)) if steps else 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable summary."""
        out: dict[str, Any] = {
            "nfe": self.nfe,
            "nfe_per_model": dict(self.nfe_per_model),
            "wall_time_s": self.wall_time_s,
            "mean_tokens_per_step": self.mean_tokens_per_step,
        }
        if self.row_nfe is not None:
            out["row_nfe"] = [int(x) for x in self.row_nfe.tolist()]
        if self.remask_count is not None:
            out["remasks"] = int(self.remask_count.sum().item())
        if self.drafted:
            out.update(drafted=self.drafted, accepted=self.accepted, acceptance_rate=self.acceptance_rate)
        out.update(self.extra)
        return out


@dataclass
class DecodeResult:
    """Tokens produced by a decoder and the statistics of the call."""

    tokens: torch.Tensor
    stats: DecodeStats
    #: per position, the distribution its token was drawn from (decoders that keep it; else None)
    probs: torch.Tensor | None = None


class Timer:
    """Context manager that writes elapsed wall time into ``stats.wall_time_s``."""

    def __init__(self, stats: DecodeStats) -> None:
        self.stats = stats
        self._t0 = 0.0

    def __enter__(self) -> Timer:
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        self.stats.wall_time_s = time.perf_counter() - self._t0
