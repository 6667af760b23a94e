"""`VLAInference`: a trained checkpoint as an observation -> action-chunk function.

``VLAInference.from_pretrained(path, decoder=None, device="cpu", seed=0)`` loads a checkpoint
folder (decoder None: the folder's ``decoder.json`` if it has one); ``predict(obs)`` returns
actions ``[H, D]`` float32 in environment units and an info dict (``nfe``, ``latency_s``...).
Observations are dicts with ``agentview_rgb`` / ``eye_in_hand_rgb`` (uint8 ``[H, W, 3]``
upright), ``proprio`` (float ``[8]``) and ``instruction`` (str). The same observation and seed
give bit-identical actions, also in a fresh process. Every step between observation and actions
is a named object of ``self.pipeline`` (:meth:`VLAInference.build_pipeline`;
``print(inference.pipeline)`` lists them).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from .checkpoint import load_checkpoint, load_default_decoder
from .config import VLAConfig
from .model import Prefix, VLAModel
from .pipeline import PolicyPipeline
from .predict import ActionModel, decoder_config
from .readout import split_readout
from .transforms import (
    ClipNormalized,
    DefaultInstruction,
    Detokenize,
    ImageConvention,
    NormalizeImages,
    NormalizeProprio,
    ResizeImages,
    TokenizeInstruction,
    Unnormalize,
    ValidateObservation,
)


class VLAInference:
    """Loaded VLA checkpoint; ``pipeline`` runs it (validate ... model ... unnormalize, :mod:`vla.pipeline`)."""

    def __init__(self, model: VLAModel, tokenizer: Any, action_tokenizer: Any,
                 decoder: dict[str, Any] | None = None, device: str | torch.device = "cpu", seed: int = 0) -> None:
        self.model = model.to(device).eval()
        self.tokenizer = tokenizer
        self.action_tokenizer = action_tokenizer
        self.device = torch.device(device)
        self.seed = int(seed)
        self.decoder_dict = dict(decoder or {})
        self.decoder = decoder_config(model.config.head, self.decoder_dict)
        self.pipeline = self.build_pipeline()

    @classmethod
    def from_pretrained(cls, path: str | Path, decoder: dict[str, Any] | None = None,
                        device: str | torch.device = "cpu", seed: int = 0) -> VLAInference:
        """Load ``path``; ``decoder`` None takes the checkpoint's ``decoder.json`` (if any), else the head's default."""
        model, tok, act = load_checkpoint(path, device)
        if decoder is None:
            decoder = load_default_decoder(path)
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

    def build_pipeline(self, image_flip: str = "none", image_keys: tuple[str, ...] = ()) -> PolicyPipeline:
        """This checkpoint as a :class:`~vla.pipeline.PolicyPipeline` (shares the loaded model).

        ``image_flip``: the image convention of the observations it will get (``none``: upright);
        ``image_keys``: images validated besides the model's cameras.
        """
        cfg = self.config
        tok = self.action_tokenizer
        return PolicyPipeline(
            inputs=[
                DefaultInstruction(),
                ValidateObservation(tuple(dict.fromkeys([*cfg.cameras, *image_keys])), cfg.proprio_dim),
                ImageConvention(image_flip),
                ResizeImages(cfg.cameras, cfg.image_size),
                NormalizeImages(cfg),
                NormalizeProprio(tok),
                TokenizeInstruction(self.tokenizer, cfg.max_instruction_tokens),
            ],
            model=ActionModel(self.model, self.decoder, self.device, split_readout(self.decoder_dict)[1]),
            outputs=[Detokenize(tok, cfg), ClipNormalized(), Unnormalize(tok)],
            seed=self.seed,
        )

    def prepare(self, observations: list[dict[str, Any]]) -> Prefix:
        """Validate and embed a list of observations into a prefix batch (the pipeline's inputs + encode)."""
        return self.pipeline.model.encode(self.pipeline.prepare(observations))

    def predict_batch(self, observations: list[dict[str, Any]], seed: int | None = None
                      ) -> tuple[np.ndarray, dict[str, Any]]:
        """Actions ``[B, H, D]`` (env units, float32) and info (decode stats, ``latency_s``, ``timing_s``)."""
        out = self.pipeline.run_batch(observations, seed)
        return out.actions, {**out.info, "timing_s": out.timing}

    def predict(self, obs: dict[str, Any], seed: int | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        """Actions ``[H, D]`` (env units, float32) and info (``nfe``, ``latency_s``, ``timing_s``) for one observation."""
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
