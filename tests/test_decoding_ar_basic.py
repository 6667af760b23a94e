"""Autoregressive decoding: greedy / sampling on synthetic and tiny `transformers` models,
KV cache vs full re-run, left padding, allowed sets, EOS, processors and stopping criteria."""

from __future__ import annotations

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

from decoding.autoregressive import ARDecodeConfig, ar_decode
from decoding.incremental import CallableIncremental, HFIncremental, as_incremental
from decoding.logits_processors import (
    NoRepeatNGramLogitsProcessor,
    RepetitionPenaltyLogitsProcessor,
    StopSequenceCriteria,
)

V = 16

@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny models run fastest on one thread (and do not fight other processes for cores)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)



class BigramLM:
    """Synthetic causal LM: logits at t depend only on ids[:, t] through a fixed table."""

    def __init__(self, vocab: int = V, seed: int = 0, scale: float = 3.0) -> None:
        g = torch.Generator().manual_seed(seed)
        self.table = torch.randn(vocab, vocab, generator=g) * scale

    def __call__(self, ids: torch.Tensor) -> torch.Tensor:
        return self.table[ids]

    def greedy_chain(self, start: int, n: int) -> list[int]:
        out, cur = [], start
        for _ in range(n):
            cur = int(self.table[cur].argmax())
            out.append(cur)
        return out


def tiny_llama(seed: int = 0, vocab: int = 64, layers: int = 2) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=vocab, hidden_size=32, intermediate_size=64, num_hidden_layers=layers,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256, pad_token_id=0)
    return LlamaForCausalLM(cfg).eval()


def left_pad(rows: list[list[int]], pad: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros(len(rows), width, dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, width - len(r):] = torch.tensor(r)
        mask[i, width - len(r):] = 1
    return ids, mask


def test_greedy_synthetic_known_chain():
    lm = BigramLM()
    prompt = torch.tensor([[3, 5], [7, 1]])
    res = ar_decode(lm, prompt, 6)
    for b in range(2):
        assert res.tokens[b].tolist() == lm.greedy_chain(int(prompt[b, -1]), 6)
    assert res.stats.nfe_per_model == {"target": 6}
    assert res.stats.row_nfe.tolist() == [6, 6]
    assert res.stats.extra["tokens_per_target_call"] == pytest.approx(1.0)


def test_greedy_kv_cache_matches_full_rerun_and_transformers_generate():
    model = tiny_llama()
    prompt = torch.randint(1, 64, (2, 7), generator=torch.Generator().manual_seed(1))
    cached = ar_decode(model, prompt, 12)
    full = ar_decode(lambda ids: model(input_ids=ids).logits, prompt, 12)
    assert torch.equal(cached.tokens, full.tokens)
    ref = model.generate(prompt, max_new_tokens=12, do_sample=False, pad_token_id=0)[:, 7:]
    assert torch.equal(cached.tokens, ref)


def test_qwen2_runs_and_left_padded_batch_equals_rows():
    torch.manual_seed(3)
    cfg = Qwen2Config(vocab_size=48, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128)
    model = Qwen2ForCausalLM(cfg).eval()
    rows = [[5, 9, 11, 2, 7], [3, 4], [8, 1, 6]]
    ids, mask = left_pad(rows)
    for config in (ARDecodeConfig(), ARDecodeConfig(strategy="sample", temperature=0.9, top_k=10, top_p=0.9)):
        batch = ar_decode(model, ids, 8, config, attention_mask=mask, seed=[11, 12, 13])
        for i, r in enumerate(rows):
            one = ar_decode(model, torch.tensor([r]), 8, config, seed=[11 + i])
            assert torch.equal(batch.tokens[i], one.tokens[0]), (config.strategy, i)


def test_sampling_top_k_one_is_greedy_and_distribution_matches():
    lm = BigramLM(seed=2, scale=1.0)
    prompt = torch.full((1, 1), 4)
    greedy = ar_decode(lm, prompt, 5)
    top1 = ar_decode(lm, prompt, 5, ARDecodeConfig(strategy="sample", top_k=1), seed=9)
    assert torch.equal(greedy.tokens, top1.tokens)
    # first sampled token over many rows follows softmax(table[4] / T)
    n, temp = 4000, 0.7
    res = ar_decode(lm, torch.full((n, 1), 4), 1, ARDecodeConfig(strategy="sample", temperature=temp), seed=0)
    freq = torch.bincount(res.tokens[:, 0], minlength=V).float() / n
    p = torch.softmax(lm.table[4] / temp, -1)
    assert (freq - p).abs().max() < 0.03
    # top-p keeps only the nucleus
    res = ar_decode(lm, torch.full((500, 1), 4), 1, ARDecodeConfig(strategy="sample", top_p=0.5), seed=0)
    sorted_p, order = torch.sort(torch.softmax(lm.table[4], -1), descending=True)
    nucleus = set(order[: int((sorted_p.cumsum(0) < 0.5).sum()) + 1].tolist())
    assert set(res.tokens[:, 0].tolist()) <= nucleus


def test_allowed_sets_are_never_broken():
    model = tiny_llama(seed=4)
    L = 6
    allowed = torch.zeros(L, 64, dtype=torch.bool)
    allowed[:, 40:48] = True  # "action bins"
    allowed[2] = False
    allowed[2, 7] = True  # a forced token
    prompt = torch.randint(1, 64, (3, 5))
    for config in (ARDecodeConfig(), ARDecodeConfig(strategy="sample", temperature=2.0), ARDecodeConfig(strategy="beam", num_beams=3)):
        toks = ar_decode(model, prompt, L, config, allowed=allowed, seed=1).tokens
        assert ((toks >= 40) & (toks < 48) | (toks == 7)).all()
        assert (toks[:, 2] == 7).all()
    per_row = allowed[None].repeat(3, 1, 1)
    per_row[1, :, :] = False
    per_row[1, :, 50] = True
    for config in (ARDecodeConfig(), ARDecodeConfig(strategy="beam", num_beams=2)):
        toks = ar_decode(model, prompt, L, config, allowed=per_row).tokens
        assert (toks[1] == 50).all() and ((toks[0] >= 40) & (toks[0] < 48) | (toks[0] == 7)).all()


def test_eos_pads_and_stops_counting():
    lm = BigramLM(seed=5)
    chain = lm.greedy_chain(2, 12)
    eos = chain[3]
    first = chain.index(eos)
    res = ar_decode(lm, torch.tensor([[2]]), 12, eos_id=eos, pad_id=15)
    assert res.tokens[0, : first + 1].tolist() == chain[: first + 1]
    assert (res.tokens[0, first + 1:] == 15).all()
    assert res.stats.nfe == first + 1


def test_processors_and_stopping_criteria():
    lm = BigramLM(seed=6)
    prompt = torch.tensor([[1]])
    plain = ar_decode(lm, prompt, 16).tokens[0].tolist()
    assert len(set(plain)) < len(plain)  # a bigram greedy chain cycles
    # stop sequence: stops right after the first occurrence of the pair plain[2:4]
    stop = ar_decode(lm, prompt, 16, stopping_criteria=[StopSequenceCriteria([plain[2:4]])])
    assert stop.tokens[0, :4].tolist() == plain[:4] and (stop.tokens[0, 4:] == 0).all()
    # no-repeat n-gram: no bigram appears twice in prompt + output
    out = ar_decode(lm, prompt, 16, logits_processors=[NoRepeatNGramLogitsProcessor(2)]).tokens[0].tolist()
    seq = [1] + out
    pairs = list(zip(seq, seq[1:]))
    assert len(pairs) == len(set(pairs))
    # repetition penalty changes the cycle; min_new_tokens forbids early EOS
    rep = ar_decode(lm, prompt, 16, ARDecodeConfig(repetition_penalty=50.0)).tokens[0].tolist()
    assert rep != plain
    eos = plain[0]
    res = ar_decode(lm, prompt, 16, ARDecodeConfig(min_new_tokens=5), eos_id=eos)
    assert eos not in res.tokens[0, :5].tolist()
    # user processors compose with built-ins
    res = ar_decode(lm, prompt, 8, logits_processors=[RepetitionPenaltyLogitsProcessor(1.0)])
    assert res.tokens[0].tolist() == plain[:8]


class ImageContextModel:
    """An incremental model whose context (a 'feature') lives inside; prompt may be [B, 0]."""

    def __init__(self, feature: torch.Tensor) -> None:
        self.lm = BigramLM(seed=7)
        self.feature = feature  # [B] starting token implied by the image
        self.inner = CallableIncremental(self.lm)

    def start(self, ids):
        ctx = torch.cat([self.feature[:, None], ids], dim=1)
        return self.inner.start(ctx)

    def extend(self, new_ids, state):
        return self.inner.extend(new_ids, state)


def test_zero_length_prompt_with_context_inside():
    model = ImageContextModel(torch.tensor([3, 9]))
    res = ar_decode(model, torch.zeros(2, 0, dtype=torch.long), 5)
    assert res.tokens[0].tolist() == model.lm.greedy_chain(3, 5)
    assert res.tokens[1].tolist() == model.lm.greedy_chain(9, 5)
    with pytest.raises(ValueError, match="prompt_ids"):
        ar_decode(tiny_llama(), torch.zeros(1, 0, dtype=torch.long), 3)


def test_adapters_and_bad_input():
    model = tiny_llama()
    assert isinstance(as_incremental(model), HFIncremental)
    assert isinstance(as_incremental(BigramLM()), CallableIncremental)
    with pytest.raises(ValueError, match="strategy"):
        ARDecodeConfig(strategy="nucleus")
    with pytest.raises(ValueError, match="num_beam_groups"):
        ARDecodeConfig(strategy="diverse_beam", num_beams=4, num_beam_groups=3)
    with pytest.raises(ValueError, match="top_p"):
        ARDecodeConfig(top_p=0.0)
    with pytest.raises(ValueError, match="prompt_ids"):
        ar_decode(model, torch.tensor([1, 2, 3]), 2)
    with pytest.raises(ValueError, match="allowed"):
        ar_decode(model, torch.tensor([[1, 2]]), 2, allowed=torch.ones(2, 64))


def test_hf_rollback_and_select_are_exact():
    model = tiny_llama(seed=8)
    inc = HFIncremental(model)
    ids = torch.randint(1, 64, (2, 6))
    _, state = inc.start(ids[:, :4])
    _, state = inc.extend(ids[:, 4:], state)
    state = inc.rollback(state, torch.tensor([5, 4]))  # per-row: row 0 keeps 5, row 1 keeps 4
    nxt = torch.tensor([[9], [9]])
    logits, _ = inc.extend(nxt, state)
    ref0 = model(input_ids=torch.cat([ids[:1, :5], nxt[:1]], 1)).logits[0, -1]
    ref1 = model(input_ids=torch.cat([ids[1:, :4], nxt[1:]], 1)).logits[0, -1]
    assert torch.allclose(logits[0, -1], ref0, atol=1e-5) and torch.allclose(logits[1, -1], ref1, atol=1e-5)
    _, state = inc.start(ids)
    branch = inc.select(state, torch.tensor([1, 1, 0]))
    lb, _ = inc.extend(torch.tensor([[3], [4], [5]]), branch)
    la, _ = inc.extend(torch.tensor([[5], [3]]), state)  # original still valid after select
    assert torch.allclose(lb[2, -1], la[0, -1], atol=1e-5) and torch.allclose(lb[0, -1], la[1, -1], atol=1e-5)
