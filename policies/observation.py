"""Observation checks and image conventions applied before a policy sees an observation.

:func:`validate_observation` raises :class:`ObservationError` naming the offending field and
what was expected (keys, dtype, shape, finiteness), so a bad observation produces a clear
error instead of a silent wrong action; the runner records the episode as errored.
:func:`apply_image_flip` applies a suite's explicit image convention (``none`` / ``rot180`` /
``hflip``) to every ``*_rgb`` image.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

#: keys the VLA policies read from the tabletop / LIBERO observations
DEFAULT_IMAGE_KEYS: tuple[str, ...] = ("agentview_rgb", "eye_in_hand_rgb")
PROPRIO_KEY = "proprio"
INSTRUCTION_KEY = "instruction"
IMAGE_FLIPS = ("none", "rot180", "hflip")


class ObservationError(ValueError):
    """An observation does not have the fields, dtypes or shapes a policy expects."""


def validate_image(name: str, img: Any) -> None:
    """An image must be a uint8 array ``[H, W, 3]`` with ``H, W > 0``."""
    if not isinstance(img, np.ndarray):
        raise ObservationError(f"observation field {name!r}: expected a numpy uint8 array [H, W, 3], got {type(img).__name__}")
    if img.dtype != np.uint8:
        raise ObservationError(f"observation field {name!r}: expected dtype uint8, got {img.dtype}")
    if img.ndim != 3 or img.shape[2] != 3 or img.shape[0] == 0 or img.shape[1] == 0:
        raise ObservationError(f"observation field {name!r}: expected shape [H, W, 3], got {list(img.shape)}")


def validate_observation(
    obs: Any,
    image_keys: Iterable[str] = DEFAULT_IMAGE_KEYS,
    proprio_dim: int | None = 8,
    require_instruction: bool = False,
) -> None:
    """Raise :class:`ObservationError` unless ``obs`` has the expected images, proprio and instruction."""
    if not isinstance(obs, dict):
        raise ObservationError(f"observation: expected a dict, got {type(obs).__name__}")
    for key in image_keys:
        if key not in obs:
            raise ObservationError(f"observation field {key!r} is missing (have {sorted(obs)})")
        validate_image(key, obs[key])
    if proprio_dim is not None:
        if PROPRIO_KEY not in obs:
            raise ObservationError(f"observation field {PROPRIO_KEY!r} is missing (have {sorted(obs)})")
        p = np.asarray(obs[PROPRIO_KEY])
        if p.dtype.kind not in "fiu":
            raise ObservationError(f"observation field 'proprio': expected a float array [{proprio_dim}], got dtype {p.dtype}")
        if p.shape != (proprio_dim,):
            raise ObservationError(f"observation field 'proprio': expected shape [{proprio_dim}], got {list(p.shape)}")
        if not np.all(np.isfinite(p)):
            raise ObservationError("observation field 'proprio': contains NaN or inf")
    if require_instruction:
        ins = obs.get(INSTRUCTION_KEY)
        if not isinstance(ins, str) or not ins.strip():
            raise ObservationError(f"observation field 'instruction': expected a non-empty str, got {ins!r}")


def flip_image(img: np.ndarray, flip: str) -> np.ndarray:
    """Apply one image convention: ``none``, ``rot180`` (``img[::-1, ::-1]``) or ``hflip``."""
    if flip == "none":
        return img
    if flip == "rot180":
        return np.ascontiguousarray(img[::-1, ::-1])
    if flip == "hflip":
        return np.ascontiguousarray(img[:, ::-1])
    raise ValueError(f"image_flip {flip!r}; expected one of {IMAGE_FLIPS}")


def apply_image_flip(obs: dict[str, Any], flip: str) -> dict[str, Any]:
    """Return a copy of ``obs`` with ``flip`` applied to every ``*_rgb`` array."""
    if flip not in IMAGE_FLIPS:
        raise ValueError(f"image_flip {flip!r}; expected one of {IMAGE_FLIPS}")
    if flip == "none":
        return obs
    out = dict(obs)
    for k, v in obs.items():
        if k.endswith("_rgb") and isinstance(v, np.ndarray) and v.ndim == 3:
            out[k] = flip_image(v, flip)
    return out
