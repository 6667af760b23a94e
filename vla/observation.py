"""Image preprocessing shared by training and inference (the pipeline's ``resize`` / ``normalize_images``).

Images: uint8 ``[H, W, 3]`` upright -> resized to ``image_size`` (uint8, so training data stored
at that size and live images go through the same rounding) -> crop of ``crop_area`` of the
area (random at training, centred at evaluation) -> resized back -> normalized with the
vision tower's mean / std -> float ``[3, S, S]``. Observations are validated in one place,
:mod:`vla.validation`.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from .config import VLAConfig


def resize_uint8(images: np.ndarray | torch.Tensor, size: int) -> torch.Tensor:
    """uint8 ``[N, H, W, 3]`` -> uint8 ``[N, 3, size, size]`` (bilinear, antialiased)."""
    if isinstance(images, np.ndarray):  # a read-only frame (e.g. decoded from the wire) is copied
        images = np.ascontiguousarray(images) if images.flags.writeable else np.array(images, order="C")
    x = torch.as_tensor(images)
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
