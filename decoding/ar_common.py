"""What autoregressive decoding and beam search share: the config, input checks, EOS helpers, processors.

:class:`ARDecodeConfig` (strategy and its knobs), :func:`check_prompt`, :func:`eos_tensor`,
:func:`generated_lengths`, :func:`tokens_per_call` and :func:`build_processors` live here so that
:mod:`decoding.autoregressive` (greedy / sampling, the ``ar_decode`` entry point) and
:mod:`decoding.beam` (beam / diverse beam search) both import them from one place and neither
imports the other back. :mod:`decoding.autoregressive` re-exports every name.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from decoding.logits_processors import (
    AllowedTokensLogitsProcessor,
    LogitsProcessorList,
    MinNewTokensLogitsProcessor,
    NoRepeatNGramLogitsProcessor,
    RepetitionPenaltyLogitsProcessor,
)

__all__ = [
    "EARLY_STOPPING",
    "STRATEGIES",
    "ARDecodeConfig",
    "build_processors",
    "check_prompt",
    "eos_tensor",
    "generated_lengths",
    "tokens_per_call",
]

STRATEGIES = ("greedy", "sample", "beam", "diverse_beam")
EARLY_STOPPING = (False, True, "never")


@dataclass
class ARDecodeConfig:
    """How :func:`ar_decode` picks tokens.

    ``strategy``: "greedy" | "sample" | "beam" | "diverse_beam". Sampling uses ``temperature``,
    ``top_k`` (0 = off) and ``top_p`` (1 = off). Beam search uses ``num_beams``,
    ``length_penalty`` (hypothesis score = sum log p / length ** length_penalty) and
    ``early_stopping`` (False: `transformers` heuristic, True: stop at num_beams finished
    hypotheses, "never": exact); diverse beam search adds ``num_beam_groups`` and
    ``diversity_penalty`` (Hamming diversity of Vijayakumar et al.).
    """

    strategy: str = "greedy"
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    num_beams: int = 4
    num_beam_groups: int = 1
    diversity_penalty: float = 0.0
    length_penalty: float = 1.0
    early_stopping: bool | str = False
    repetition_penalty: float = 1.0
    no_repeat_ngram_size: int = 0
    min_new_tokens: int = 0

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ValueError(f"strategy: expected one of {STRATEGIES}, got {self.strategy!r}")
        if self.strategy == "sample" and not self.temperature > 0:
            raise ValueError(f"temperature: expected > 0 for sampling, got {self.temperature}")
        if self.top_k < 0:
            raise ValueError(f"top_k: expected >= 0 (0 = off), got {self.top_k}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p: expected 0 < top_p <= 1, got {self.top_p}")
        if self.num_beams < 1:
            raise ValueError(f"num_beams: expected >= 1, got {self.num_beams}")
        if self.num_beam_groups < 1 or self.num_beams % self.num_beam_groups:
            raise ValueError(
                f"num_beam_groups: expected a divisor of num_beams={self.num_beams}, got {self.num_beam_groups}"
            )
        if self.diversity_penalty < 0:
            raise ValueError(f"diversity_penalty: expected >= 0, got {self.diversity_penalty}")
        if self.early_stopping not in EARLY_STOPPING:
            raise ValueError(f"early_stopping: expected one of {EARLY_STOPPING}, got {self.early_stopping!r}")
        if self.repetition_penalty <= 0:
            raise ValueError(f"repetition_penalty: expected > 0, got {self.repetition_penalty}")
        if self.no_repeat_ngram_size < 0 or self.min_new_tokens < 0:
            raise ValueError("no_repeat_ngram_size / min_new_tokens: expected >= 0")


def check_prompt(prompt_ids: torch.Tensor, max_new_tokens: int) -> None:
    """Validate the common decoder inputs with clear errors."""
    if not isinstance(prompt_ids, torch.Tensor) or prompt_ids.dim() != 2:
        raise ValueError(f"prompt_ids: expected a tensor [B, P], got {getattr(prompt_ids, 'shape', type(prompt_ids))}")
    if prompt_ids.dtype not in (torch.long, torch.int32, torch.int64):
        raise ValueError(f"prompt_ids: expected integer token ids, got {prompt_ids.dtype}")
    if max_new_tokens < 0:
        raise ValueError(f"max_new_tokens: expected >= 0, got {max_new_tokens}")


def eos_tensor(eos_id: int | Sequence[int] | None, device: torch.device) -> torch.Tensor | None:
    """``eos_id`` as a 1-D tensor (None stays None)."""
    if eos_id is None:
        return None
    return torch.tensor([eos_id] if isinstance(eos_id, int) else list(eos_id), device=device)


def tokens_per_call(tokens: torch.Tensor, pad_id: int, eos: torch.Tensor | None, calls: int) -> float:
    """Mean generated tokens (up to and including EOS) per call of one model."""
    if calls <= 0:
        return 0.0
    return float(generated_lengths(tokens, pad_id, eos).float().mean().item() / calls)


def generated_lengths(tokens: torch.Tensor, pad_id: int, eos: torch.Tensor | None) -> torch.Tensor:
    """Per row: number of generated tokens up to and including the first EOS."""
    if eos is None:
        return torch.full((tokens.shape[0],), tokens.shape[1], dtype=torch.long)
    is_eos = torch.isin(tokens, eos.to(tokens.device))
    first = torch.where(is_eos.any(1), is_eos.float().argmax(1) + 1, torch.full_like(is_eos[:, 0], tokens.shape[1], dtype=torch.long))
    return first.long()


def build_processors(
    config: ARDecodeConfig,
    prompt_len: int,
    eos_id: int | Sequence[int] | None,
    allowed: torch.Tensor | None,
    extra: Sequence[Any],
) -> LogitsProcessorList:
    """Allowed mask, the config's built-in processors, then the caller's (in that order)."""
    procs = LogitsProcessorList()
    if allowed is not None:
        procs.append(AllowedTokensLogitsProcessor(allowed, prompt_len))
    if config.repetition_penalty != 1.0:
        procs.append(RepetitionPenaltyLogitsProcessor(config.repetition_penalty))
    if config.no_repeat_ngram_size > 0:
        procs.append(NoRepeatNGramLogitsProcessor(config.no_repeat_ngram_size))
    if config.min_new_tokens > 0 and eos_id is not None:
        procs.append(MinNewTokensLogitsProcessor(prompt_len, config.min_new_tokens, eos_id))
    procs.extend(extra)
    return procs
