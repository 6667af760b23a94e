"""Block planning for masked diffusion: one block, fixed semi-autoregressive blocks, AdaBlock.

* ``single``: the whole generated region is one block;
* ``fixed`` (LLaDA semi-autoregressive): blocks of ``block_size`` decoded left to right;
* ``adaptive`` (AdaBlock-dLLM): at each block start, look at a window (``adaptive_window`` x L)
  of predicted tokens; if a delimiter is predicted with confidence >= ``adaptive_delta``, end
  the block just after the first such delimiter, else use ``block_size``.

Blocks are shared by the batch, so an adaptive end is the furthest end any active row asks for.
The piece objects (``SingleBlock()``, ``FixedBlocks(32)``, ``AdaptiveBlocks(...)``) are in
``decoding/pieces.py``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

BLOCKS = ("single", "fixed", "adaptive")


def n_fixed_blocks(gen_len: int, block_size: int) -> int:
    return max(1, math.ceil(gen_len / max(1, block_size)))


def block_steps(kind: str, steps: int, block_size: int, gen_len: int, start: int, end: int) -> int:
    """Nominal refinement steps for the block [start, end): the total ``steps`` split over blocks."""
    if kind == "single":
        return max(1, steps)
    if kind == "fixed":
        return max(1, steps // n_fixed_blocks(gen_len, block_size))
    return max(1, round(steps * (end - start) / gen_len))


def next_block_end(
    kind: str,
    start: int,
    gen_len: int,
    block_size: int = 32,
    delimiter_ids: Sequence[int] = (),
    adaptive_delta: float = 0.3,
    adaptive_window: float = 0.25,
    probs: torch.Tensor | None = None,
    active: torch.Tensor | None = None,
) -> int:
    """End (exclusive) of the block starting at ``start``; ``probs`` [B, L, V] covers the generated region."""
    if kind not in BLOCKS:
        raise ValueError(f"block: expected one of {BLOCKS}, got {kind!r}")
    if kind == "single":
        return gen_len
    default_end = min(gen_len, start + block_size)
    if kind == "fixed" or probs is None or not delimiter_ids:
        return default_end
    window = max(1, math.ceil(adaptive_window * gen_len))
    stop = min(gen_len, start + window)
    conf, tok = probs[:, start:stop].max(-1)
    delim = torch.zeros_like(tok, dtype=torch.bool)
    for d in delimiter_ids:
        delim |= tok == d
    hit = delim & (conf >= adaptive_delta)
    if active is not None:
        hit &= active[:, None]
    if not hit.any():
        return default_end
    first = torch.where(hit.any(1), hit.float().argmax(1), torch.full_like(hit[:, 0], -1, dtype=torch.long))
    return int(start + first.max().item() + 1)
