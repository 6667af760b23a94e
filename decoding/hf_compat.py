"""Small shims over the `transformers` KV-cache API, so decoders work across its versions.

transformers 5 renamed ``past_key_values`` to ``cache`` (argument and output) and made
``Cache.crop`` take the number of tokens to remove (negative); 4.x took the final length.
"""

from __future__ import annotations

import inspect
from typing import Any

import torch


def cache_kwarg(model: torch.nn.Module) -> str:
    """Name of the forward argument that takes a KV cache (``cache`` or ``past_key_values``)."""
    params = inspect.signature(model.forward).parameters
    return "cache" if "cache" in params else "past_key_values"


def output_cache(out: Any) -> Any:
    """The KV cache returned by a forward call."""
    cache = getattr(out, "cache", None)
    return cache if cache is not None else getattr(out, "past_key_values", None)


def cache_length(cache: Any) -> int:
    return int(cache.get_seq_length())


def crop_cache(cache: Any, length: int) -> None:
    """Truncate ``cache`` in place to its first ``length`` positions."""
    n_remove = cache_length(cache) - length
    if n_remove <= 0:
        return
    try:
        cache.crop(-n_remove)
    except ValueError:  # transformers 4.x: crop(max_length)
        cache.crop(length)
