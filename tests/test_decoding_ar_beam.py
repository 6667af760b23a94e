"""Beam search and diverse beam search: width 1 equals greedy, a known better-than-greedy
answer, equality with `transformers` beam search, and distinct beams under diversity."""

from __future__ import annotations

import math

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from decoding.autoregressive import ARDecodeConfig, ar_decode


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny models run fastest on one thread (and do not fight other processes for cores)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)



class TableLM:
    """Causal LM with next-token log-probabilities given by the previous token."""

    def __init__(self, probs: torch.Tensor) -> None:
        self.logp = torch.log(probs.clamp_min(1e-12))

    def __call__(self, ids: torch.Tensor) -> torch.Tensor:
        return self.logp[ids]


def tiny_llama(seed: int = 0) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256, pad_token_id=0)
    return LlamaForCausalLM(cfg).eval()


def myopic_table() -> torch.Tensor:
    # from 0: 1 (0.5) looks best, but 1 is followed by a flat distribution (max 0.25),
    # while 2 (0.4) is followed by 3 with 0.9: best two-token path is 2,3 (0.36 > 0.125).
    p = torch.full((5, 5), 0.0)
    p[0] = torch.tensor([0.0, 0.5, 0.4, 0.1, 0.0])
    p[1] = torch.tensor([0.2, 0.2, 0.2, 0.2, 0.2])
    p[2] = torch.tensor([0.0, 0.05, 0.05, 0.9, 0.0])
    p[3] = torch.tensor([0.0, 0.0, 0.0, 0.0, 1.0])
    p[4] = torch.tensor([0.0, 0.0, 0.0, 0.0, 1.0])
    return p


def test_beam_finds_the_known_better_path_than_greedy():
    lm = TableLM(myopic_table())
    prompt = torch.zeros(1, 1, dtype=torch.long)
    greedy = ar_decode(lm, prompt, 2)
    assert greedy.tokens[0].tolist()[0] == 1
    beam = ar_decode(lm, prompt, 2, ARDecodeConfig(strategy="beam", num_beams=2, length_penalty=0.0))
    assert beam.tokens[0].tolist() == [2, 3]
    assert math.isclose(float(beam.sequence_scores[0, 0]), math.log(0.36), rel_tol=1e-4)
    assert beam.sequences.shape == (1, 2, 2)


def test_beam_width_one_equals_greedy():
    g = torch.Generator().manual_seed(0)
    lm = TableLM(torch.softmax(torch.randn(12, 12, generator=g) * 2, -1))
    prompt = torch.tensor([[3], [5], [8]])
    for eos in (None, 4):
        greedy = ar_decode(lm, prompt, 10, eos_id=eos)
        beam = ar_decode(lm, prompt, 10, ARDecodeConfig(strategy="beam", num_beams=1), eos_id=eos)
        assert torch.equal(greedy.tokens, beam.tokens)
    model = tiny_llama()
    prompt = torch.randint(1, 64, (2, 5), generator=g)
    assert torch.equal(ar_decode(model, prompt, 8).tokens,
                       ar_decode(model, prompt, 8, ARDecodeConfig(strategy="beam", num_beams=1)).tokens)


def test_beam_matches_transformers_beam_search():
    model = tiny_llama(seed=2)
    prompt = torch.randint(1, 64, (2, 6), generator=torch.Generator().manual_seed(3))
    for eos in (None, 17):
        ref = model.generate(prompt, max_new_tokens=8, do_sample=False, num_beams=3, pad_token_id=0,
                             eos_token_id=eos, length_penalty=1.0, early_stopping=False)[:, 6:]
        ours = ar_decode(model, prompt, 8, ARDecodeConfig(strategy="beam", num_beams=3), eos_id=eos).tokens
        assert torch.equal(ours[:, : ref.shape[1]], ref), eos


def test_diverse_beam_search_returns_distinct_beams():
    model = tiny_llama(seed=5)
    prompt = torch.randint(1, 64, (2, 5), generator=torch.Generator().manual_seed(4))
    # groups of one beam without penalty are all greedy: identical sequences
    same = ar_decode(model, prompt, 6, ARDecodeConfig(strategy="diverse_beam", num_beams=3, num_beam_groups=3))
    for b in range(2):
        assert len({tuple(s) for s in same.sequences[b].tolist()}) == 1
    # the Hamming diversity penalty makes them distinct, also at the first token
    div = ar_decode(model, prompt, 6, ARDecodeConfig(strategy="diverse_beam", num_beams=4, num_beam_groups=4,
                                                     diversity_penalty=5.0))
    for b in range(2):
        seqs = [tuple(s) for s in div.sequences[b].tolist()]
        assert len(set(seqs)) == 4
        assert len({s[0] for s in seqs}) == 4
    # groups of two beams: still distinct, scores sorted best first
    div2 = ar_decode(model, prompt, 6, ARDecodeConfig(strategy="diverse_beam", num_beams=4, num_beam_groups=2,
                                                      diversity_penalty=1.0))
    for b in range(2):
        assert len({tuple(s) for s in div2.sequences[b].tolist()}) == 4
        scores = div2.sequence_scores[b]
        assert torch.all(scores[:-1] >= scores[1:])
    plain = ar_decode(model, prompt, 6, ARDecodeConfig(strategy="beam", num_beams=4))
    for b in range(2):
        assert len({tuple(s) for s in plain.sequences[b].tolist()}) == 4


def test_beam_left_padded_batch_equals_rows():
    model = tiny_llama(seed=6)
    rows = [[5, 9, 11, 2, 7], [3, 4], [8, 1, 6]]
    width = max(len(r) for r in rows)
    ids = torch.zeros(3, width, dtype=torch.long)
    mask = torch.zeros(3, width, dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, width - len(r):] = torch.tensor(r)
        mask[i, width - len(r):] = 1
    for cfg in (ARDecodeConfig(strategy="beam", num_beams=3),
                ARDecodeConfig(strategy="diverse_beam", num_beams=4, num_beam_groups=2, diversity_penalty=1.0)):
        batch = ar_decode(model, ids, 6, cfg, attention_mask=mask, eos_id=30)
        for i, r in enumerate(rows):
            one = ar_decode(model, torch.tensor([r]), 6, cfg, eos_id=30)
            assert torch.equal(batch.sequences[i], one.sequences[0]), (cfg.strategy, i)
