"""Image conventions (torch-free): ``none``, ``rot180`` (LIBERO's raw frames) or ``hflip``.

:func:`apply_image_flip` applies one to every ``*_rgb`` image of an observation. The runner
applies a suite's protocol convention before the policy; the VLA pipeline's ``image_convention``
step (:mod:`vla.transforms`) applies a checkpoint's own (``none`` unless asked).
"""

from __future__ import annotations

from typing import Any

import numpy as np

IMAGE_FLIPS = ("none", "rot180", "hflip")


def check_flip(flip: str) -> str:
    """``flip`` if it is a known convention, else a ``ValueError`` listing them."""
    if flip not in IMAGE_FLIPS:
        raise ValueError(f"image_flip {flip!r}; expected one of {IMAGE_FLIPS}")
    return flip


def flip_image(img: np.ndarray, flip: str) -> np.ndarray:
    """Apply one image convention: ``none``, ``rot180`` (``img[::-1, ::-1]``) or ``hflip``."""
    if check_flip(flip) == "none":
        return img
    if flip == "rot180":
        return np.ascontiguousarray(img[::-1, ::-1])
    return np.ascontiguousarray(img[:, ::-1])


def apply_image_flip(obs: dict[str, Any], flip: str) -> dict[str, Any]:
    """Return a copy of ``obs`` with ``flip`` applied to every ``*_rgb`` array."""
    if check_flip(flip) == "none":
        return obs
    out = dict(obs)
    for k, v in obs.items():
        if k.endswith("_rgb") and isinstance(v, np.ndarray) and v.ndim == 3:
            out[k] = flip_image(v, flip)
    return out
