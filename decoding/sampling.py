"""Token choice shared by all decoders: temperature, top-k, top-p, Gumbel noise, per-row RNG.

Randomness is drawn per row from its own :class:`torch.Generator`, so a batch gives the same
result as its rows decoded one by one with the same seeds.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

NEG_INF = float("-inf")


class RowRNG:
    """One generator per batch row; ``seeds[i]`` seeds row i (default: ``seed + i``)."""

    def __init__(self, batch: int, seed: int | Sequence[int] | None = 0, device: torch.device | str = "cpu") -> None:
        if seed is None:
            seeds = [int(torch.randint(0, 2**62, (1,)).item()) for _ in range(batch)]
        elif isinstance(seed, int):
            seeds = [seed + i for i in range(batch)]
        else:
            seeds = [int(s) for s in seed]
            if len(seeds) != batch:
                raise ValueError(f"seed: expected {batch} per-row seeds, got {len(seeds)}")
        self.device = torch.device(device)
        # CPU generators keep results identical across devices
        self.gens = [torch.Generator(device="cpu").manual_seed(s) for s in seeds]

    def host_draw(self, shape_per_row: Sequence[int], rows: Sequence[int] | None = None,
                  gumbel: bool = False) -> torch.Tensor:
        """Uniform(0, 1) (or standard Gumbel) samples ``[len(rows), *shape_per_row]`` on the CPU."""
        idx = range(len(self.gens)) if rows is None else rows
        out = torch.stack([torch.rand(tuple(shape_per_row), generator=self.gens[i]) for i in idx])
        if gumbel:
            out = -torch.log(-torch.log(out.clamp_(1e-20, 1.0 - 1e-7)))
        return out

    def uniform(self, shape_per_row: Sequence[int], rows: Sequence[int] | None = None) -> torch.Tensor:
        """Uniform(0, 1) samples ``[len(rows), *shape_per_row]`` on ``self.device``."""
        return to_device(self.host_draw(shape_per_row, rows), self.device)

    def gumbel(self, shape_per_row: Sequence[int], rows: Sequence[int] | None = None) -> torch.Tensor:
        """Standard Gumbel samples ``[len(rows), *shape_per_row]`` on ``self.device``."""
        return to_device(self.host_draw(shape_per_row, rows, gumbel=True), self.device)


def to_device(t: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A CPU tensor onto ``device`` without making the host wait: pinned memory and an
    asynchronous copy on CUDA (a copy from pageable memory waits for the stream first)."""
    if device.type == "cpu":
        return t
    if device.type == "cuda":
        return t.pin_memory().to(device, non_blocking=True)
    return t.to(device)


def filter_top_k(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Keep the ``k`` largest logits on the last axis (k <= 0: keep all)."""
    if k <= 0 or k >= logits.shape[-1]:
        return logits
    kth = torch.topk(logits, k, dim=-1).values[..., -1:]
    return logits.masked_fill(logits < kth, NEG_INF)


def filter_top_p(logits: torch.Tensor, p: float) -> torch.Tensor:
    """Nucleus filter: keep the smallest set whose probability reaches ``p`` (p >= 1: keep all)."""
    if p >= 1.0:
        return logits
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
    probs = torch.softmax(sorted_logits, dim=-1)
    cum = probs.cumsum(-1)
    drop_sorted = (cum - probs) >= p  # mass before this token already reaches p
    drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
    return logits.masked_fill(drop, NEG_INF)


def process_logits(logits: torch.Tensor, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0) -> torch.Tensor:
    """Temperature, then top-k, then top-p (the order of `transformers`)."""
    if temperature > 0 and temperature != 1.0:
        logits = logits / temperature
    return filter_top_p(filter_top_k(logits, top_k), top_p)


def choose_tokens(
    logits: torch.Tensor,
    rng: RowRNG | None,
    temperature: float = 0.0,
    top_k: int = 0,
    top_p: float = 1.0,
    rows: Sequence[int] | None = None,
) -> torch.Tensor:
    """Pick one token per position of ``logits [B, ..., V]``: argmax at temperature 0, else sample.

    Sampling uses Gumbel-max on the filtered logits with per-row noise from ``rng``.
    """
    if temperature <= 0:
        return logits.argmax(-1)
    if rng is None:
        raise ValueError("rng: a RowRNG is required when temperature > 0")
    filtered = process_logits(logits.float(), temperature, top_k, top_p)
    g = rng.gumbel(filtered.shape[1:], rows).to(filtered.device)
    return (filtered + g).argmax(-1)
