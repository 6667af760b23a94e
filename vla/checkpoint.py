"""Checkpoint folders in the ``save_pretrained`` / ``from_pretrained`` style.

``config.json`` (VLAConfig with the towers' `transformers` configs), ``model.safetensors``,
``norm_stats.json`` (action / proprio statistics and bins) and the tokenizer files
(``tokenizer.json``...). Training checkpoints also hold ``training_state.pt``. An optional
``decoder.json`` holds the checkpoint's default decoder options (a JSON object such as
``{"steps": 2}``, chosen by closed-loop success rate); an explicit decoder overrides it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_model, save_model
from transformers import AutoTokenizer, PreTrainedTokenizerBase

from .action_tokenizer import ActionTokenizer
from .config import VLAConfig
from .factory import from_config
from .model import VLAModel

CONFIG, WEIGHTS, STATS = "config.json", "model.safetensors", "norm_stats.json"
DECODER = "decoder.json"


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


def load_default_decoder(path: str | Path) -> dict[str, Any] | None:
    """The checkpoint's ``decoder.json`` options, or None when it has none."""
    f = Path(path) / DECODER
    if not f.exists():
        return None
    try:
        options = json.loads(f.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{f}: expected a JSON object of decoder options, e.g. {{\"steps\": 2}} ({e})") from e
    if not isinstance(options, dict):
        raise ValueError(f"{f}: expected a JSON object of decoder options, e.g. {{\"steps\": 2}}, "
                         f"got {type(options).__name__}")
    return options
