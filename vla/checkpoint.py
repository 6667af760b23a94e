"""Checkpoint folders in the ``save_pretrained`` / ``from_pretrained`` style.

``config.json`` (VLAConfig with the towers' `transformers` configs), ``model.safetensors``,
``norm_stats.json`` (action / proprio statistics and bins) and the tokenizer files
(``tokenizer.json``...). Training checkpoints also hold ``training_state.pt``.
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_model, save_model
from transformers import AutoTokenizer, PreTrainedTokenizerBase

from .action_tokenizer import ActionTokenizer
from .config import VLAConfig
from .factory import from_config
from .model import VLAModel

CONFIG, WEIGHTS, STATS = "config.json", "model.safetensors", "norm_stats.json"


def save_checkpoint(path: str | Path, model: VLAModel, tokenizer: PreTrainedTokenizerBase,
                    action_tokenizer: ActionTokenizer) -> Path:
    """Write a checkpoint folder (created if needed) and return its path."""
    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    model.config.save(out / CONFIG)
    save_model(model, str(out / WEIGHTS))
    action_tokenizer.save(out / STATS)
    tokenizer.save_pretrained(str(out))
    return out


def is_checkpoint(path: str | Path) -> bool:
    p = Path(path)
    return all((p / n).exists() for n in (CONFIG, WEIGHTS, STATS))


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu"
                    ) -> tuple[VLAModel, PreTrainedTokenizerBase, ActionTokenizer]:
    """Rebuild the model from ``config.json`` and load its weights (eval mode)."""
    p = Path(path)
    if not is_checkpoint(p):
        raise FileNotFoundError(f"checkpoint: {p} lacks one of {CONFIG}, {WEIGHTS}, {STATS}")
    config = VLAConfig.load(p / CONFIG)
    model = from_config(config)
    load_model(model, str(p / WEIGHTS), device=str(device))
    model.to(device).eval()
    tokenizer = AutoTokenizer.from_pretrained(str(p))
    return model, tokenizer, ActionTokenizer.load(p / STATS)
