"""Soft bin labels for the token heads (HL-Gauss): a Gaussian around the true value, binned.

With ``bin_label_sigma`` s > 0 the cross-entropy target of an action token is not the one-hot of
its bin but the mass a Gaussian N(value, (s bin widths)^2) puts on each of the ``n_bins`` bins
(renormalised over [-1, 1]). The head then learns a distribution whose mean tracks the
continuous value, which the expected-bin readout (:mod:`vla.readout`) decodes. Binary gripper
positions keep their one-hot labels (they take bin 0 or ``n_bins - 1`` only).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def gaussian_bin_targets(values: torch.Tensor, n_bins: int, sigma_bins: float) -> torch.Tensor:
    """``values [...]`` in [-1, 1] -> ``[..., n_bins]`` probabilities (each row sums to 1)."""
    if sigma_bins <= 0:
        raise ValueError(f"sigma_bins: expected > 0, got {sigma_bins!r}")
    edges = torch.linspace(-1.0, 1.0, n_bins + 1, device=values.device, dtype=torch.float32)
    sigma = sigma_bins * 2.0 / n_bins
    cdf = 0.5 * (1 + torch.erf((edges - values.float().unsqueeze(-1)) / (sigma * math.sqrt(2.0))))
    p = cdf[..., 1:] - cdf[..., :-1]
    return p / p.sum(-1, keepdim=True).clamp_min(1e-12)


def soft_token_ce(logits: torch.Tensor, tokens: torch.Tensor, values: torch.Tensor, offset: int, n_bins: int,
                  sigma_bins: float, hard: torch.Tensor | None = None) -> torch.Tensor:
    """Cross-entropy ``[B, L]`` of ``logits [B, L, V]`` against soft bin labels of ``values [B, L]``.

    ``tokens [B, L]``: the hard labels (vocabulary ids), used where ``hard [L]`` is True.
    """
    logp = F.log_softmax(logits.float(), dim=-1)
    soft = -(gaussian_bin_targets(values, n_bins, sigma_bins) * logp[..., offset:offset + n_bins]).sum(-1)
    if hard is None:
        return soft
    one_hot = -logp.gather(-1, tokens.unsqueeze(-1)).squeeze(-1)
    return torch.where(hard.to(soft.device), one_hot, soft)
