"""How a token head's decoded action bins become values: the bin's centre, or an expectation.

A checkpoint's decoder dict may carry, besides the decoder's own keys:

* ``readout``: ``"mode"`` (default) decodes each action token to its bin's centre;
  ``"mean"`` to the expected bin under the distribution the token was committed from, so a
  32-bin head can answer between its bins (diffusion head only: the decoder keeps those
  distributions, :func:`decoding.masked.masked_decode` with ``keep_probs``).
* ``readout_window``: with ``"mean"``, only bins within this many of the committed one count
  (0: every bin). A window keeps a two-mode distribution (left or right of an object) from
  averaging to a point between the modes.

Binary gripper positions always keep the committed bin.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

KINDS = ("mode", "mean")
KEYS = ("readout", "readout_window")


@dataclass(frozen=True)
class Readout:
    """Bins -> values rule of a token head (see the module docstring)."""

    kind: str = "mode"
    window: int = 0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"readout: expected one of {list(KINDS)}, got {self.kind!r}")
        if isinstance(self.window, bool) or not isinstance(self.window, int) or self.window < 0:
            raise ValueError(f"readout_window: expected an integer >= 0 (0: every bin), got {self.window!r}")

    @property
    def needs_probs(self) -> bool:
        return self.kind == "mean"


def split_readout(decoder: dict[str, Any] | None) -> tuple[dict[str, Any], Readout]:
    """``decoder`` without the readout keys, and the :class:`Readout` they ask for."""
    d = dict(decoder or {})
    kw = {k.removeprefix("readout_") if k != "readout" else "kind": d.pop(k) for k in KEYS if k in d}
    if "window" in kw and kw.get("kind", "mode") != "mean":
        raise ValueError("readout_window: only applies to readout 'mean'")
    return d, Readout(**kw)


def expected_bins(probs: torch.Tensor, bins: torch.Tensor, window: int = 0,
                  keep: torch.Tensor | None = None) -> torch.Tensor:
    """Fractional bin indices ``[B, L]``: the mean bin under ``probs [B, L, n_bins]``.

    ``bins [B, L]``: the committed bins (the window's centre; returned as is where ``keep [L]``
    is True). ``window`` > 0 counts only bins within ``window`` of the committed one.
    """
    n = probs.shape[-1]
    idx = torch.arange(n, device=probs.device, dtype=probs.dtype)
    p = probs.float()
    if window > 0:
        p = p * ((idx - bins.unsqueeze(-1).to(p.dtype)).abs() <= window)
    total = p.sum(-1)
    mean = (p * idx).sum(-1) / total.clamp_min(1e-12)
    out = torch.where(total > 0, mean, bins.to(mean.dtype))
    if keep is not None:
        out = torch.where(keep.to(out.device), bins.to(out.dtype), out)
    return out
