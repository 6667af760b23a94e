"""`VLAInference`: a trained checkpoint as an observation -> action-chunk function.

``VLAInference.from_pretrained(path, decoder=None, device="cpu", seed=0)`` loads a checkpoint
folder; ``predict(obs)`` returns actions ``[H, D]`` float32 in environment units and an info
dict (``nfe``, ``latency_s``...). Observations are dicts with ``agentview_rgb`` /
``eye_in_hand_rgb`` (uint8 ``[H, W, 3]`` upright), ``proprio`` (float ``[8]``) and
``instruction`` (str). The same observation and seed give bit-identical actions, also in a
fresh process.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .checkpoint import load_checkpoint
from .config import VLAConfig
from .model import Prefix, VLAModel
from .observation import crop_normalize, resize_uint8, validate_obs
from .predict import decode_action_bins, decoder_config
from .text_tokenizer import encode_texts


class VLAInference:
    """Loaded VLA policy: preprocessing, decoding, de-normalization."""

    def __init__(self, model: VLAModel, tokenizer: Any, action_tokenizer: Any,
                 decoder: dict[str, Any] | None = None, device: str | torch.device = "cpu", seed: int = 0) -> None:
        self.model = model.to(device).eval()
        self.tokenizer = tokenizer
        self.action_tokenizer = action_tokenizer
        self.device = torch.device(device)
        self.seed = int(seed)
        self.decoder_dict = dict(decoder or {})
        self.decoder = decoder_config(model.config.head, self.decoder_dict)

    @classmethod
    def from_pretrained(cls, path: str | Path, decoder: dict[str, Any] | None = None,
                        device: str | torch.device = "cpu", seed: int = 0) -> VLAInference:
        model, tok, act = load_checkpoint(path, device)
        return cls(model, tok, act, decoder, device, seed)

    @property
    def config(self) -> VLAConfig:
        return self.model.config

    @property
    def horizon(self) -> int:
        return self.config.horizon

    @property
    def action_dim(self) -> int:
        return self.config.action_dim

    def prepare(self, observations: list[dict[str, Any]]) -> Prefix:
        """Validate and embed a list of observations into a prefix batch."""
        cfg = self.config
        for obs in observations:
            validate_obs(obs, cfg)
        cams = []
        for cam in cfg.cameras:
            imgs = torch.cat([resize_uint8(obs[cam][None], cfg.image_size) for obs in observations])
            cams.append(crop_normalize(imgs, cfg))
        pixels = torch.stack(cams, dim=1).to(self.device)
        proprio = np.stack([self.action_tokenizer.normalize_proprio(np.asarray(o["proprio"])) for o in observations])
        ids, valid = encode_texts(self.tokenizer, [o["instruction"] for o in observations], cfg.max_instruction_tokens)
        return self.model.encode_prefix(pixels, torch.tensor(proprio, dtype=torch.float32, device=self.device),
                                        ids.to(self.device), valid.to(self.device))

    @torch.no_grad()
    def predict_batch(self, observations: list[dict[str, Any]], seed: int | None = None
                      ) -> tuple[np.ndarray, dict[str, Any]]:
        """Actions ``[B, H, D]`` (env units, float32) and decode info for a list of observations."""
        if not isinstance(observations, list | tuple) or not observations:
            raise ValueError("observations: expected a non-empty list of observation dicts")
        t0 = time.perf_counter()
        base = self.seed if seed is None else int(seed)
        prefix = self.prepare(list(observations))
        out, info = decode_action_bins(self.model, prefix, self.decoder, [base] * len(observations))
        cfg = self.config
        shape = (len(observations), cfg.horizon, cfg.action_dim)
        if cfg.head == "l1":
            actions = self.action_tokenizer.denormalize(out.cpu().double().numpy().reshape(shape))
        else:
            actions = self.action_tokenizer.from_bins(out.cpu().numpy().reshape(shape))
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        info["latency_s"] = time.perf_counter() - t0
        info["head"] = cfg.head
        return actions.astype(np.float32), info

    def predict(self, obs: dict[str, Any], seed: int | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        """Actions ``[H, D]`` (env units, float32) and info (``nfe``, ``latency_s``) for one observation."""
        actions, info = self.predict_batch([obs], seed)
        return actions[0], info

    @torch.no_grad()
    def generate_text(self, obs: dict[str, Any], prompt: str, decoder: str = "ar", max_new_tokens: int = 16,
                      config: dict[str, Any] | None = None, seed: int | None = None) -> tuple[str, dict[str, Any]]:
        """Answer ``prompt`` about the observation's images with the language side of the model."""
        from .text import generate_from_prefix

        prefix = self.prepare([{**obs, "instruction": prompt}])
        texts, info = generate_from_prefix(self.model, self.tokenizer, prefix, decoder, max_new_tokens, config,
                                           self.seed if seed is None else int(seed))
        return texts[0], info
