"""Named masked-diffusion decoder presets: the published rules with their defaults.

Each preset is written in the plain dict form (:class:`~decoding.masked_config.MaskedDecodeConfig`
keys); ``preset(name, **overrides)`` builds the config and ``preset_decoder(name, ...)`` the
decoder's pieces (``decoding/pieces.py``). Used by the demo, the benchmarks and the VLA's
``decoder`` option.
"""

from __future__ import annotations

from typing import Any

from .masked_config import MaskedDecodeConfig, MaskedDecoder

PRESETS: dict[str, dict[str, Any]] = {
    # Discrete Diffusion VLA: 12 steps, cosine keep schedule, max-prob order
    "ddvla": {"steps": 12, "schedule": "cosine", "score": "prob"},
    "ddvla-margin": {"steps": 12, "schedule": "cosine", "score": "margin"},
    "ddvla-remask-paper": {"steps": 12, "schedule": "cosine", "remask": "ddvla_paper"},
    "ddvla-remask-code": {"steps": 12, "schedule": "cosine", "remask": "ddvla_code"},
    # MaskGIT: sampled tokens, annealed Gumbel noise on the ranking
    "maskgit": {"steps": 12, "schedule": "cosine", "temperature": 1.0, "gumbel_temperature": 4.5},
    # LLaDA: linear schedule, low-confidence remasking, one token per step by default
    "llada": {"schedule": "linear", "score": "prob", "steps": 0},
    "llada-semi-ar": {"schedule": "linear", "block": "fixed", "block_size": 8, "steps": 0},
    "entropy": {"steps": 12, "score": "entropy"},
    "random-order": {"steps": 12, "score": "random"},
    # Fast-dLLM
    "fastdllm-threshold": {"commit": "threshold", "threshold": 0.9},
    "fastdllm-factor": {"commit": "factor", "factor": 1.0},
    "fastdllm-threshold-blocks": {"commit": "threshold", "threshold": 0.9, "block": "fixed", "block_size": 32},
    "localleap": {"commit": "localleap", "anchor_threshold": 0.9, "relaxed_threshold": 0.7, "radius": 2},
    "ccd": {"commit": "ccd", "steps": 12},
    "remdm-cap": {"steps": 12, "remask": "remdm", "remdm_schedule": "cap", "remdm_eta": 0.05, "temperature": 1.0},
}


def preset(name: str, gen_len: int | None = None, **overrides: Any) -> MaskedDecodeConfig:
    """Build a preset config; ``steps: 0`` means one step per position (needs ``gen_len``)."""
    if name not in PRESETS:
        raise ValueError(f"preset: expected one of {sorted(PRESETS)}, got {name!r}")
    d = {**PRESETS[name], **overrides}
    if d.get("steps", 12) == 0:
        if gen_len is None:
            raise ValueError(f"gen_len: preset {name!r} takes one step per position and needs gen_len")
        d["steps"] = gen_len
    return MaskedDecodeConfig.from_dict(d)


def preset_decoder(name: str, gen_len: int | None = None, **overrides: Any) -> MaskedDecoder:
    """The preset as pieces, e.g. ``fastdllm-threshold`` -> ``MaskedDecoder(commit=Threshold(0.9))``."""
    return preset(name, gen_len, **overrides).decoder()
