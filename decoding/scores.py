"""Confidence scores that order positions for unmasking (higher = more confident).

* ``prob``: probability of the chosen token (ranked in log space, so Gumbel noise is MaskGIT's);
* ``margin``: p(top1) - p(top2), with the chosen token in place of top1 when it is not the argmax;
* ``entropy``: negative entropy of the position's distribution;
* ``random``: uniform noise (LLaDA's "random" remasking).

Optional Gumbel noise with annealed temperature ``tau * (1 - t/T)`` is added to the ranking
score (MaskGIT). Thresholds always read the plain probability of the chosen token.
"""

from __future__ import annotations

import torch

from .sampling import RowRNG

SCORES = ("prob", "margin", "entropy", "random")


def token_score(kind: str, probs: torch.Tensor, tokens: torch.Tensor, rng: RowRNG | None) -> torch.Tensor:
    """Score of ``tokens [B, L]`` under ``probs [B, L, V]`` (no noise)."""
    p_tok = probs.gather(-1, tokens.unsqueeze(-1)).squeeze(-1)
    if kind == "prob":
        return torch.log(p_tok.clamp_min(1e-30))
    if kind == "margin":
        others = probs.scatter(-1, tokens.unsqueeze(-1), -1.0)
        return p_tok - others.max(-1).values
    if kind == "entropy":
        logp = torch.log(probs.clamp_min(1e-30))
        return (probs * logp).sum(-1)
    if kind == "random":
        if rng is None:
            raise ValueError("score: 'random' needs a RowRNG")
        return rng.uniform(tokens.shape[1:]).to(probs.device)
    raise ValueError(f"score: expected one of {SCORES}, got {kind!r}")


def add_gumbel(score: torch.Tensor, tau: float, t: int, steps: int, rng: RowRNG) -> torch.Tensor:
    """MaskGIT noise: ``score + tau * (1 - t/T) * Gumbel``; a no-op when tau is 0."""
    temp = tau * max(0.0, 1.0 - t / steps)
    if temp <= 0:
        return score
    return score + temp * rng.gumbel(score.shape[1:]).to(score.device)


def scale_kept(score: torch.Tensor, kind: str, t: int, steps: int) -> torch.Tensor:
    """Scale kept tokens' scores by ``(1 - t/T)`` (DD-VLA released code) in the score's own domain."""
    frac = min(t / steps, 1.0)
    if kind == "prob":  # log domain: log(p * (1 - t/T))
        return score + torch.log(torch.tensor(max(1.0 - frac, 1e-30)))
    return score - frac * score.abs()
