"""Observation checks and image conventions for policies: re-exports of the one validator.

The checks live in :mod:`vla.validation` (torch-free; the VLA pipeline's ``validate`` step uses
the same function) and the image conventions in :mod:`vla.image_flip`. :func:`validate_observation`
raises :class:`ObservationError` naming the offending field and what was expected; the runner
records the episode as errored. :func:`apply_image_flip` applies a suite's explicit image
convention (``none`` / ``rot180`` / ``hflip``) to every ``*_rgb`` image.
"""

from __future__ import annotations

from vla.image_flip import IMAGE_FLIPS, apply_image_flip, flip_image
from vla.validation import (
    DEFAULT_IMAGE_KEYS,
    INSTRUCTION_KEY,
    PROPRIO_KEY,
    ObservationError,
    validate_image,
    validate_observation,
)

__all__ = [
    "DEFAULT_IMAGE_KEYS",
    "IMAGE_FLIPS",
    "INSTRUCTION_KEY",
    "PROPRIO_KEY",
    "ObservationError",
    "apply_image_flip",
    "flip_image",
    "validate_image",
    "validate_observation",
]
