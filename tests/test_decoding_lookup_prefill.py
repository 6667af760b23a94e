"""Prompt lookup takes the earliest n-gram match; the AR prefill computes logits for one position."""

from __future__ import annotations

import torch
from transformers import LlamaConfig, LlamaForCausalLM

from decoding.drafters import PromptLookupDrafter
from decoding.incremental import HFIncremental


def tiny_llama(seed: int = 0) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256, pad_token_id=0)
    return LlamaForCausalLM(cfg).eval()


def test_prompt_lookup_drafts_the_whole_loop_when_output_repeats() -> None:
    d = PromptLookupDrafter(max_ngram=3, min_ngram=1, max_draft=10)
    # looping output: the most recent match of [7, 7, 7] leaves one token after it, the earliest five
    assert d._lookup([7] * 8, 10) == [7] * 5
    # a cycle of period 4: the earliest match has the rest of the sequence after it
    seq = [1, 2, 3, 4] * 3 + [1, 2, 3]
    assert d._lookup(seq, 10) == seq[3:13]
    # ordinary text: only one earlier occurrence, same as before
    assert d._lookup([5, 6, 9, 1, 5, 6], 3) == [9, 1, 5]
    assert d._lookup([1, 2, 3], 4) == []


@torch.no_grad()
def test_prefill_keeps_only_the_last_position_logits() -> None:
    model = tiny_llama(seed=1).eval()
    ids = torch.randint(3, 64, (2, 20), generator=torch.Generator().manual_seed(0))
    logits, state = HFIncremental(model).start(ids)
    assert logits.shape == (2, 1, 64)  # not [2, 20, 64]: the LM head runs over one position
    full = model(input_ids=ids).logits
    torch.testing.assert_close(logits[:, -1], full[:, -1], atol=1e-5, rtol=0)
    nxt, _ = HFIncremental(model).extend(ids[:, :1], state)
    assert nxt.shape == (2, 1, 64)
