"""Build a `VLAModel` for a preset: `tiny` from scratch, `pretrained` from local checkpoints, or
from a stored config (checkpoint loading)."""

from __future__ import annotations

from typing import Any

import torch
from transformers import PreTrainedTokenizerBase

from .backbone import build_towers, load_pretrained_towers, tiny_configs
from .config import VLAConfig
from .model import VLAModel


def build_tiny(config: VLAConfig, tokenizer: PreTrainedTokenizerBase, vision: dict[str, Any] | None = None,
               language: dict[str, Any] | None = None, seed: int = 0) -> VLAModel:
    """A randomly initialised tiny model (sizes of `config.TINY_*`, overridable), seeded."""
    config.preset = "tiny"
    config.text_vocab_size = len(tokenizer)
    config.vision_config, config.language_config = tiny_configs(config, config.vocab_size, vision, language)
    return from_config(config, seed=seed)


def build_pretrained(config: VLAConfig, vision_path: str, language_path: str,
                     seed: int = 0) -> tuple[VLAModel, PreTrainedTokenizerBase]:
    """Towers loaded from local Hugging Face checkpoints; new parts (projector...) seeded."""
    config.preset = "pretrained"
    vision, lm, tokenizer = load_pretrained_towers(config, vision_path, language_path)
    torch.manual_seed(seed)
    return VLAModel(config, vision, lm), tokenizer


def from_config(config: VLAConfig, seed: int = 0) -> VLAModel:
    """A model with the architecture stored in ``config`` and seeded random weights."""
    torch.manual_seed(seed)
    vision, lm = build_towers(config)
    return VLAModel(config, vision, lm)
