"""Masked-diffusion decoders on synthetic models whose right answer is known."""

from __future__ import annotations

import pytest
import torch

from decoding.commit_rules import expected_factor_commits, expected_threshold_nfe
from decoding.learned_filter import load_filter, train_filter
from decoding.masked import MaskedDecodeConfig, masked_decode
from decoding.schedules import commit_counts
from decoding.synthetic import DependencyModel, OracleModel, WrongThenRightModel

V = 16
MASK = V - 1
TARGET = torch.tensor([3, 1, 4, 1, 5, 9, 2, 6])
CONF = torch.tensor([0.95, 0.5, 0.99, 0.3, 0.92, 0.6, 0.97, 0.4])
EMPTY = torch.zeros(1, 0, dtype=torch.long)


#: re-masking rules exercised on a planted early error
REMASKS = [
    {"remask": "ddvla_code"},
    {"remask": "ddvla_paper"},
    {"remask": "remdm", "remdm_schedule": "cap", "remdm_eta": 1.0},
    {"remask": "remdm", "remdm_schedule": "rescale", "remdm_eta": 1.0},
]


def decode(model, cfg, prompt=EMPTY, L=8, **kw):
    return masked_decode(model, prompt, L, MaskedDecodeConfig(**cfg), mask_id=MASK, **kw)


@pytest.mark.parametrize("kind", ["linear", "cosine"])
def test_schedule_counts_sum_and_progress(kind):
    for n0 in (1, 7, 56, 256):
        for steps in (1, 2, 4, 12, 64):
            counts = commit_counts(n0, steps, kind)
            assert sum(counts) == n0
            nonzero = [c for c in counts if c > 0]
            assert len(nonzero) == min(n0, steps)
    assert commit_counts(10, 4, "linear") == [3, 3, 2, 2]


def test_oracle_topk_takes_the_schedule_steps():
    for steps in (1, 3, 8):
        r = decode(OracleModel(TARGET, CONF, V, MASK), {"steps": steps})
        assert r.tokens[0].tolist() == TARGET.tolist()
        assert r.stats.nfe == steps
        assert r.stats.tokens_per_step[0] == commit_counts(8, steps, "cosine")
    # most confident positions are committed first
    r = decode(OracleModel(TARGET, CONF, V, MASK), {"steps": 8})
    order = r.stats.commit_step[0].argsort().tolist()
    assert order == CONF.argsort(descending=True).tolist()


def test_keep_probs_are_the_distributions_tokens_were_committed_from():
    for steps in (1, 4):
        r = decode(OracleModel(TARGET, CONF, V, MASK), {"steps": steps}, keep_probs=True)
        assert r.probs is not None and r.probs.shape == (1, 8, V)
        torch.testing.assert_close(r.probs.sum(-1), torch.ones(1, 8))
        assert r.probs[0].argmax(-1).tolist() == r.tokens[0].tolist()
        torch.testing.assert_close(r.probs[0].gather(-1, TARGET[:, None])[:, 0], CONF)  # the oracle's p(target)
        assert float(r.probs[0, :, MASK].max()) == 0.0  # the mask id is never a choice
    # a re-masked token keeps the distribution of its final commit, not of the first one
    wrong = torch.tensor([7, -1, -1, -1, -1, -1, -1, -1])
    r = decode(WrongThenRightModel(TARGET, wrong, V, MASK), {"steps": 8, **REMASKS[0]}, keep_probs=True)
    assert r.tokens[0].tolist() == TARGET.tolist()
    assert r.probs[0].argmax(-1).tolist() == TARGET.tolist()
    assert decode(OracleModel(TARGET, CONF, V, MASK), {"steps": 2}).probs is None  # off by default


@pytest.mark.parametrize("steps", [1, 2, 4, 8])
def test_deadline_commits_the_sure_ones_and_ends_within_the_steps(steps):
    for tau in (0.2, 0.9, 0.999):
        r = decode(OracleModel(TARGET, CONF, V, MASK), {"commit": "deadline", "threshold": tau, "steps": steps})
        assert r.tokens[0].tolist() == TARGET.tolist()
        first = r.stats.tokens_per_step[0][0]
        assert first == max(int((CONF >= tau).sum()), commit_counts(8, steps, "cosine")[0])
        assert r.stats.nfe <= steps
    # every proposal is sure: one pass, whatever the budget
    assert decode(OracleModel(TARGET, CONF, V, MASK), {"commit": "deadline", "threshold": 0.2, "steps": 8}).stats.nfe == 1
    # nothing is sure: exactly the schedule (top-k)
    r = decode(OracleModel(TARGET, CONF, V, MASK), {"commit": "deadline", "threshold": 1.0, "steps": steps})
    assert r.stats.tokens_per_step[0] == commit_counts(8, steps, "cosine")


@pytest.mark.parametrize("tau", [0.5, 0.9, 0.96])
def test_oracle_threshold_nfe(tau):
    r = decode(OracleModel(TARGET, CONF, V, MASK), {"commit": "threshold", "threshold": tau})
    assert r.tokens[0].tolist() == TARGET.tolist()
    assert r.stats.nfe == expected_threshold_nfe(CONF.tolist(), tau)


def test_threshold_one_is_one_token_per_step():
    r = decode(OracleModel(TARGET, CONF, V, MASK), {"commit": "threshold", "threshold": 1.0})
    assert r.stats.nfe == 8
    assert r.stats.tokens_per_step[0] == [1] * 8


@pytest.mark.parametrize("f", [0.5, 1.0, 2.0])
def test_oracle_factor_rule(f):
    r = decode(OracleModel(TARGET, CONF, V, MASK), {"commit": "factor", "factor": f})
    assert r.tokens[0].tolist() == TARGET.tolist()
    left, per_step = sorted(CONF.tolist(), reverse=True), []
    while left:
        n = expected_factor_commits(left, f)
        per_step.append(n)
        left = left[n:]
    assert r.stats.tokens_per_step[0] == per_step


def test_oracle_localleap_commits_near_anchors():
    conf = torch.tensor([0.95, 0.8, 0.75, 0.3, 0.3, 0.8, 0.3, 0.3])
    r = decode(OracleModel(TARGET, conf, V, MASK), {"commit": "localleap", "anchor_threshold": 0.9, "relaxed_threshold": 0.7, "radius": 2})
    assert r.tokens[0].tolist() == TARGET.tolist()
    # step 0: anchor 0 plus positions 1, 2 within radius 2 above 0.7; position 5 is far from anchors
    assert r.stats.tokens_per_step[0][0] == 3
    assert r.stats.commit_step[0, 5] > 0
    assert r.stats.nfe == 1 + 5


def test_oracle_ccd_commits_consistent_buffer():
    r = decode(OracleModel(TARGET, CONF, V, MASK), {"commit": "ccd", "steps": 8})
    assert r.tokens[0].tolist() == TARGET.tolist()
    # a static model is consistent across steps: after the first step the buffer commits at once
    assert r.stats.nfe < 8
    assert r.stats.tokens_per_step[0][0] == 1


def test_learned_filter_trains_and_reproduces_oracle(tmp_path):
    torch.manual_seed(0)
    B, L = 32, 24
    targets = torch.randint(0, V - 1, (B, L))
    base = torch.rand(B, L) * 0.6 + 0.35
    model = DependencyModel(targets, base, V, MASK)
    prompt = torch.zeros(B, 0, dtype=torch.long)
    tr = masked_decode(model, prompt, L, MaskedDecodeConfig(steps=L, schedule="linear"), mask_id=MASK, record_trace=True)
    filt = train_filter([tr.stats.extra["trace"]])
    path = tmp_path / "filter.json"
    filt.save(path)
    cfg = MaskedDecodeConfig(commit="learned", learned_filter=str(path), learned_threshold=0.9, steps=L, schedule="linear")
    r = masked_decode(model, prompt, L, cfg, mask_id=MASK)
    acc = (r.tokens == targets).float().mean().item()
    assert acc > 0.97
    assert r.stats.row_nfe.float().mean() < L  # commits several per step where it is safe
    # loaded filter equals the trained one
    x = torch.randn(5, 7)
    assert torch.allclose(load_filter(path)(x), filt(x), atol=1e-6)


@pytest.mark.parametrize("remask", REMASKS)
def test_remasking_corrects_confident_early_mistake(remask):
    wrong = torch.full((8,), -1)
    wrong[2] = 7  # position 2 is proposed as 7 (right: 4) with p=0.99 on the first call
    r = decode(WrongThenRightModel(TARGET, wrong, V, MASK), {"steps": 8, **remask})
    assert r.tokens[0].tolist() == TARGET.tolist()
    assert r.stats.remask_count[0, 2] >= 1
    assert r.stats.nfe == 8


def test_no_remasking_keeps_the_mistake():
    wrong = torch.full((8,), -1)
    wrong[2] = 7
    r = decode(WrongThenRightModel(TARGET, wrong, V, MASK), {"steps": 8, "remask": "none"})
    assert r.tokens[0, 2].item() == 7
    assert r.stats.remask_count.sum() == 0


ALL_CONFIGS = [
    {},
    {"steps": 4, "schedule": "linear"},
    {"score": "margin"},
    {"score": "entropy"},
    {"score": "random"},
    {"gumbel_temperature": 2.0, "temperature": 1.0},
    {"temperature": 0.8, "top_k": 3, "top_p": 0.9},
    {"commit": "threshold", "threshold": 0.2},
    {"commit": "factor", "factor": 1.5},
    {"commit": "localleap", "anchor_threshold": 0.15, "relaxed_threshold": 0.05},
    {"commit": "ccd"},
    {"commit": "ccd", "ccd_adaptive": False},
    {"remask": "ddvla_code", "temperature": 1.0},
    {"remask": "ddvla_paper", "remask_low": 0.05, "remask_high": 0.3},
    {"remask": "remdm", "remdm_schedule": "conf", "remdm_eta": 0.5, "temperature": 1.0},
    {"commit": "threshold", "threshold": 0.3, "remask": "ddvla_paper", "remask_low": 0.2, "remask_high": 0.4},
    {"block": "fixed", "block_size": 4, "steps": 6},
    {"block": "adaptive", "block_size": 5, "delimiter_ids": (2, 3), "adaptive_delta": 0.0},
]


class RandomModel:
    """Deterministic pseudo-random logits that depend on the input ids (row by row)."""

    def __init__(self, vocab: int, seed: int = 0) -> None:
        g = torch.Generator().manual_seed(seed)
        self.emb = torch.randn(vocab, 8, generator=g)
        self.out = torch.randn(8, vocab, generator=g) * 2

    def __call__(self, ids: torch.Tensor) -> torch.Tensor:
        h = self.emb[ids]
        ctx = h.cumsum(1) / torch.arange(1, ids.shape[1] + 1)[None, :, None]
        return torch.tanh(h + ctx) @ self.out


@pytest.mark.parametrize("cfg", ALL_CONFIGS, ids=[str(c) for c in ALL_CONFIGS])
def test_allowed_sets_and_mask_never_broken(cfg):
    g = torch.Generator().manual_seed(1)
    B, L = 3, 10
    allowed = torch.rand(B, L, V, generator=g) < 0.3
    allowed[..., 0] = True
    allowed[..., MASK] = True  # the mask id must still never be emitted
    prompt = torch.randint(0, V - 1, (B, 4), generator=g)
    r = masked_decode(RandomModel(V), prompt, L, MaskedDecodeConfig(**cfg), mask_id=MASK, allowed=allowed, seed=3)
    assert (r.tokens != MASK).all()
    assert allowed.gather(-1, r.tokens[..., None]).all()
    assert (r.stats.commit_step >= 0).all()


@pytest.mark.parametrize("cfg", ALL_CONFIGS, ids=[str(c) for c in ALL_CONFIGS])
def test_batch_equals_rows_one_by_one(cfg):
    g = torch.Generator().manual_seed(2)
    B, L = 3, 10
    prompt = torch.randint(0, V - 1, (B, 4), generator=g)
    model = RandomModel(V, seed=5)
    seeds = [11, 12, 13]
    batch = masked_decode(model, prompt, L, MaskedDecodeConfig(**cfg), mask_id=MASK, seed=seeds)
    for i in range(B):
        row = masked_decode(model, prompt[i : i + 1], L, MaskedDecodeConfig(**cfg), mask_id=MASK, seed=[seeds[i]])
        assert torch.equal(row.tokens[0], batch.tokens[i])
        assert row.stats.row_nfe[0] == batch.stats.row_nfe[i]


def test_rows_finish_at_different_steps():
    conf = torch.stack([torch.full((8,), 0.99), CONF])
    model = OracleModel(torch.stack([TARGET, TARGET]), conf, V, MASK)
    r = masked_decode(model, torch.zeros(2, 0, dtype=torch.long), 8, MaskedDecodeConfig(commit="threshold"), mask_id=MASK)
    assert r.stats.row_nfe.tolist() == [1, expected_threshold_nfe(CONF.tolist(), 0.9)]
    assert r.stats.nfe == max(r.stats.row_nfe.tolist())


def test_end_of_text_fills_eos_and_stops_early():
    eos = 0
    target = torch.tensor([5, 6, 0, 9, 9, 9, 9, 9])
    conf = torch.tensor([0.5, 0.5, 0.99, 0.3, 0.3, 0.3, 0.3, 0.3])
    r = decode(OracleModel(target, conf, V, MASK), {"commit": "threshold"}, eos_id=eos)
    assert r.tokens[0].tolist() == [5, 6, 0, 0, 0, 0, 0, 0]
    assert r.stats.nfe == 3  # EOS first, then positions 0 and 1 one per step


def test_adaptive_block_ends_after_delimiter():
    delim = 2
    target = torch.tensor([5, 6, delim, 7, 8, 9, 10, 11])
    conf = torch.full((8,), 0.6)
    r = decode(OracleModel(target, conf, V, MASK), {"block": "adaptive", "block_size": 6, "delimiter_ids": (delim,), "adaptive_delta": 0.5, "adaptive_window": 0.5, "steps": 8})
    assert r.tokens[0].tolist() == target.tolist()
    assert r.stats.extra["block_sizes"][0] == 3


def test_bad_config_names_the_field():
    with pytest.raises(ValueError, match="commit"):
        MaskedDecodeConfig(commit="nope")
    with pytest.raises(ValueError, match="unknown keys"):
        MaskedDecodeConfig.from_dict({"stepz": 3})
    with pytest.raises(ValueError, match="allowed"):
        masked_decode(RandomModel(V), EMPTY, 4, {}, mask_id=MASK, allowed=torch.ones(3, V, dtype=torch.bool))


def _fixed_filter():
    from decoding.learned_filter import CommitFilter

    f = CommitFilter()
    with torch.no_grad():
        f.linear.weight.zero_()
        f.linear.weight[0, 0] = 20.0  # commit when the proposal's probability is high
        f.linear.bias.fill_(-4.0)
    return f


HF_CONFIGS = [c for c in ALL_CONFIGS if "block" not in c] + [
    {"commit": "learned", "learned_filter": _fixed_filter(), "learned_threshold": 0.5, "steps": 10},
    {"block": "fixed", "block_size": 4, "steps": 6},
    {"block": "adaptive", "block_size": 5, "delimiter_ids": (2, 3), "adaptive_delta": 0.0},
    {"block": "fixed", "block_size": 3, "commit": "threshold", "threshold": 0.1},
]


@pytest.fixture(scope="module")
def tiny_llama():
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=V, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=2)
    return LlamaForCausalLM(cfg).eval()


@pytest.mark.parametrize("cfg", HF_CONFIGS, ids=[str(c) for c in HF_CONFIGS])
def test_transformers_model_same_tokens_with_and_without_cache(tiny_llama, cfg):
    from decoding.model import HFModel

    model = HFModel(tiny_llama)
    prompt = torch.randint(0, V - 1, (2, 5), generator=torch.Generator().manual_seed(4))
    out = {}
    for cache in ("none", "prefix", "dual"):
        out[cache] = masked_decode(model, prompt, 10, MaskedDecodeConfig(cache=cache, **cfg), mask_id=MASK, seed=7)
    assert out["prefix"].stats.extra["cache"] == "prefix"
    for cache in ("prefix", "dual"):
        assert torch.equal(out[cache].tokens, out["none"].tokens)
        assert out[cache].stats.nfe == out["none"].stats.nfe


@pytest.mark.parametrize("commit", [{"commit": "topk"}, {"commit": "threshold", "threshold": 0.95},
                                    {"commit": "factor", "factor": 1.0}, {"commit": "localleap"}])
@pytest.mark.parametrize("remask", REMASKS)
def test_every_commit_rule_lets_remasking_fix_a_planted_error(commit, remask):
    """The first call plants a confident wrong token (p = 0.99) that later falls to ~7e-4; under
    threshold-style rules that step commits exactly one token, which used to leave no room to re-mask."""
    wrong = torch.full((8,), -1)
    wrong[2] = 7
    r = decode(WrongThenRightModel(TARGET, wrong, V, MASK), {"steps": 8, **commit, **remask})
    assert r.tokens[0].tolist() == TARGET.tolist(), (commit, remask, r.tokens[0].tolist())
    assert r.stats.remask_count[0, 2] >= 1
