"""The one observation validator (torch-free): every policy checks observations here.

:func:`validate_observation` raises :class:`ObservationError` (a ``ValueError``) naming the
offending field and what was expected (keys, dtype, shape, finiteness, a non-empty
instruction), so a bad observation gives a clear error instead of a silent wrong action. Each
message has a headline and the detail, e.g. ``observation field 'proprio' must have shape [8]
(proprio: expected shape (8,), got (6,))``; ``error.field`` names the field.

Used by the VLA pipeline's ``validate`` step (:mod:`vla.transforms`) and, through the
re-exports in :mod:`policies.observation`, by every other policy.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

#: keys the VLA policies read from the tabletop / LIBERO observations
DEFAULT_IMAGE_KEYS: tuple[str, ...] = ("agentview_rgb", "eye_in_hand_rgb")
PROPRIO_KEY = "proprio"
INSTRUCTION_KEY = "instruction"
_FLOAT_HINT = "; float images must be converted: (x * 255).round().astype(np.uint8)"


class ObservationError(ValueError):
    """An observation does not have the fields, dtypes or shapes a policy expects."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def _error(field: str, headline: str, detail: str) -> ObservationError:
    return ObservationError(f"observation field {field!r} {headline} ({field}: {detail})", field)


def validate_image(name: str, img: Any, min_side: int = 1) -> None:
    """An image must be a numpy uint8 array ``[H, W, 3]`` with ``H, W >= min_side``."""
    if not isinstance(img, np.ndarray):
        raise _error(name, "must be a numpy array", f"expected a numpy uint8 array [H, W, 3], got {type(img).__name__}")
    if img.dtype != np.uint8:
        hint = _FLOAT_HINT if np.issubdtype(img.dtype, np.floating) else ""
        raise _error(name, "must have dtype uint8", f"expected dtype uint8 with values 0..255, got {img.dtype}{hint}")
    if img.ndim != 3 or img.shape[2] != 3 or min(img.shape[:2]) < max(1, min_side):
        sides = f"H, W >= {min_side}" if min_side > 1 else "H, W > 0"
        raise _error(name, "must have shape [H, W, 3]", f"expected shape [H, W, 3] with {sides}, got {tuple(img.shape)}")


def validate_proprio(p: Any, dim: int) -> None:
    """Proprio must be ``dim`` finite numbers (a numeric array of shape ``(dim,)``)."""
    try:
        arr = np.asarray(p)
    except (TypeError, ValueError) as e:
        raise _error(PROPRIO_KEY, "must be numeric", f"expected {dim} finite floats, got {p!r}") from e
    if arr.dtype.kind not in "fiu":
        raise _error(PROPRIO_KEY, "must be numeric", f"expected {dim} finite floats, got dtype {arr.dtype}")
    if arr.shape != (dim,):
        raise _error(PROPRIO_KEY, f"must have shape [{dim}]", f"expected shape ({dim},), got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise _error(PROPRIO_KEY, "contains NaN or inf", f"expected finite values, got {arr.tolist()}")


def validate_observation(
    obs: Any,
    image_keys: Iterable[str] = DEFAULT_IMAGE_KEYS,
    proprio_dim: int | None = 8,
    require_instruction: bool = False,
    min_image_side: int = 1,
) -> None:
    """Raise :class:`ObservationError` unless ``obs`` has the expected images, proprio and instruction.

    ``image_keys``: uint8 ``[H, W, 3]`` images (sides >= ``min_image_side``); ``proprio_dim``:
    the length of ``obs["proprio"]`` (None: not checked); ``require_instruction``: a non-empty str.
    """
    keys = list(image_keys)
    if not isinstance(obs, dict):
        expected = keys + ([PROPRIO_KEY] if proprio_dim is not None else []) + ([INSTRUCTION_KEY] if require_instruction else [])
        raise ObservationError(f"observation: expected a dict with keys {expected}, got {type(obs).__name__}")
    for key in keys:
        if key not in obs:
            raise _error(key, "is missing", f"missing; expected a uint8 image [H, W, 3]; have {sorted(obs)}")
        validate_image(key, obs[key], min_image_side)
    if proprio_dim is not None:
        if PROPRIO_KEY not in obs:
            raise _error(PROPRIO_KEY, "is missing", f"missing; expected {proprio_dim} finite floats; have {sorted(obs)}")
        validate_proprio(obs[PROPRIO_KEY], proprio_dim)
    if require_instruction:
        text = obs.get(INSTRUCTION_KEY)
        if not isinstance(text, str) or not text.strip():
            raise _error(INSTRUCTION_KEY, "must be a non-empty string", f"expected a non-empty string, got {text!r}")
