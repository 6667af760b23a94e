"""EAD (small/large switching on rolling entropy) and AdaDec (entropy-gated look-ahead)."""

from __future__ import annotations

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from decoding.autoregressive import ar_decode
from decoding.entropy_adaptive import (
    AdaDecConfig,
    EADConfig,
    adadec_decode,
    ead_decode,
    entropy,
    fit_entropy_threshold,
)


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny models run fastest on one thread (and do not fight other processes for cores)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def tiny_llama(seed: int, layers: int = 2) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=layers,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256, pad_token_id=0)
    model = LlamaForCausalLM(cfg).eval()
    with torch.no_grad():  # spread the logits so entropies differ between steps
        model.lm_head.weight.mul_(8.0)
    return model


class TableLM:
    def __init__(self, probs: torch.Tensor) -> None:
        self.logp = torch.log(probs.clamp_min(1e-12))

    def __call__(self, ids: torch.Tensor) -> torch.Tensor:
        return self.logp[ids]


def left_pad(rows):
    width = max(len(r) for r in rows)
    ids = torch.zeros(len(rows), width, dtype=torch.long)
    mask = torch.zeros(len(rows), width, dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, width - len(r):] = torch.tensor(r)
        mask[i, width - len(r):] = 1
    return ids, mask


def test_ead_extremes_equal_single_models():
    small, large = tiny_llama(1, layers=1), tiny_llama(2, layers=3)
    ids, mask = left_pad([[5, 6, 7, 8], [9, 10], [11, 12, 13]])
    small_only = ar_decode(small, ids, 10, attention_mask=mask)
    large_only = ar_decode(large, ids, 10, attention_mask=mask)
    res = ead_decode(small, large, ids, 10, EADConfig(tau=float("inf")), attention_mask=mask)
    assert torch.equal(res.tokens, small_only.tokens)
    assert res.stats.extra["large_token_share"] == 0.0 and "large" not in res.stats.nfe_per_model
    res = ead_decode(small, large, ids, 10, EADConfig(tau=float("-inf")), attention_mask=mask)
    assert torch.equal(res.tokens, large_only.tokens)
    assert res.stats.extra["large_token_share"] == 1.0 and "small" not in res.stats.nfe_per_model


@torch.no_grad()
def test_ead_switching_rule_and_tokens():
    small, large = tiny_llama(3, layers=1), tiny_llama(4, layers=2)
    prompt = torch.randint(1, 64, (3, 4), generator=torch.Generator().manual_seed(5))
    T, window = 12, 2
    probe = ead_decode(small, large, prompt, T, EADConfig(tau=float("inf")))
    ents = []
    ids = prompt
    for t in range(T):  # entropies the small model sees along its own output
        ents.append(entropy(small(input_ids=ids).logits[:, -1]))
        ids = torch.cat([ids, probe.tokens[:, t : t + 1]], 1)
    tau = float(torch.stack(ents).median())
    res = ead_decode(small, large, prompt, T, EADConfig(tau=tau, window=window))
    share = res.stats.extra["large_token_share"]
    assert 0.0 < share < 1.0
    used = torch.tensor(res.stats.extra["used_large"])
    # replay: every token is the argmax of the model the rule picked, and the rule is as stated
    ids, hist = prompt, []
    for t in range(T):
        mean = torch.stack(hist[-window:]).mean(0) if hist else torch.zeros(3)
        assert torch.equal(used[:, t], mean > tau)
        ls = small(input_ids=ids).logits[:, -1]
        ll = large(input_ids=ids).logits[:, -1]
        logits = torch.where(used[:, t : t + 1], ll, ls)
        assert torch.equal(res.tokens[:, t], logits.argmax(-1))
        hist.append(entropy(logits))
        ids = torch.cat([ids, res.tokens[:, t : t + 1]], 1)
    n = res.stats.nfe_per_model
    assert n["small"] + n["large"] >= T and n["large"] <= T


def test_adadec_threshold_inf_is_greedy():
    model = tiny_llama(6)
    ids, mask = left_pad([[3, 4, 5], [6, 7, 8, 9, 10]])
    greedy = ar_decode(model, ids, 8, attention_mask=mask)
    res = adadec_decode(model, ids, 8, AdaDecConfig(threshold=float("inf")), attention_mask=mask)
    assert torch.equal(res.tokens, greedy.tokens)
    assert res.stats.extra["lookahead_calls"] == 0 and res.stats.nfe == greedy.stats.nfe


def test_adadec_lookahead_fixes_a_myopic_greedy_choice():
    p = torch.zeros(5, 5)
    p[0] = torch.tensor([0.0, 0.5, 0.4, 0.1, 0.0])  # greedy takes 1 ...
    p[1] = torch.tensor([0.2, 0.2, 0.2, 0.2, 0.2])  # ... and lands in a flat distribution
    p[2] = torch.tensor([0.0, 0.05, 0.05, 0.9, 0.0])
    p[3] = torch.tensor([0.0, 0.0, 0.0, 0.0, 1.0])
    p[4] = torch.tensor([0.0, 0.0, 0.0, 0.0, 1.0])
    lm = TableLM(p)
    prompt = torch.zeros(2, 1, dtype=torch.long)
    assert ar_decode(lm, prompt, 3).tokens[0, 0] == 1
    res = adadec_decode(lm, prompt, 3, AdaDecConfig(threshold=0.5, num_candidates=2, lookahead=1))
    assert res.tokens[0].tolist() == [2, 3, 4] and torch.equal(res.tokens[0], res.tokens[1])
    assert res.stats.extra["reranked"] == 2  # both rows, at step 0
    assert res.stats.extra["lookahead_steps"] == 2  # step 0 only: later steps are low-entropy
    # a threshold above the entropy at step 0 leaves greedy alone
    res = adadec_decode(lm, prompt, 3, AdaDecConfig(threshold=5.0))
    assert res.tokens[0, 0] == 1


def test_adadec_batch_equals_rows():
    model = tiny_llama(7)
    rows = [[3, 4, 5], [6, 7, 8, 9, 10], [11, 12]]
    ids, mask = left_pad(rows)
    cfg = AdaDecConfig(threshold=2.0, num_candidates=3, lookahead=2)
    batch = adadec_decode(model, ids, 6, cfg, attention_mask=mask)
    assert batch.stats.extra["lookahead_steps"] > 0
    for i, r in enumerate(rows):
        one = adadec_decode(model, torch.tensor([r]), 6, cfg)
        assert torch.equal(batch.tokens[i], one.tokens[0])


def test_fit_entropy_threshold_and_errors():
    e = torch.tensor([0.1, 0.3, 0.2, 1.5, 2.0, 1.7])
    wrong = torch.tensor([False, False, False, True, True, True])
    thr = fit_entropy_threshold(e, wrong)
    assert 0.3 <= thr < 1.5
    with pytest.raises(ValueError, match="greedy_wrong"):
        fit_entropy_threshold(e, torch.zeros(6, dtype=torch.bool))
    with pytest.raises(ValueError, match="window"):
        EADConfig(window=0)
    with pytest.raises(ValueError, match="score"):
        AdaDecConfig(score="max")


def test_ead_batch_equals_rows_with_sampling():
    small, large = tiny_llama(8, layers=1), tiny_llama(9, layers=2)
    rows = [[3, 4, 5], [6, 7, 8, 9, 10], [11, 12]]
    ids, mask = left_pad(rows)
    cfg = EADConfig(tau=3.0, window=2, temperature=0.8, top_k=20)
    batch = ead_decode(small, large, ids, 8, cfg, attention_mask=mask, seed=[5, 6, 7])
    for i, r in enumerate(rows):
        one = ead_decode(small, large, torch.tensor([r]), 8, cfg, seed=[5 + i])
        assert torch.equal(batch.tokens[i], one.tokens[0])
        assert batch.stats.extra["used_large"][i] == one.stats.extra["used_large"][0]
