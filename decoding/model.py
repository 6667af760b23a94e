"""The model contract of every decoder, and an adapter for `transformers` models.

A *model* is any callable ``ids [B, T] (long) -> logits [B, T, V]``. Models that can reuse a
prefix KV cache also implement :class:`CacheableModel`:

* ``prefill(ids, keep)`` runs the full sequence once and returns ``(logits [B, T, V], cache)``
  where ``cache`` holds the state of the first ``keep`` positions;
* ``step(tail_ids, cache)`` returns logits for ``tail_ids`` placed at positions
  ``keep, keep+1, ...`` given that cache, without changing the cache.

A masked-diffusion decoder calls ``prefill`` once per block and ``step`` on each refinement
step (Fast-dLLM prefix cache); with the *dual* cache, ``tail_ids`` is only the current block.
Models whose context is not token ids (e.g. image features) keep it inside the callable and
may be called with a zero-length prompt.

Exactness: reusing the prefix's keys and values is exact only when prefix positions never
attend to later ones (a causal LM, or the VLA's causal observation prefix). A model says so with
``exact_cache`` (default True when absent); :class:`HFModel` sets it from the `transformers`
config (``is_causal=False``, as in LLaDA-style bidirectional text models, makes it False). The
masked decoder decodes such a model without a cache unless asked for the approximate,
periodically refreshed cache (``MaskedDecodeConfig.cache_refresh``, Fast-dLLM).
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import torch

from .hf_compat import cache_kwarg, crop_cache, output_cache


@runtime_checkable
class CacheableModel(Protocol):
    """A model that can run a fixed prefix once and refine the rest against its cache."""

    def __call__(self, ids: torch.Tensor) -> torch.Tensor: ...

    def prefill(self, ids: torch.Tensor, keep: int) -> tuple[torch.Tensor, Any]: ...

    def step(self, tail_ids: torch.Tensor, cache: Any) -> torch.Tensor: ...


def supports_cache(model: object) -> bool:
    """True when ``model`` implements ``prefill`` and ``step``."""
    return callable(getattr(model, "prefill", None)) and callable(getattr(model, "step", None))


def exact_prefix_cache(model: object) -> bool:
    """Whether ``model``'s prefix cache gives exactly the full pass's logits (``exact_cache``, default True)."""
    return bool(getattr(model, "exact_cache", True))


def call_logits(model: Any, ids: torch.Tensor) -> torch.Tensor:
    """Call ``model`` and return a logits tensor, accepting objects with a ``.logits`` field."""
    out = model(ids)
    return out.logits if hasattr(out, "logits") else out


class HFModel:
    """Wraps a `transformers` model (``AutoModelForCausalLM`` or any model returning ``.logits``).

    Implements the plain call and the prefix-cache protocol with the model's own
    ``past_key_values``: ``prefill`` keeps the cache of the first ``keep`` positions (cropping
    the rest), and ``step`` runs the tail on top of it and crops the cache back afterwards, so
    the cache is unchanged. ``attention_mask`` (``[B, T]``, 1 = real token) supports left
    padding; position ids follow the mask.
    """

    def __init__(self, model: torch.nn.Module, attention_mask: torch.Tensor | None = None) -> None:
        self.model = model
        self.attention_mask = attention_mask
        self._cache_arg = cache_kwarg(model)
        #: a bidirectional model's prefix attends to the block: its cached keys / values go stale
        self.exact_cache = getattr(getattr(model, "config", None), "is_causal", True) is not False

    def _mask_and_pos(self, start: int, length: int, device: torch.device) -> tuple[Any, Any]:
        if self.attention_mask is None:
            return None, None
        am = self.attention_mask.to(device)
        total = start + length
        if am.shape[1] < total:  # generated positions beyond the mask are real tokens
            pad = torch.ones(am.shape[0], total - am.shape[1], dtype=am.dtype, device=device)
            am = torch.cat([am, pad], dim=1)
        am = am[:, :total]
        pos = (am.long().cumsum(-1) - 1).clamp(min=0)[:, start:total]
        return am, pos

    @torch.no_grad()
    def __call__(self, ids: torch.Tensor) -> torch.Tensor:
        am, pos = self._mask_and_pos(0, ids.shape[1], ids.device)
        return self.model(input_ids=ids, attention_mask=am, position_ids=pos).logits

    @torch.no_grad()
    def prefill(self, ids: torch.Tensor, keep: int) -> tuple[torch.Tensor, Any]:
        am, pos = self._mask_and_pos(0, ids.shape[1], ids.device)
        out = self.model(input_ids=ids, attention_mask=am, position_ids=pos, use_cache=True)
        cache = output_cache(out)
        crop_cache(cache, keep)
        return out.logits, (cache, keep)

    @torch.no_grad()
    def step(self, tail_ids: torch.Tensor, cache: Any) -> torch.Tensor:
        kv, keep = cache
        am, pos = self._mask_and_pos(keep, tail_ids.shape[1], tail_ids.device)
        if pos is None:
            pos = torch.arange(keep, keep + tail_ids.shape[1], device=tail_ids.device).expand(tail_ids.shape[0], -1)
        kw = {self._cache_arg: kv}
        out = self.model(input_ids=tail_ids, attention_mask=am, position_ids=pos, use_cache=True, **kw)
        crop_cache(kv, keep)
        return out.logits
