"""Prefix / dual caches are exact where the attention pattern allows it; a bidirectional model is
decoded without a cache (with a warning) unless the approximate refreshed cache is asked for."""

from __future__ import annotations

import warnings

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from decoding.masked import MaskedDecodeConfig, masked_decode
from decoding.model import HFModel

V, MASK = 64, 63


def llama(causal: bool) -> LlamaForCausalLM:
    torch.manual_seed(0)
    kw = {} if causal else {"is_causal": False}
    cfg = LlamaConfig(vocab_size=V, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                      num_key_value_heads=2, max_position_embeddings=256, **kw)
    return LlamaForCausalLM(cfg).eval()


PROMPT = torch.randint(1, 60, (2, 12), generator=torch.Generator().manual_seed(3))


def decode(model, **cfg):
    return masked_decode(HFModel(model), PROMPT, 24, MaskedDecodeConfig(steps=8, **cfg), mask_id=MASK)


@pytest.mark.parametrize("cache", ["prefix", "dual"])
def test_bidirectional_model_is_decoded_exactly_by_default(cache: str) -> None:
    model = llama(causal=False)
    assert HFModel(model).exact_cache is False and HFModel(llama(causal=True)).exact_cache is True
    exact = decode(model, cache="none")
    with pytest.warns(UserWarning, match="bidirectional"):
        res = decode(model, cache=cache)
    assert torch.equal(res.tokens, exact.tokens)
    assert res.stats.extra["cache"] == "none"


def test_approximate_cache_is_opt_in_and_refreshes() -> None:
    model = llama(causal=False)
    exact = decode(model, cache="none")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # asked for explicitly: no warning
        every = decode(model, cache="prefix", cache_refresh=1)  # refreshed every step: a full pass each time
        stale = decode(model, cache="prefix", cache_refresh=100)  # never refreshed inside the block
    assert torch.equal(every.tokens, exact.tokens)
    assert "approximate" in stale.stats.extra["cache"]
    assert stale.stats.nfe == exact.stats.nfe


def test_causal_model_keeps_its_exact_cache_silently() -> None:
    model = llama(causal=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = decode(model, cache="prefix")
    assert res.stats.extra["cache"] == "prefix"
    assert torch.equal(res.tokens, decode(model, cache="none").tokens)
    with pytest.raises(ValueError, match="cache_refresh"):
        MaskedDecodeConfig(cache_refresh=-1)
