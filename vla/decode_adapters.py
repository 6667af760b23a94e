"""Adapters that expose one batch of observations to the decoders of `decoding/`.

The observation prefix (image features, proprio, instruction) is not token ids, so an adapter
holds the prefix embeddings of its batch and is decoded with a zero-length prompt:

* masked diffusion (`decoding.model.CacheableModel`): ``__call__(ids)`` runs prefix + block in
  full; ``prefill(ids, keep)`` reuses the prefix KV cache (computed once per adapter) and keeps
  the KV of the first ``keep`` block positions; ``step(tail_ids, cache)`` runs only the tail
  against that cache and leaves it unchanged.
* autoregressive (`decoding.incremental.IncrementalModel`): ``start(ids)`` runs an optional
  start token ([ACT] for actions; none for text, where the last prompt position predicts the
  first token) and ``ids`` after the cached prefix; ``extend`` appends; ``rollback`` crops.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from .model import Prefix, VLAModel, crop_cache, fork_cache


@dataclass
class BlockState:
    """Incremental state: the KV cache (prefix + block so far) and the decoder-visible length."""

    cache: Any
    length: int


class PrefixAdapter:
    """A batch of observation prefixes as a token model over the block that follows them."""

    def __init__(self, model: VLAModel, prefix: Prefix, causal: bool, start_token: int | None = None,
                 action_block: bool = False) -> None:
        self.model = model
        self.action_block = action_block  # embed through model.embed_block (action slot embeddings)
        self.prefix = prefix
        self.causal = causal
        self.start_token = start_token
        self._prefix_out: tuple[torch.Tensor, Any] | None = None
        self.prefix_passes = 0  # how many times the prefix was run (1 with the cache)

    def _prefix(self) -> tuple[torch.Tensor, Any]:
        if self._prefix_out is None:
            self._prefix_out = self.model.run_prefix(self.prefix)
            self.prefix_passes += 1
        return self._prefix_out

    def _embed(self, ids: torch.Tensor, start: int = 0) -> torch.Tensor:
        ids = ids.to(self.prefix.embeds.device)
        return self.model.embed_block(ids, start) if self.action_block else self.model.embed_tokens(ids)

    # ---------------------------------------------------------------- masked diffusion
    @torch.no_grad()
    def __call__(self, ids: torch.Tensor) -> torch.Tensor:
        """Full pass: prefix + ``ids [B, L]`` -> logits ``[B, L, V]`` (no cache)."""
        self.prefix_passes += 1
        _, h = self.model.run_full(self.prefix, self._embed(ids), causal=self.causal)
        return self.model.logits(h)

    @torch.no_grad()
    def prefill(self, ids: torch.Tensor, keep: int) -> tuple[torch.Tensor, tuple[Any, int]]:
        _, cache = self._prefix()
        cache = fork_cache(cache)
        h = self.model.run_block(self.prefix, self._embed(ids), 0, cache, self.causal)
        crop_cache(cache, self.prefix.length + keep)
        return self.model.logits(h), (cache, keep)

    @torch.no_grad()
    def step(self, tail_ids: torch.Tensor, cache: tuple[Any, int]) -> torch.Tensor:
        kv, keep = cache
        h = self.model.run_block(self.prefix, self._embed(tail_ids, keep), keep, fork_cache(kv), self.causal)
        return self.model.logits(h)

    # ---------------------------------------------------------------- autoregressive
    @torch.no_grad()
    def start(self, ids: torch.Tensor) -> tuple[torch.Tensor, BlockState]:
        hidden, cache = self._prefix()
        cache = fork_cache(cache)
        b = self.prefix.embeds.shape[0]
        block = ids.to(self.prefix.embeds.device)
        if self.start_token is not None:
            first = torch.full((b, 1), self.start_token, dtype=torch.long, device=block.device)
            block = torch.cat([first, block], dim=1)
        logits = None
        if block.shape[1] > 0:
            h = self.model.run_block(self.prefix, self._embed(block), 0, cache, causal=True)
            logits = self.model.logits(h)
        if self.start_token is None:  # the last valid prompt position predicts the first token
            last = hidden[torch.arange(b, device=hidden.device), self.prefix.n_valid - 1][:, None]
            first_logits = self.model.logits(last)
            logits = first_logits if logits is None else torch.cat([first_logits, logits], dim=1)
        return logits, BlockState(cache, int(ids.shape[1]))

    @torch.no_grad()
    def extend(self, new_ids: torch.Tensor, state: BlockState) -> tuple[torch.Tensor, BlockState]:
        offset = 1 if self.start_token is not None else 0
        at = state.length + offset
        h = self.model.run_block(self.prefix, self._embed(new_ids, at), at, state.cache, causal=True)
        return self.model.logits(h), BlockState(state.cache, state.length + int(new_ids.shape[1]))

    def rollback(self, state: BlockState, length: int) -> BlockState:
        offset = 1 if self.start_token is not None else 0
        crop_cache(state.cache, self.prefix.length + offset + length)
        return BlockState(state.cache, length)
