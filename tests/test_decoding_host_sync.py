"""GPU readiness without a GPU: the decode loops make one host-synchronising call per step (the
"is anything left?" check), counted by :class:`decoding.host_sync.HostSyncCounter` on the CPU."""

from __future__ import annotations

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from decoding.autoregressive import ARDecodeConfig, ar_decode
from decoding.host_sync import HostSyncCounter
from decoding.masked import masked_decode
from decoding.synthetic import OracleModel

V, MASK, L = 40, 39, 24


def test_the_counter_sees_syncs_and_not_the_model() -> None:
    x = torch.arange(6.0)

    def model(ids: torch.Tensor) -> torch.Tensor:
        return ids.float() * float(ids.sum())  # a sync inside the model: not the decoder's

    with HostSyncCounter() as c:
        m = c.wrap(model)
        m(torch.ones(2, 3))
        x.sum().item()
        bool((x > 2).any())
        x[x > 2] = 0
        x.tolist()
        _ = x[torch.tensor([0, 2])]  # integer indexing: no sync
        torch.where(x > 1, x, -x)  # masked select: no sync
    assert [op for op, _ in c.events] == ["item", "__bool__", "__setitem__", "tolist"]
    assert all(site.startswith("test_decoding_host_sync.py:") for _, site in c.events)


COMMITS = [dict(steps=8), dict(commit="threshold", threshold=0.7), dict(commit="factor"), dict(commit="localleap"),
           dict(commit="ccd"), dict(block="fixed", block_size=8, steps=6), dict(block="adaptive"),
           dict(steps=8, temperature=1.0, score="margin", gumbel_temperature=1.0)]
REMASKS = ["none", "ddvla_code", "ddvla_paper", "remdm"]


@pytest.mark.parametrize("remask", REMASKS)
@pytest.mark.parametrize("commit", COMMITS, ids=lambda d: "-".join(f"{k}={v}" for k, v in d.items()))
def test_masked_decode_syncs_once_per_step(commit: dict, remask: str) -> None:
    torch.manual_seed(0)
    target, conf = torch.randint(0, 30, (L,)), torch.rand(L) * 0.6 + 0.3
    target[15] = 7  # an EOS inside the canvas: end-of-text filling runs too
    with HostSyncCounter() as c:
        r = masked_decode(c.wrap(OracleModel(target, conf, V, MASK)), torch.randint(0, 30, (3, 5)), L,
                          {**commit, "remask": remask}, mask_id=MASK, eos_id=7)
    blocks = len(r.stats.extra["block_sizes"])
    loop = [e for e in c.events if e[1].startswith("masked.py")]
    # one check per refinement step plus the one that ends each block; the rest happen once
    # per call (input validation, the statistics read back after decoding)
    assert len(c.events) <= r.stats.nfe + 2 * blocks + 5, c.by_site()
    assert sum(op == "tolist" for op, _ in loop) >= r.stats.nfe  # the per-step check is there


def tiny_llama() -> LlamaForCausalLM:
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128, pad_token_id=0)
    return LlamaForCausalLM(cfg).eval()


@pytest.mark.parametrize("cfg", [ARDecodeConfig(), ARDecodeConfig(strategy="sample", temperature=1.0)],
                         ids=["greedy", "sample"])
def test_autoregressive_decode_syncs_once_per_token(cfg: ARDecodeConfig) -> None:
    prompt = torch.randint(1, 60, (3, 10))
    plain = ar_decode(tiny_llama(), prompt, 16, cfg, eos_id=7)
    with HostSyncCounter() as c:
        r = ar_decode(c.wrap(tiny_llama()), prompt, 16, cfg, eos_id=7)
    assert torch.equal(r.tokens, plain.tokens)
    assert len(c.events) <= r.stats.nfe + 2, c.by_site()


@pytest.mark.parametrize("temperature", [0.0, 1.0], ids=["greedy", "sample"])
def test_speculative_loop_reads_the_device_once_per_round(temperature: float) -> None:
    """The round's acceptance is read back in one copy; the small-model drafter and the cache
    rollback add a few reads per round (their row bookkeeping), none per draft token."""
    from decoding.speculative import SpecConfig, speculative_decode

    prompt = torch.randint(1, 60, (3, 10))
    torch.manual_seed(1)
    draft = LlamaForCausalLM(LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                                         pad_token_id=0)).eval()
    cfg = SpecConfig(num_draft=4, temperature=temperature)
    with HostSyncCounter() as c:
        r = speculative_decode(c.wrap(tiny_llama()), c.wrap(draft), prompt, 16, cfg)
    own = [e for e in c.events if e[1].startswith("speculative.py")]
    assert len(own) <= r.stats.nfe_per_model["target"] + 2, c.by_site()
    # with the drafter's and the cache rollback's reads (positions are not read back when no
    # allowed-token constraint needs them; catching up reads fed / lengths once): was ~37 per round
    assert len(c.events) <= 12 * r.stats.nfe_per_model["target"], c.by_site()
