"""Decode action chunks for a batch of embedded observations, per head, through `decoding/`.

* ``diffusion``: :func:`decoding.masked.masked_decode` on a :class:`PrefixAdapter` with a
  zero-length prompt, ``gen_len = H * D``, action positions restricted to action-bin ids.
* ``ar``: :func:`decoding.autoregressive.ar_decode` on the adapter as an incremental model
  (prefix + [ACT] inside ``start``).
* ``l1``: one forward pass (NFE = 1).

:class:`ActionModel` is the policy pipeline's ``model`` step (:mod:`vla.pipeline`): it embeds
the transformed inputs into a prefix and decodes the action chunk with the checkpoint's decoder.
"""

from __future__ import annotations

import time
from dataclasses import fields
from typing import Any

import torch

from decoding.autoregressive import ARDecodeConfig, ar_decode
from decoding.masked import MaskedDecodeConfig, masked_decode

from .config import VLAConfig
from .decode_adapters import PrefixAdapter
from .model import Prefix, VLAModel
from .pipeline import Batch, Step
from .readout import Readout, expected_bins, split_readout


def decoder_config(head: str, decoder: dict[str, Any] | None) -> Any:
    """The decoder config object of ``head`` from a plain dict (None: defaults).

    The readout keys (:mod:`vla.readout`) are checked here and left out of the config.
    """
    d, readout = split_readout(decoder)
    if readout.needs_probs and head != "diffusion":
        raise ValueError(f"readout: {readout.kind!r} needs the diffusion head's committed distributions; "
                         f"the {head} head takes 'mode'")
    if head == "diffusion":
        return MaskedDecodeConfig.from_dict(d)
    if head == "ar":
        known = {f.name for f in fields(ARDecodeConfig)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"decoder: unknown keys {unknown} for the ar head; expected some of {sorted(known)}")
        return ARDecodeConfig(**d)
    if d:
        raise ValueError(f"decoder: the l1 head decodes in one pass and takes no decoder options, got {sorted(d)}")
    return None


def allowed_action_tokens(config: VLAConfig, device: torch.device | str = "cpu") -> torch.Tensor:
    """``[L, V]`` bool: action positions may only take action-bin ids (gripper: 2 bins if binary)."""
    allowed = torch.zeros(config.action_tokens, config.vocab_size, dtype=torch.bool, device=device)
    off = config.action_token_offset
    allowed[:, off:off + config.n_bins] = True
    if config.binary_gripper:
        grip = torch.arange(config.action_dim - 1, config.action_tokens, config.action_dim, device=device)
        allowed[grip] = False
        allowed[grip, off] = True
        allowed[grip, off + config.n_bins - 1] = True
    return allowed


@torch.no_grad()
def decode_action_bins(model: VLAModel, prefix: Prefix, decoder: Any, seed: int | list[int] = 0,
                       readout: Readout | None = None) -> tuple[torch.Tensor, dict[str, Any]]:
    """Action bins ``[B, L]`` (or normalized values for l1) and decode statistics.

    ``readout`` ``mean``: fractional bins (float) instead of the committed ones (long).
    """
    readout = readout or Readout()
    cfg = model.config
    b = prefix.embeds.shape[0]
    device = prefix.embeds.device
    empty = torch.zeros(b, 0, dtype=torch.long, device=device)
    if cfg.head == "l1":
        t0 = time.perf_counter()
        values = model.predict_l1(prefix).float().clamp(-1, 1)
        return values, {"nfe": 1, "wall_time_s": time.perf_counter() - t0, "prefix_passes": 1}
    allowed = allowed_action_tokens(cfg, device)
    if cfg.head == "diffusion":
        adapter = PrefixAdapter(model, prefix, causal=False, action_block=True)
        res = masked_decode(adapter, empty, cfg.action_tokens, decoder, mask_id=cfg.mask_token_id,
                            allowed=allowed, seed=seed, keep_probs=readout.needs_probs)
    else:
        adapter = PrefixAdapter(model, prefix, causal=True, start_token=cfg.action_start_id, action_block=True)
        res = ar_decode(adapter, empty, cfg.action_tokens, decoder, allowed=allowed, seed=seed,
                        pad_id=cfg.action_token_offset)
    info = res.stats.to_dict()
    info["prefix_passes"] = adapter.prefix_passes
    bins = res.tokens - cfg.action_token_offset
    if readout.needs_probs:
        if res.probs is None:
            raise ValueError(f"readout: {readout.kind!r} needs the diffusion head's committed distributions")
        off = cfg.action_token_offset
        keep = allowed[:, off + 1:off + cfg.n_bins - 1].sum(-1) == 0  # binary gripper: two bins only
        bins = expected_bins(res.probs[..., off:off + cfg.n_bins], bins, readout.window, keep)
    return bins, info


class ActionModel(Step):
    """The pipeline's model step: inputs -> prefix -> action bins (``batch["tokens"]``) and decode stats."""

    name = "model"

    def __init__(self, model: VLAModel, decoder: Any, device: torch.device, readout: Readout | None = None) -> None:
        self.model = model
        self.decoder = decoder
        self.device = torch.device(device)
        self.readout = readout or Readout()

    def params(self) -> dict[str, Any]:
        return {"head": self.model.config.head, "decoder": self.decoder, "readout": self.readout,
                "device": str(self.device)}

    def encode(self, batch: Batch) -> Prefix:
        """The prefix embedding of a batch the input transforms prepared."""
        return self.model.encode_prefix(batch["pixels"].to(self.device), batch["proprio"].to(self.device),
                                        batch["text_ids"].to(self.device), batch["text_valid"].to(self.device))

    @torch.no_grad()
    def __call__(self, batch: Batch) -> Batch:
        prefix = self.encode(batch)
        seeds = [batch["seed"]] * prefix.embeds.shape[0]
        batch["tokens"], info = decode_action_bins(self.model, prefix, self.decoder, seeds, self.readout)
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        batch["info"].update(info, head=self.model.config.head)
        return batch
