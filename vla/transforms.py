"""The VLA pipeline's input and output transforms, one named step each (:mod:`vla.pipeline`).

Inputs, in order: ``default_instruction`` (the episode's instruction where an observation has
none), ``validate`` (:func:`vla.validation.validate_observation`), ``image_convention``
(:mod:`vla.image_flip`), ``resize`` (uint8, :func:`vla.observation.resize_uint8`),
``normalize_images`` (centre crop + mean / std, :func:`vla.observation.crop_normalize`),
``normalize_proprio`` (dataset statistics), ``tokenize`` (the instruction's ids).
Outputs: ``detokenize`` (bins or l1 values -> normalized [-1, 1]), ``clip`` (to [-1, 1], the
checkpoint's normalization range), ``unnormalize`` (-> env units, float32). The model step
between them is :class:`vla.predict.ActionModel`. Clipping to an env's action space happens per
executed step in the runner (:class:`policies.chunking.ActionClipper`, which counts clips).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from .action_tokenizer import ActionTokenizer
from .config import VLAConfig
from .image_flip import apply_image_flip, check_flip
from .observation import crop_normalize, resize_uint8
from .pipeline import Batch, Step
from .text_tokenizer import encode_texts
from .validation import INSTRUCTION_KEY, PROPRIO_KEY, validate_observation


class DefaultInstruction(Step):
    """Observations without an instruction get the call's (``batch["instruction"]``, if given)."""

    name = "default_instruction"

    def __call__(self, batch: Batch) -> Batch:
        text = batch.get("instruction")
        if text is not None:
            batch["observations"] = [{**o, INSTRUCTION_KEY: text} if isinstance(o, dict) and not o.get(INSTRUCTION_KEY)
                                     else o for o in batch["observations"]]
        return batch


class ValidateObservation(Step):
    """Every observation has the cameras (uint8 ``[H, W, 3]``), proprio and a non-empty instruction."""

    name = "validate"

    def __init__(self, image_keys: tuple[str, ...], proprio_dim: int, min_image_side: int = 8) -> None:
        self.image_keys = tuple(image_keys)
        self.proprio_dim = int(proprio_dim)
        self.min_image_side = int(min_image_side)

    def params(self) -> dict[str, Any]:
        return {"image_keys": self.image_keys, "proprio_dim": self.proprio_dim, "min_image_side": self.min_image_side}

    def __call__(self, batch: Batch) -> Batch:
        for obs in batch["observations"]:
            validate_observation(obs, self.image_keys, self.proprio_dim, require_instruction=True,
                                 min_image_side=self.min_image_side)
        return batch


class ImageConvention(Step):
    """The checkpoint's image convention (``none``: images arrive upright as trained)."""

    name = "image_convention"

    def __init__(self, flip: str = "none") -> None:
        self.flip = check_flip(flip)

    def params(self) -> dict[str, Any]:
        return {"flip": self.flip}

    def __call__(self, batch: Batch) -> Batch:
        if self.flip != "none":
            batch["observations"] = [apply_image_flip(o, self.flip) for o in batch["observations"]]
        return batch


class ResizeImages(Step):
    """Each camera's images -> uint8 ``[B, 3, S, S]`` (bilinear, antialiased) in ``batch["images"]``."""

    name = "resize"

    def __init__(self, cameras: tuple[str, ...], size: int) -> None:
        self.cameras = tuple(cameras)
        self.size = int(size)

    def params(self) -> dict[str, Any]:
        return {"cameras": self.cameras, "size": self.size}

    def __call__(self, batch: Batch) -> Batch:
        obs = batch["observations"]
        batch["images"] = {cam: torch.cat([resize_uint8(o[cam][None], self.size) for o in obs]) for cam in self.cameras}
        return batch


class NormalizeImages(Step):
    """uint8 images -> centre crop, vision mean / std -> float ``batch["pixels"] [B, C, 3, S, S]``."""

    name = "normalize_images"

    def __init__(self, config: VLAConfig) -> None:
        self.config = config

    def params(self) -> dict[str, Any]:
        c = self.config
        return {"crop_area": c.crop_area, "mean": tuple(c.image_mean), "std": tuple(c.image_std)}

    def __call__(self, batch: Batch) -> Batch:
        images = batch["images"]
        batch["pixels"] = torch.stack([crop_normalize(images[cam], self.config) for cam in self.config.cameras], dim=1)
        return batch


class NormalizeProprio(Step):
    """Proprio -> zero mean / unit std with the checkpoint's statistics: float32 ``batch["proprio"] [B, P]``."""

    name = "normalize_proprio"

    def __init__(self, action_tokenizer: ActionTokenizer) -> None:
        self.action_tokenizer = action_tokenizer

    def params(self) -> dict[str, Any]:
        return {"stats": self.action_tokenizer.proprio_stats is not None}

    def __call__(self, batch: Batch) -> Batch:
        norm = self.action_tokenizer.normalize_proprio
        proprio = np.stack([norm(np.asarray(o[PROPRIO_KEY])) for o in batch["observations"]])
        batch["proprio"] = torch.tensor(proprio, dtype=torch.float32)
        return batch


class TokenizeInstruction(Step):
    """Instructions -> right-padded ids and validity mask ``[B, T]`` (``text_ids`` / ``text_valid``)."""

    name = "tokenize"

    def __init__(self, tokenizer: Any, max_tokens: int) -> None:
        self.tokenizer = tokenizer
        self.max_tokens = int(max_tokens)

    def params(self) -> dict[str, Any]:
        return {"max_tokens": self.max_tokens}

    def __call__(self, batch: Batch) -> Batch:
        texts = [o[INSTRUCTION_KEY] for o in batch["observations"]]
        batch["text_ids"], batch["text_valid"] = encode_texts(self.tokenizer, texts, self.max_tokens)
        return batch


class Detokenize(Step):
    """Model output -> normalized values float64 ``[B, H, D]`` (bin centres, fractional bins, l1 values)."""

    name = "detokenize"

    def __init__(self, action_tokenizer: ActionTokenizer, config: VLAConfig) -> None:
        self.action_tokenizer = action_tokenizer
        self.head = config.head
        self.shape = (config.horizon, config.action_dim)

    def params(self) -> dict[str, Any]:
        return {"head": self.head, "n_bins": self.action_tokenizer.n_bins, "chunk": self.shape}

    def __call__(self, batch: Batch) -> Batch:
        out = batch["tokens"].cpu()
        out = out.double() if out.is_floating_point() else out  # numpy has no bfloat16
        batch["normalized"] = self.action_tokenizer.head_values(out.numpy().reshape(out.shape[0], *self.shape), self.head)
        return batch


class ClipNormalized(Step):
    """Normalized values clipped to [-1, 1]: the range the checkpoint's statistics map back."""

    name = "clip"

    def params(self) -> dict[str, Any]:
        return {"low": -1.0, "high": 1.0}

    def __call__(self, batch: Batch) -> Batch:
        batch["normalized"] = np.clip(batch["normalized"], -1.0, 1.0)
        return batch


class Unnormalize(Step):
    """Normalized values -> env units (q01 / q99 or mean / std; binary gripper -> +-1): float32 ``batch["actions"]``."""

    name = "unnormalize"

    def __init__(self, action_tokenizer: ActionTokenizer) -> None:
        self.action_tokenizer = action_tokenizer

    def params(self) -> dict[str, Any]:
        tok = self.action_tokenizer
        return {"normalization": tok.normalization, "binary_gripper": tok.binary_gripper}

    def __call__(self, batch: Batch) -> Batch:
        batch["actions"] = self.action_tokenizer.denormalize(batch["normalized"]).astype(np.float32)
        return batch
