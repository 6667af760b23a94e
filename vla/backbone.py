"""Vision tower and language model from `transformers`: built for the `tiny` preset, loaded for
`pretrained`, or rebuilt from the configs stored in a checkpoint.

* `tiny`: a SigLIP vision tower and a Llama decoder, randomly initialised from small configs.
* `pretrained`: ``AutoModel`` for the vision checkpoint (the ``vision_model`` of a CLIP / SigLIP
  dual encoder is taken) and ``AutoModelForCausalLM`` for the language checkpoint, with its own
  tokenizer (``AutoTokenizer``). The action bins, [MASK] and [ACT] are appended to the
  vocabulary (``resize_token_embeddings``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForCausalLM,
    AutoTokenizer,
    LlamaConfig,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    ResNetConfig,
    SiglipVisionConfig,
)

from .config import TINY_LANGUAGE, TINY_RESNET, TINY_VISION, VLAConfig


def _config_from_dict(d: dict[str, Any]) -> Any:
    d = dict(d)
    model_type = d.pop("model_type", None)
    if not model_type:
        raise ValueError("config: a stored transformers config needs its 'model_type'")
    return AutoConfig.for_model(model_type, **d)


def _clean_config_dict(cfg: Any) -> dict[str, Any]:
    d = cfg.to_dict()
    for k in ("_name_or_path", "transformers_version", "architectures", "dtype", "torch_dtype"):
        d.pop(k, None)
    return d


def tiny_configs(config: VLAConfig, vocab_size: int, vision: dict | None = None,
                 language: dict | None = None) -> tuple[dict, dict]:
    """`transformers` config dicts of the tiny preset (``vision`` / ``language`` override sizes).

    For ``config.vision_arch == "resnet"`` (built with a per-pixel LayerNorm in place of BatchNorm,
    see :func:`batchnorm_to_layernorm`) the vision overrides map onto the ResNet:
    ``hidden_size`` is the last stage's width (the first stage gets half), ``num_hidden_layers``
    the blocks per stage.
    """
    if config.vision_arch == "resnet":
        r = dict(TINY_RESNET)
        over = dict(vision or {})
        unknown = sorted(set(over) - {"hidden_size", "num_hidden_layers", "intermediate_size"})
        if unknown:
            raise ValueError(f"vision: the resnet tower takes hidden_size / num_hidden_layers, got {unknown}")
        if "hidden_size" in over:
            w = int(over["hidden_size"])
            r["hidden_sizes"] = [max(8, w // 2), w]
        if "num_hidden_layers" in over:
            r["depths"] = [int(over["num_hidden_layers"])] * 2
        v = ResNetConfig(num_channels=3, **r)
    else:
        v = SiglipVisionConfig(image_size=config.image_size, vision_use_head=False, attention_dropout=0.0,
                               **{**TINY_VISION, **(vision or {})})
    lang = {**TINY_LANGUAGE, **(language or {})}
    lm = LlamaConfig(vocab_size=vocab_size, pad_token_id=0, bos_token_id=1, eos_token_id=2,
                     tie_word_embeddings=True, attention_dropout=0.0, **lang)
    return _clean_config_dict(v), _clean_config_dict(lm)


def build_towers(config: VLAConfig) -> tuple[torch.nn.Module, PreTrainedModel]:
    """Randomly initialised vision tower and causal LM from the configs stored in ``config``."""
    vcfg = _config_from_dict(config.vision_config)
    lcfg = _config_from_dict(config.language_config)
    if getattr(vcfg, "model_type", "") == "resnet":
        vision = batchnorm_to_layernorm(AutoModel.from_config(vcfg))
    else:
        vision = AutoModel.from_config(vcfg, attn_implementation="sdpa")
    lm = AutoModelForCausalLM.from_config(lcfg, attn_implementation="sdpa")
    if lm.get_input_embeddings().num_embeddings != config.vocab_size:
        lm.resize_token_embeddings(config.vocab_size)
    return vision, lm


class ChannelLayerNorm(torch.nn.Module):
    """LayerNorm over the channels of each pixel of a ``[N, C, H, W]`` map (ConvNeXt-style)."""

    def __init__(self, channels: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(channels))
        self.bias = torch.nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.nn.functional.layer_norm(x.permute(0, 2, 3, 1), x.shape[1:2], self.weight, self.bias, self.eps)
        return y.permute(0, 3, 1, 2)


def batchnorm_to_layernorm(module: torch.nn.Module) -> torch.nn.Module:
    """Replace every ``BatchNorm2d`` by a per-pixel :class:`ChannelLayerNorm` (in place).

    Normalization per sample and per position: training does not depend on how a batch is
    split across processes or micro-batches, train / eval modes compute the same function, and
    a feature stays a function of its receptive field only.
    """
    for name, child in module.named_children():
        if isinstance(child, torch.nn.BatchNorm2d):
            setattr(module, name, ChannelLayerNorm(child.num_features))
        else:
            batchnorm_to_layernorm(child)
    return module


def vision_width(vcfg: Any) -> int:
    """Channels of the vision tower's output features (ViT ``hidden_size``, ResNet last stage)."""
    if getattr(vcfg, "hidden_sizes", None):
        return int(vcfg.hidden_sizes[-1])
    return int(vcfg.hidden_size)


def _vision_tower(model: torch.nn.Module) -> torch.nn.Module:
    """The image encoder of a vision checkpoint (``vision_model`` of a dual encoder)."""
    for name in ("vision_model", "vision_tower"):
        sub = getattr(model, name, None)
        if isinstance(sub, torch.nn.Module) and hasattr(sub, "config"):
            return sub
    return model


def _image_size(vcfg: Any) -> int:
    size = getattr(vcfg, "image_size", None)
    if isinstance(size, (list, tuple)):
        size = size[0]
    if not isinstance(size, int):
        raise ValueError(f"vision checkpoint: its config has no integer image_size ({size!r})")
    return size


def load_pretrained_towers(
    config: VLAConfig, vision_path: str, language_path: str
) -> tuple[torch.nn.Module, PreTrainedModel, PreTrainedTokenizerBase]:
    """Load local vision and language checkpoints; extend the LM vocabulary with action tokens.

    Updates ``config`` in place (text vocabulary size, image size / normalization, stored configs).
    """
    for name, p in (("vision_path", vision_path), ("language_path", language_path)):
        if not Path(p).is_dir():
            raise FileNotFoundError(f"{name}: expected a local Hugging Face checkpoint folder, got {p!r}")
    vision = _vision_tower(AutoModel.from_pretrained(vision_path, attn_implementation="sdpa"))
    lm = AutoModelForCausalLM.from_pretrained(language_path, attn_implementation="sdpa")
    tokenizer = AutoTokenizer.from_pretrained(language_path)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token if tokenizer.eos_token is not None else tokenizer.unk_token
    vcfg = vision.config
    config.image_size = _image_size(vcfg)
    pp = Path(vision_path) / "preprocessor_config.json"
    if pp.exists():
        pre = json.loads(pp.read_text())
        if "image_mean" in pre and "image_std" in pre:
            config.image_mean = tuple(float(x) for x in pre["image_mean"])
            config.image_std = tuple(float(x) for x in pre["image_std"])
    config.text_vocab_size = max(int(lm.get_input_embeddings().num_embeddings), len(tokenizer))
    lm.resize_token_embeddings(config.vocab_size)
    config.vision_config = _clean_config_dict(vcfg)
    config.language_config = _clean_config_dict(lm.config)
    config.vision_path, config.language_path = str(vision_path), str(language_path)
    return vision, lm, tokenizer
