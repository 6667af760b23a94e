"""Unmasking schedules: how many positions stay masked after each refinement step.

``remaining(n0, t, steps, kind)`` is the number of positions still masked after step ``t``
(0-based) of a ``steps``-step decode that started with ``n0`` masked positions. Both kinds end
at 0 after the last step and commit at least one position per step while any is masked.

* ``linear`` (LLaDA): spread ``n0`` evenly, the first ``n0 % steps`` steps take one more;
* ``cosine`` (MaskGIT / Discrete Diffusion VLA): ``floor(n0 * cos(pi/2 * (t+1)/steps))``.
"""

from __future__ import annotations

import math

import torch

SCHEDULES = ("linear", "cosine")


def remaining(n0: torch.Tensor, t: int, steps: int, kind: str = "cosine") -> torch.Tensor:
    """Masked count after step ``t`` for each row; ``n0`` is a long tensor ``[B]``."""
    if kind not in SCHEDULES:
        raise ValueError(f"schedule: expected one of {SCHEDULES}, got {kind!r}")
    if steps < 1:
        raise ValueError(f"steps: expected >= 1, got {steps}")
    n0 = n0.long()
    if t >= steps - 1:
        return torch.zeros_like(n0)
    prev = n0 if t == 0 else remaining(n0, t - 1, steps, kind)
    if kind == "linear":
        base, extra = n0 // steps, n0 % steps
        done = base * (t + 1) + torch.clamp(extra, max=t + 1)
        rem = n0 - done
    else:
        ratio = math.cos(math.pi / 2 * (t + 1) / steps)
        rem = torch.floor(n0.double() * ratio).long()
    # at least one commit per step while anything is masked
    return torch.clamp(torch.minimum(rem, prev - 1), min=0)


def commit_counts(n0: int, steps: int, kind: str = "cosine") -> list[int]:
    """Positions committed at each step for one row (sums to ``n0``; trailing zeros when steps > n0)."""
    n = torch.tensor([n0])
    out, prev = [], n0
    for t in range(steps):
        r = int(remaining(n, t, steps, kind)[0])
        out.append(prev - r)
        prev = r
    return out
