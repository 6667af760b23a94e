"""Speculative decoding: self-draft accepts all, greedy equals greedy AR for every drafter,
batches equal rows, Leviathan sampling preserves the target distribution (chi-square)."""

from __future__ import annotations

import math

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from decoding.autoregressive import ARDecodeConfig, ar_decode
from decoding.drafters import AcceptancePredictor, ADEDDrafter, Draft, PromptLookupDrafter, SmallModelDrafter
from decoding.incremental import CallableIncremental, HFIncremental
from decoding.speculative import SpecConfig, leviathan_accept, speculative_decode


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny models run fastest on one thread (and do not fight other processes for cores)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)



class TableLM:
    """Causal LM: next-token logits are a fixed function of the previous token."""

    def __init__(self, logits: torch.Tensor) -> None:
        self.table = logits

    def __call__(self, ids: torch.Tensor) -> torch.Tensor:
        return self.table[ids]


def tiny_llama(seed: int, layers: int = 2, hidden: int = 32) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=64, hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=layers,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256, pad_token_id=0)
    return LlamaForCausalLM(cfg).eval()


class LockStep:
    """Hides per-row rollback so the lock-step path runs."""

    def __init__(self, inner):
        self.inner = inner

    def start(self, ids):
        return self.inner.start(ids)

    def extend(self, new_ids, state):
        return self.inner.extend(new_ids, state)

    def rollback(self, state, length):
        return self.inner.rollback(state, length)


def left_pad(rows: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(r) for r in rows)
    ids = torch.zeros(len(rows), width, dtype=torch.long)
    mask = torch.zeros(len(rows), width, dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, width - len(r):] = torch.tensor(r)
        mask[i, width - len(r):] = 1
    return ids, mask


def test_target_as_its_own_draft_accepts_every_token():
    g = torch.Generator().manual_seed(0)
    lm = TableLM(torch.randn(10, 10, generator=g))
    prompt = torch.randint(0, 10, (6, 3), generator=g)
    res = speculative_decode(lm, lm, prompt, 20, SpecConfig(num_draft=4, temperature=1.0), seed=3)
    assert res.stats.drafted > 0 and res.stats.accepted == res.stats.drafted
    assert res.stats.acceptance_rate == 1.0
    model = tiny_llama(0)
    prompt = torch.randint(1, 64, (2, 5), generator=g)
    res = speculative_decode(model, model, prompt, 16, SpecConfig(num_draft=5))
    assert res.stats.acceptance_rate == 1.0
    assert res.stats.nfe_per_model["target"] < 16 / 3  # ~6 tokens per target call
    assert res.stats.extra["tokens_per_target_call"] > 3.0


@pytest.mark.parametrize("drafter_kind", ["small", "lookup", "aded", "adaptive", "specdec_stop", "lockstep"])
def test_greedy_speculative_equals_greedy_ar(drafter_kind):
    target, small = tiny_llama(1, layers=3), tiny_llama(2, layers=1)
    # rows with repetition (lookup/ADED have something to find) and left padding
    rows = [[5, 6, 7, 8, 5, 6, 7], [9, 10, 9, 10], [3, 4, 5, 3, 4]]
    ids, mask = left_pad(rows)
    ref = ar_decode(target, ids, 14, attention_mask=mask)
    tgt = target
    cfg = SpecConfig(num_draft=3)
    if drafter_kind == "small":
        drafter = small
    elif drafter_kind == "lookup":
        drafter = PromptLookupDrafter(max_ngram=2)
    elif drafter_kind == "aded":
        drafter = ADEDDrafter(include_prompt=True)
    elif drafter_kind == "adaptive":
        drafter, cfg = target, SpecConfig(num_draft=1, adaptive_length=True, max_draft=7)
    elif drafter_kind == "specdec_stop":
        drafter = SmallModelDrafter(small, stop_threshold=0.6)
    else:
        tgt, drafter = LockStep(HFIncremental(target, mask)), small
    res = speculative_decode(tgt, drafter, ids, 14, cfg, attention_mask=mask)
    assert torch.equal(res.tokens, ref.tokens), drafter_kind
    assert res.stats.extra["row_mode"] == ("lockstep" if drafter_kind == "lockstep" else "per_row")
    if drafter_kind == "adaptive":  # all accepted: +2 per round up to the cap
        lengths = res.stats.extra["draft_lengths"]
        assert lengths[:3] == [1, 3, 5] and max(lengths) <= 7


def test_speculative_batch_equals_rows_and_eos():
    target, small = tiny_llama(3), tiny_llama(4, layers=1)
    rows = [[7, 8, 9, 10, 11], [12, 13], [14, 15, 16]]
    ids, mask = left_pad(rows)
    eos = int(ar_decode(target, torch.tensor([rows[0]]), 6).tokens[0, 3])  # row 0 stops at step 3
    batch = speculative_decode(target, small, ids, 10, SpecConfig(num_draft=3), attention_mask=mask, eos_id=eos, pad_id=63)
    for i, r in enumerate(rows):
        one = speculative_decode(target, small, torch.tensor([r]), 10, SpecConfig(num_draft=3), eos_id=eos, pad_id=63)
        ar = ar_decode(target, torch.tensor([r]), 10, eos_id=eos, pad_id=63)
        assert torch.equal(batch.tokens[i], one.tokens[0]) and torch.equal(one.tokens[0], ar.tokens[0])
    assert batch.tokens[0, 3] == eos and (batch.tokens[0, 4:] == 63).all()


def test_specdec_stop_drafts_less():
    target, small = tiny_llama(5), tiny_llama(6, layers=1)
    prompt = torch.randint(1, 64, (2, 5), generator=torch.Generator().manual_seed(7))
    full = speculative_decode(target, SmallModelDrafter(small), prompt, 12, SpecConfig(num_draft=6))
    stop = speculative_decode(target, SmallModelDrafter(small, stop_threshold=0.0), prompt, 12, SpecConfig(num_draft=6))
    assert torch.equal(full.tokens, stop.tokens)
    assert stop.stats.nfe_per_model["draft"] < full.stats.nfe_per_model["draft"]
    assert max(stop.stats.extra["draft_lengths"]) == 1  # h = 0: any predicted risk stops drafting


def test_leviathan_rule_acceptance_and_residual():
    p = torch.tensor([[[0.5, 0.3, 0.2], [0.2, 0.2, 0.6]]])
    q = torch.tensor([[[0.25, 0.6, 0.15]]])
    tokens = torch.tensor([[1]])
    # p/q at token 1 = 0.5: u = 0.49 accepts, u = 0.51 rejects
    n_acc, resid = leviathan_accept(p, q, tokens, torch.tensor([1]), torch.tensor([[0.49]]))
    assert n_acc.tolist() == [1]
    n_acc, resid = leviathan_accept(p, q, tokens, torch.tensor([1]), torch.tensor([[0.51]]))
    assert n_acc.tolist() == [0]
    expected = torch.tensor([0.25, 0.0, 0.05]) / 0.30  # norm(max(0, p - q))
    assert torch.allclose(resid[0, 0], expected) and torch.allclose(resid[0, 1], p[0, 1])


class FixedDrafter:
    """Deterministic drafter (q = None) that always proposes the same tokens."""

    name = "fixed"
    supports_row_rollback = True

    def reset(self, prompt_ids, attention_mask, setup):
        pass

    def propose(self, ids, lengths, valid, k, active, stats):
        toks = torch.tensor([1, 2, 3, 0])[:k].expand(ids.shape[0], -1).clone()
        return Draft(toks, torch.full((ids.shape[0],), toks.shape[1], dtype=torch.long))

    def accepted(self, num_kept):
        pass


def chi2_critical(df: int, z: float = 3.09) -> float:
    """Wilson-Hilferty approximation of the chi-square quantile (z = 3.09: alpha = 0.001)."""
    return df * (1 - 2 / (9 * df) + z * math.sqrt(2 / (9 * df))) ** 3


def joint_probs(table: torch.Tensor, start: int, steps: int, temperature: float = 1.0, top_k: int = 0) -> torch.Tensor:
    """Exact joint probability of ``steps`` sampled tokens, shape [V] * steps."""
    from decoding.sampling import process_logits

    probs = torch.softmax(process_logits(table, temperature, top_k), -1)
    joint = probs[start].clone()
    for _ in range(steps - 1):
        joint = joint.unsqueeze(-1) * probs  # [..., a, b] = joint[..., a] * p(b | a)
    return joint


def chi2_stat(tokens: torch.Tensor, expected_p: torch.Tensor, min_expected: float = 5.0) -> tuple[float, int]:
    """Pearson statistic over the cells of ``expected_p`` (cells with few expected counts
    pooled into one) and its degrees of freedom."""
    V = expected_p.shape[0]
    idx = torch.zeros(tokens.shape[0], dtype=torch.long)
    for j in range(tokens.shape[1]):
        idx = idx * V + tokens[:, j]
    counts = torch.bincount(idx, minlength=expected_p.numel()).float()
    exp = expected_p.flatten() * tokens.shape[0]
    assert counts[exp == 0].sum() == 0, "a token with zero target probability was emitted"
    big = exp >= min_expected
    c = torch.cat([counts[big], counts[~big].sum()[None]])
    e = torch.cat([exp[big], exp[~big].sum()[None]])
    keep = e > 0
    return float(((c[keep] - e[keep]) ** 2 / e[keep]).sum()), int(keep.sum()) - 1


@pytest.mark.parametrize("case", ["small_model", "lockstep", "deterministic_drafter", "top_k"])
def test_speculative_sampling_preserves_target_distribution(case):
    n, steps = 4000, 4
    target_tab = torch.tensor([[1.0, 0.2, -0.5, 0.3], [0.1, 1.2, 0.4, -1.0], [-0.3, 0.5, 0.9, 0.0], [0.6, -0.2, 0.1, 0.8]])
    draft_tab = torch.tensor([[0.1, 1.5, 0.0, -0.2], [1.0, 0.0, 0.2, 0.5], [0.4, 0.4, -0.8, 1.1], [0.0, 1.0, 0.0, 0.0]])
    target, draft = TableLM(target_tab), TableLM(draft_tab)
    prompt = torch.zeros(n, 1, dtype=torch.long)
    cfg = SpecConfig(num_draft=3, temperature=1.0, top_k=3 if case == "top_k" else 0)
    tgt = LockStep(CallableIncremental(target)) if case == "lockstep" else target
    drafter = FixedDrafter() if case == "deterministic_drafter" else draft
    res = speculative_decode(tgt, drafter, prompt, steps, cfg, seed=1000)
    assert res.stats.drafted > 0 and 0 < res.stats.acceptance_rate < 1
    # tokens 1..3 are the drafted + verified ones (token 0 comes from the first target call)
    expected = joint_probs(target_tab, 0, steps, 1.0, cfg.top_k).sum(0)
    stat, df = chi2_stat(res.tokens[:, 1:], expected)
    assert stat < chi2_critical(df), (case, stat, df)
    if case == "small_model":  # the test has power: the draft's own samples fail it
        own = ar_decode(draft, prompt, steps, ARDecodeConfig(strategy="sample"), seed=1000)
        stat, df = chi2_stat(own.tokens[:, 1:], expected)
        assert stat > chi2_critical(df)


def test_target_without_rollback_is_a_clear_error():
    class NoRollback:
        def __init__(self):
            self.inner = CallableIncremental(TableLM(torch.randn(5, 5)))

        def start(self, ids):
            return self.inner.start(ids)

        def extend(self, new_ids, state):
            return self.inner.extend(new_ids, state)

    with pytest.raises(TypeError, match="rollback"):
        speculative_decode(NoRollback(), PromptLookupDrafter(), torch.tensor([[1, 2, 1, 2]]), 6)
    with pytest.raises(ValueError, match="num_draft"):
        SpecConfig(num_draft=-1)


def test_speculative_respects_allowed_sets_and_zero_length():
    target, small = tiny_llama(8), tiny_llama(9, layers=1)
    prompt = torch.randint(1, 64, (2, 5), generator=torch.Generator().manual_seed(2))
    allowed = torch.zeros(8, 64, dtype=torch.bool)
    allowed[:, 20:30] = True
    ref = ar_decode(target, prompt, 8, allowed=allowed)
    for cfg in (SpecConfig(num_draft=3), SpecConfig(num_draft=3, temperature=1.0)):
        res = speculative_decode(target, small, prompt, 8, cfg, allowed=allowed)
        assert ((res.tokens >= 20) & (res.tokens < 30)).all()
        if cfg.temperature == 0:
            assert torch.equal(res.tokens, ref.tokens)
    empty = speculative_decode(target, small, prompt, 0)
    assert empty.tokens.shape == (2, 0) and empty.stats.nfe == 0


def test_learned_acceptance_predictor_specdec_plus_plus():
    g = torch.Generator().manual_seed(11)
    base = torch.randn(24, 24, generator=g) * 2
    target = TableLM(base)
    draft = TableLM(base + torch.randn(24, 24, generator=g) * 1.5)  # agrees with the target often
    prompt = torch.randint(0, 24, (16, 2), generator=g)
    rec = SmallModelDrafter(draft, record=True)
    speculative_decode(target, rec, prompt, 24, SpecConfig(num_draft=4))
    data = torch.cat(rec.records)
    assert data.shape[1] == 3 and 0 < data[:, 2].mean() < 1  # both labels observed
    head = AcceptancePredictor().fit(data)
    pred = head(data[:, 0], data[:, 1])
    assert pred[data[:, 2] == 1].mean() > pred[data[:, 2] == 0].mean() + 0.05
    ref = ar_decode(target, prompt, 24)
    full = speculative_decode(target, SmallModelDrafter(draft), prompt, 24, SpecConfig(num_draft=8))
    stop = speculative_decode(target, SmallModelDrafter(draft, stop_threshold=0.5, acceptance_predictor=head),
                              prompt, 24, SpecConfig(num_draft=8))
    assert torch.equal(stop.tokens, ref.tokens) and torch.equal(full.tokens, ref.tokens)
    assert stop.stats.nfe_per_model["draft"] < full.stats.nfe_per_model["draft"]
    assert stop.stats.acceptance_rate > full.stats.acceptance_rate
    with pytest.raises(ValueError, match="records"):
        AcceptancePredictor().fit(torch.zeros(5, 2))
