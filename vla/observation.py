"""Observation checks and image preprocessing shared by training and inference.

Images: uint8 ``[H, W, 3]`` upright -> resized to ``image_size`` (uint8, so training data stored
at that size and live images go through the same rounding) -> crop of ``crop_area`` of the
area (random at training, centred at evaluation) -> resized back -> normalized with the
vision tower's mean / std -> float ``[3, S, S]``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .config import VLAConfig


def validate_obs(obs: Any, config: VLAConfig) -> None:
    """Raise ``ValueError`` naming the field and the expected form when ``obs`` is malformed."""
    if not isinstance(obs, dict):
        raise ValueError(f"obs: expected a dict with keys {list(config.cameras) + ['proprio', 'instruction']}, "
                         f"got {type(obs).__name__}")
    for cam in config.cameras:
        if cam not in obs:
            raise ValueError(f"{cam}: missing; expected a uint8 image [H, W, 3]")
        img = obs[cam]
        if not isinstance(img, np.ndarray):
            raise ValueError(f"{cam}: expected a numpy uint8 array [H, W, 3], got {type(img).__name__}")
        if img.dtype != np.uint8:
            raise ValueError(f"{cam}: expected dtype uint8 with values 0..255, got {img.dtype}"
                             + (" (float images must be converted: (x * 255).round().astype(np.uint8))"
                                if np.issubdtype(img.dtype, np.floating) else ""))
        if img.ndim != 3 or img.shape[2] != 3 or img.shape[0] < 8 or img.shape[1] < 8:
            raise ValueError(f"{cam}: expected shape [H, W, 3] with H, W >= 8, got {tuple(img.shape)}")
    if "proprio" not in obs:
        raise ValueError(f"proprio: missing; expected {config.proprio_dim} finite floats")
    try:
        p = np.asarray(obs["proprio"], dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise ValueError(f"proprio: expected {config.proprio_dim} finite floats, got {obs['proprio']!r}") from e
    if p.shape != (config.proprio_dim,):
        raise ValueError(f"proprio: expected shape ({config.proprio_dim},), got {p.shape}")
    if not np.all(np.isfinite(p)):
        raise ValueError(f"proprio: expected finite values, got {p.tolist()}")
    text = obs.get("instruction")
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"instruction: expected a non-empty string, got {text!r}")


def resize_uint8(images: np.ndarray | torch.Tensor, size: int) -> torch.Tensor:
    """uint8 ``[N, H, W, 3]`` -> uint8 ``[N, 3, size, size]`` (bilinear, antialiased)."""
    x = torch.as_tensor(np.ascontiguousarray(images) if isinstance(images, np.ndarray) else images)
    x = x.permute(0, 3, 1, 2)
    if x.shape[-2:] == (size, size):
        return x.contiguous()
    y = F.interpolate(x.float(), size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return y.round().clamp(0, 255).to(torch.uint8)


def crop_normalize(images: torch.Tensor, config: VLAConfig, offsets: torch.Tensor | None = None) -> torch.Tensor:
    """uint8 ``[N, 3, S, S]`` -> normalized float ``[N, 3, S, S]``.

    ``offsets [N, 2]`` in [0, 1] place a random crop of ``crop_area`` (training); ``None`` crops
    the centre (evaluation). ``crop_area >= 1`` disables cropping.
    """
    s = config.image_size
    x = images.float() / 255.0
    if config.crop_area < 1.0:
        c = max(1, int(round(math.sqrt(config.crop_area) * s)))
        room = s - c
        if offsets is None:
            offs = [(room // 2, room // 2)] * x.shape[0]
        else:
            offs = [(int(round(float(o[0]) * room)), int(round(float(o[1]) * room))) for o in offsets]
        x = torch.stack([x[i, :, t:t + c, left:left + c] for i, (t, left) in enumerate(offs)])
        x = F.interpolate(x, size=(s, s), mode="bilinear", align_corners=False)
    mean = torch.tensor(config.image_mean).view(1, 3, 1, 1)
    std = torch.tensor(config.image_std).view(1, 3, 1, 1)
    return (x - mean) / std
