"""What one refinement step knows, handed to commit and remasking rules.

All tensors cover the current block only: ``[B, Lb]`` per position, ``[B]`` per row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from .sampling import RowRNG


@dataclass
class StepContext:
    #: step index within the block and the block's nominal number of steps
    t: int
    steps: int
    #: rows still being decoded [B]
    active: torch.Tensor
    #: positions currently masked [B, Lb]
    masked: torch.Tensor
    #: proposed token, its probability, and its ranking score (noise included) [B, Lb]
    x0: torch.Tensor
    conf: torch.Tensor
    rank: torch.Tensor
    #: full distributions [B, Lb, V]
    probs: torch.Tensor
    #: masked count at block start, and the schedule's masked count after this step [B]
    n0: torch.Tensor
    target_remaining: torch.Tensor
    #: probability and score of the tokens currently kept (committed) [B, Lb]
    p_cur: torch.Tensor
    cur_score: torch.Tensor
    #: probability each kept token had when it was committed [B, Lb]
    commit_conf: torch.Tensor
    #: re-mask count per position [B, Lb]
    remask_count: torch.Tensor
    rng: RowRNG
    #: the score piece's kind (``prob`` scores live in log space; re-mask rules scale them)
    score_kind: str = "prob"
    #: per-block state a rule may keep across steps (e.g. CCD's buffer)
    state: dict[str, Any] = field(default_factory=dict)

    @property
    def eligible(self) -> torch.Tensor:
        """Masked positions of active rows."""
        return self.masked & self.active[:, None]

    @property
    def kept(self) -> torch.Tensor:
        """Committed positions of active rows."""
        return ~self.masked & self.active[:, None]

    @property
    def scheduled_k(self) -> torch.Tensor:
        """Commits the schedule asks for at this step [B] (without re-masking)."""
        k = self.masked.sum(1) - self.target_remaining
        return torch.where(self.active, k.clamp(min=0), torch.zeros_like(k))


def top_k_mask(score: torch.Tensor, eligible: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Per row, select the ``k[b]`` highest-scoring eligible positions."""
    s = score.masked_fill(~eligible, float("-inf"))
    order = torch.argsort(s, dim=1, descending=True, stable=True)
    ranks = torch.empty_like(order)
    ranks.scatter_(1, order, torch.arange(s.shape[1], device=s.device).expand_as(order))
    k = torch.minimum(k, eligible.sum(1))
    return (ranks < k[:, None]) & eligible


def bottom_k_mask(score: torch.Tensor, eligible: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Per row, select the ``k[b]`` lowest-scoring eligible positions."""
    return top_k_mask(-score, eligible, k)


def at_least_one(commit: torch.Tensor, ctx: StepContext) -> torch.Tensor:
    """Ensure every active row with a masked position commits at least its best position."""
    need = (commit.sum(1) == 0) & (ctx.eligible.sum(1) > 0)
    return commit | top_k_mask(ctx.rank, ctx.eligible, need.long())  # k = 0 where not needed (no host sync)
