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
* ``rollback(state, length) -> state``: keep the first ``length`` tokens (drop rejected drafts);
  lengths count the tokens given to ``start``/``extend`` (prompt padding included), not any
  context a model keeps inside. Adapters with ``supports_row_rollback = True`` also take a
  per-row ``length [B]`` and ``extend(new_ids, state, new_mask [B, n])`` (False = filler that
  is not appended), which lets the rows of a speculative batch advance independently.
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

from decoding.hf_compat import cache_kwarg, crop_cache, output_cache
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
    """A causal model that appends tokens to a state (KV cache) and can roll it back.

    ``start`` returns logits ``[B, T', V]`` whose last position is the prompt's last token
    (``T'`` may be 1: decoders read only the next-token logits of a prompt); ``extend`` returns
    logits for every new token."""

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
    """State of :class:`HFIncremental`: the model's cache, its attention mask, and which cache
    columns still belong to each row's sequence (per-row rollback leaves masked holes)."""

    cache: Any
    mask: torch.Tensor  # [B, S] long (1 = attended token, 0 = left padding / hole)
    live: torch.Tensor  # [B, S] bool (column is part of the row's token sequence, pads included)

    @property
    def lengths(self) -> torch.Tensor:
        """Tokens per row (prompt padding included), [B]."""
        return self.live.sum(1)


def _copy_cache(cache: Any) -> Any:
    """A shallow copy whose layers can be re-indexed without touching the original."""
    new = copy.copy(cache)
    if hasattr(cache, "layers"):
        new.layers = [copy.copy(layer) for layer in cache.layers]
    elif hasattr(cache, "key_cache"):  # legacy DynamicCache
        new.key_cache = list(cache.key_cache)
        new.value_cache = list(cache.value_cache)
    return new


def _as_lengths(length: int | torch.Tensor, batch: int) -> torch.Tensor:
    if isinstance(length, torch.Tensor):
        if length.shape != (batch,):
            raise ValueError(f"length: expected an int or a tensor [{batch}], got {tuple(length.shape)}")
        return length.long()
    return torch.full((batch,), int(length), dtype=torch.long)


class HFIncremental:
    """A `transformers` causal LM as an :class:`IncrementalModel`.

    ``attention_mask`` ``[B, P]`` (1 = real, 0 = pad) describes a left-padded prompt; tokens
    appended later are real. Position ids follow the mask, so a left-padded row gives the same
    logits as the row alone. Supports per-row rollback (``rollback(state, lengths [B])``): the
    dropped columns stay in the cache but are masked out, and columns dropped by every row are
    cropped; ``extend(..., new_mask)`` skips filler tokens the same way.
    """

    supports_row_rollback = True

    def __init__(self, model: torch.nn.Module, attention_mask: torch.Tensor | None = None) -> None:
        self.model = model
        self.attention_mask = attention_mask
        self._cache_kw = cache_kwarg(model)
        try:
            params = inspect.signature(inspect.unwrap(model.forward)).parameters
        except (TypeError, ValueError):
            params = {}
        self._keeps_logits = "logits_to_keep" in params

    def _forward(self, ids: torch.Tensor, mask: torch.Tensor, cache: Any, last_only: bool = False
                 ) -> tuple[torch.Tensor, Any]:
        start = mask.shape[1] - ids.shape[1]
        pos = (mask.long().cumsum(-1) - 1).clamp(min=0)[:, start:]
        kwargs = {self._cache_kw: cache} if cache is not None else {}
        if last_only and self._keeps_logits:
            kwargs["logits_to_keep"] = 1  # the LM head over one position, not the whole prompt
        out = self.model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=True, **kwargs)
        return out.logits, output_cache(out)

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
        logits, cache = self._forward(ids, mask, None, last_only=True)
        return logits, HFState(cache, mask, torch.ones_like(ids, dtype=torch.bool))

    @torch.no_grad()
    def extend(
        self, new_ids: torch.Tensor, state: HFState, new_mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, HFState]:
        live_new = (
            torch.ones(new_ids.shape, dtype=torch.bool, device=state.mask.device)
            if new_mask is None
            else new_mask.to(state.mask.device).bool()
        )
        mask = torch.cat([state.mask, live_new.to(state.mask.dtype)], dim=1)
        logits, cache = self._forward(new_ids, mask, state.cache)
        return logits, HFState(cache, mask, torch.cat([state.live, live_new], dim=1))

    def rollback(self, state: HFState, length: int | torch.Tensor) -> HFState:
        lengths = _as_lengths(length, state.mask.shape[0]).to(state.live.device)
        keep = state.live & (state.live.long().cumsum(1) <= lengths[:, None])
        cols = keep.any(0).nonzero()
        width = int(cols.max()) + 1 if cols.numel() else 0
        crop_cache(state.cache, width)
        mask = state.mask * keep.to(state.mask.dtype)
        return HFState(state.cache, mask[:, :width], keep[:, :width])

    def select(self, state: HFState, index: torch.Tensor) -> HFState:
        cache = _copy_cache(state.cache)
        idx = index.to(state.mask.device)
        cache.batch_select_indices(idx)
        return HFState(cache, state.mask.index_select(0, idx), state.live.index_select(0, idx))


# ----------------------------------------------------------------------------------------------
# plain callable adapter


class CallableIncremental:
    """Any causal callable ``ids [B, T] -> logits [B, T, V]`` as an :class:`IncrementalModel`.

    The state is ``(ids [B, S] right-padded, lengths [B])``; every call re-runs the whole
    sequence (no cache). Rows of different lengths are right-padded, which a causal model
    cannot see, so per-row rollback is exact. Left padding is invisible to a plain callable.
    """

    supports_row_rollback = True

    def __init__(self, fn: Any, pad_id: int = 0) -> None:
        if not callable(fn):
            raise TypeError(f"model: expected a callable ids -> logits, got {type(fn).__name__}")
        self.fn = fn
        self.pad_id = pad_id

    @torch.no_grad()
    def start(self, ids: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        if ids.shape[1] == 0:
            raise ValueError("prompt_ids: a plain callable model needs at least one prompt token")
        lengths = torch.full((ids.shape[0],), ids.shape[1], dtype=torch.long, device=ids.device)
        return call_logits(self.fn, ids), (ids, lengths)

    @torch.no_grad()
    def extend(
        self, new_ids: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor], new_mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        ids, lengths = state
        B, n = new_ids.shape
        new_ids = new_ids.to(ids.device)
        real = torch.ones(B, n, dtype=torch.bool, device=ids.device) if new_mask is None else new_mask.to(ids.device).bool()
        rank = real.long().cumsum(1) - 1  # index of each new token among the row's real new tokens
        new_len = lengths + real.sum(1)
        uniform = bool((lengths == lengths[0]).all()) and bool(real.all())
        if uniform:
            full = torch.cat([ids[:, : int(lengths[0])], new_ids], dim=1)
        else:
            width = int(new_len.max())
            full = torch.full((B, width), self.pad_id, dtype=ids.dtype, device=ids.device)
            for b in range(B):
                lb = int(lengths[b])
                full[b, :lb] = ids[b, :lb]
                full[b, lb : int(new_len[b])] = new_ids[b][real[b]]
        logits = call_logits(self.fn, full)
        pos = (lengths[:, None] + rank).clamp(min=0)
        pos = torch.where(rank < 0, (lengths[:, None] - 1).clamp(min=0), pos)
        out = logits.gather(1, pos[..., None].expand(-1, -1, logits.shape[-1]))
        return out, (full, new_len)

    def rollback(self, state: tuple[torch.Tensor, torch.Tensor], length: int | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        ids, lengths = state
        new_len = torch.minimum(lengths, _as_lengths(length, ids.shape[0]).to(lengths.device))
        return ids[:, : int(new_len.max()) if new_len.numel() else 0], new_len

    def select(self, state: tuple[torch.Tensor, torch.Tensor], index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        ids, lengths = state
        idx = index.to(ids.device)
        return ids.index_select(0, idx), lengths.index_select(0, idx)


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
