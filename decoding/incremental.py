"""Incremental (KV-cached) model protocol for left-to-right decoders, with adapters.

Autoregressive, speculative and entropy-adaptive decoders talk to a model through
:class:`IncrementalModel`:

* ``start(ids [B, T]) -> (logits [B, T', V], state)``: run the prompt; the *last* position of
  ``logits`` predicts the first new token. Models whose context is not token ids (image
  features) keep it inside and may be started with a zero-length prompt ``[B, 0]`` as long as
  they return at least one position (``T' >= 1``).
* ``extend(new_ids [B, n], state) -> (logits [B, n, V], state)``: append ``n`` tokens after the
  state's tokens; ``logits[:, j]`` predicts the token after ``new_ids[:, j]``. It may mutate
  ``state`` in place (the old object must not be used again; branch with ``select``).
* ``rollback(state, length) -> state``: keep the first ``length`` tokens (drop rejected drafts).
* ``select(state, index [B']) -> state``: a *new* state made of rows ``index`` (beam reordering,
  look-ahead branches); the given state stays valid.

Adapters: :class:`HFIncremental` (a `transformers` causal LM with its own cache and left padding
through ``attention_mask``) and :class:`CallableIncremental` (any ``ids -> logits`` callable;
re-runs the whole sequence every call, no cache). :func:`as_incremental` picks one.
"""

from __future__ import annotations

import copy
import inspect
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import torch

from decoding.model import call_logits

__all__ = [
    "IncrementalModel",
    "HFIncremental",
    "CallableIncremental",
    "as_incremental",
    "is_incremental",
]


@runtime_checkable
class IncrementalModel(Protocol):
    """A causal model that appends tokens to a state (KV cache) and can roll it back."""

    def start(self, ids: torch.Tensor) -> tuple[torch.Tensor, Any]: ...

    def extend(self, new_ids: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]: ...


def is_incremental(model: object) -> bool:
    """True when ``model`` has ``start`` and ``extend`` methods."""
    return callable(getattr(model, "start", None)) and callable(getattr(model, "extend", None))


def rollback(model: Any, state: Any, length: int) -> Any:
    """Call ``model.rollback``; a clear error when the model cannot roll back."""
    fn = getattr(model, "rollback", None)
    if fn is None:
        raise TypeError(
            f"model: {type(model).__name__} has no rollback(state, length); speculative decoding "
            "needs it to drop rejected draft tokens"
        )
    return fn(state, length)


def select(model: Any, state: Any, index: torch.Tensor) -> Any:
    """Call ``model.select``; a clear error when the model cannot reorder its batch."""
    fn = getattr(model, "select", None)
    if fn is None:
        raise TypeError(
            f"model: {type(model).__name__} has no select(state, index); beam search and look-ahead need it"
        )
    return fn(state, index)


# ----------------------------------------------------------------------------------------------
# transformers adapter


@dataclass
class HFState:
    """State of :class:`HFIncremental`: the model's cache and the attention mask so far."""

    cache: Any
    mask: torch.Tensor  # [B, length] (1 = real token, 0 = left padding)

    @property
    def length(self) -> int:
        return int(self.mask.shape[1])


def _crop_cache(cache: Any, length: int) -> None:
    """Crop a `transformers` cache to its first ``length`` positions (old and new crop APIs)."""
    current = int(cache.get_seq_length())
    if length >= current:
        return
    try:
        cache.crop(length - current)  # transformers >= 5: negative = tokens to remove
    except ValueError:
        cache.crop(length)  # older API: absolute size


def _copy_cache(cache: Any) -> Any:
    """A shallow copy whose layers can be re-indexed without touching the original."""
    new = copy.copy(cache)
    if hasattr(cache, "layers"):
        new.layers = [copy.copy(layer) for layer in cache.layers]
    elif hasattr(cache, "key_cache"):  # legacy DynamicCache
        new.key_cache = list(cache.key_cache)
        new.value_cache = list(cache.value_cache)
    return new


class HFIncremental:
    """A `transformers` causal LM as an :class:`IncrementalModel`.

    ``attention_mask`` ``[B, P]`` (1 = real, 0 = pad) describes a left-padded prompt; tokens
    appended later are real. Position ids follow the mask, so a left-padded row gives the same
    logits as the row alone.
    """

    def __init__(self, model: torch.nn.Module, attention_mask: torch.Tensor | None = None) -> None:
        self.model = model
        self.attention_mask = attention_mask
        params = inspect.signature(model.forward).parameters
        self._cache_kw = "cache" if "cache" in params else "past_key_values"

    def _forward(self, ids: torch.Tensor, mask: torch.Tensor, cache: Any) -> tuple[torch.Tensor, Any]:
        start = mask.shape[1] - ids.shape[1]
        pos = (mask.long().cumsum(-1) - 1).clamp(min=0)[:, start:]
        kwargs = {self._cache_kw: cache} if cache is not None else {}
        out = self.model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=True, **kwargs)
        new_cache = getattr(out, "cache", None)
        if new_cache is None:
            new_cache = out.past_key_values
        return out.logits, new_cache

    @torch.no_grad()
    def start(self, ids: torch.Tensor) -> tuple[torch.Tensor, HFState]:
        if ids.shape[1] == 0:
            raise ValueError("prompt_ids: a transformers model needs at least one prompt token (e.g. BOS)")
        mask = torch.ones_like(ids, dtype=torch.long)
        if self.attention_mask is not None:
            am = self.attention_mask.to(ids.device).long()
            if am.shape[0] != ids.shape[0]:
                raise ValueError(f"attention_mask: expected batch {ids.shape[0]}, got {am.shape[0]}")
            n = min(am.shape[1], ids.shape[1])
            mask[:, :n] = am[:, :n]
        logits, cache = self._forward(ids, mask, None)
        return logits, HFState(cache, mask)

    @torch.no_grad()
    def extend(self, new_ids: torch.Tensor, state: HFState) -> tuple[torch.Tensor, HFState]:
        ones = torch.ones(new_ids.shape[0], new_ids.shape[1], dtype=state.mask.dtype, device=state.mask.device)
        mask = torch.cat([state.mask, ones], dim=1)
        logits, cache = self._forward(new_ids, mask, state.cache)
        return logits, HFState(cache, mask)

    def rollback(self, state: HFState, length: int) -> HFState:
        _crop_cache(state.cache, length)
        return HFState(state.cache, state.mask[:, :length])

    def select(self, state: HFState, index: torch.Tensor) -> HFState:
        cache = _copy_cache(state.cache)
        cache.batch_select_indices(index.to(state.mask.device))
        return HFState(cache, state.mask.index_select(0, index.to(state.mask.device)))


# ----------------------------------------------------------------------------------------------
# plain callable adapter


class CallableIncremental:
    """Any callable ``ids [B, T] -> logits [B, T, V]`` as an :class:`IncrementalModel`.

    The state is the token sequence; every call re-runs the whole sequence (no cache), so the
    logits are exactly those of a full forward. Left padding is invisible to a plain callable.
    """

    def __init__(self, fn: Any) -> None:
        if not callable(fn):
            raise TypeError(f"model: expected a callable ids -> logits, got {type(fn).__name__}")
        self.fn = fn

    @torch.no_grad()
    def start(self, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if ids.shape[1] == 0:
            raise ValueError("prompt_ids: a plain callable model needs at least one prompt token")
        return call_logits(self.fn, ids), ids

    @torch.no_grad()
    def extend(self, new_ids: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        ids = torch.cat([state, new_ids.to(state.device)], dim=1)
        logits = call_logits(self.fn, ids)
        return logits[:, -new_ids.shape[1] :], ids

    def rollback(self, state: torch.Tensor, length: int) -> torch.Tensor:
        return state[:, :length]

    def select(self, state: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        return state.index_select(0, index.to(state.device))


def _is_hf_model(model: object) -> bool:
    return isinstance(model, torch.nn.Module) and hasattr(model, "config") and hasattr(model, "forward")


def as_incremental(model: Any, attention_mask: torch.Tensor | None = None) -> Any:
    """Wrap ``model`` as an :class:`IncrementalModel`.

    An object with ``start``/``extend`` is returned as is (it handles its own padding); a
    `transformers` model, or a :class:`decoding.model.HFModel`, gets :class:`HFIncremental`;
    any other callable gets :class:`CallableIncremental`.
    """
    if is_incremental(model):
        return model
    inner = getattr(model, "model", None)
    if inner is not None and _is_hf_model(inner) and not _is_hf_model(model):  # decoding.model.HFModel
        am = attention_mask if attention_mask is not None else getattr(model, "attention_mask", None)
        return HFIncremental(inner, am)
    if _is_hf_model(model):
        return HFIncremental(model, attention_mask)
    return CallableIncremental(model)
