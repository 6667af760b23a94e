"""Masked-diffusion decoders built from piece objects: the dict form round-trips, pieces decode as named."""

from __future__ import annotations

import json
from dataclasses import fields

import pytest
import torch

from decoding.masked import MaskedDecodeConfig, MaskedDecoder, masked_decode
from decoding.pieces import (
    CCD,
    PIECES,
    AdaptiveBlocks,
    Cosine,
    DDVLAPaper,
    EntropyScore,
    Factor,
    FixedBlocks,
    Linear,
    LocalLeap,
    MarginScore,
    NoCache,
    ReMDM,
    Sampling,
    Threshold,
    TopK,
)
from decoding.presets import PRESETS, preset, preset_decoder
from decoding.synthetic import DependencyModel

V, L = 16, 12
MASK = V - 1

#: decoders written as pieces, and the same decoders written in the flat dict form
PAIRS = [
    (MaskedDecoder(), {}),
    (MaskedDecoder(schedule=Linear(6), commit=Threshold(0.4)), {"steps": 6, "schedule": "linear", "commit": "threshold",
                                                                 "threshold": 0.4}),
    (MaskedDecoder(commit=Factor(2.0), block=FixedBlocks(4)), {"commit": "factor", "factor": 2.0, "block": "fixed",
                                                               "block_size": 4}),
    (MaskedDecoder(score=MarginScore(gumbel_temperature=2.0), sampling=Sampling(temperature=1.0, top_k=4),
                   remask=ReMDM(schedule="rescale", eta=0.5)),
     {"score": "margin", "gumbel_temperature": 2.0, "temperature": 1.0, "top_k": 4, "remask": "remdm",
      "remdm_schedule": "rescale", "remdm_eta": 0.5}),
    (MaskedDecoder(schedule=Cosine(8), commit=LocalLeap(0.5, 0.2, 1), remask=DDVLAPaper(low=0.2, high=0.6)),
     {"steps": 8, "commit": "localleap", "anchor_threshold": 0.5, "relaxed_threshold": 0.2, "radius": 1,
      "remask": "ddvla_paper", "remask_low": 0.2, "remask_high": 0.6}),
    (MaskedDecoder(score=EntropyScore(), commit=CCD(adaptive=False, buffer=3), cache=NoCache()),
     {"score": "entropy", "commit": "ccd", "ccd_adaptive": False, "ccd_buffer": 3, "cache": "none"}),
    (MaskedDecoder(block=AdaptiveBlocks(size=4, delimiter_ids=(3,), delta=0.1)),
     {"block": "adaptive", "block_size": 4, "delimiter_ids": [3], "adaptive_delta": 0.1}),
]


@pytest.mark.parametrize("decoder,flat", PAIRS)
def test_pieces_and_flat_form_are_the_same_decoder(decoder, flat):
    assert MaskedDecodeConfig.from_dict(flat).decoder() == decoder
    d = decoder.to_dict()
    assert json.loads(json.dumps(d)) == d, "the dict form is plain JSON"
    assert MaskedDecoder.from_dict(d) == decoder
    assert MaskedDecodeConfig.from_dict(d).decoder() == decoder
    assert {k: v for k, v in d.items() if k in flat} == flat
    targets = torch.tensor([[3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8]] * 2)
    conf = torch.tensor([[0.95, 0.5, 0.99, 0.3, 0.92, 0.6, 0.97, 0.4, 0.45, 0.8, 0.35, 0.7]] * 2)
    model = DependencyModel(targets, conf, V, MASK)
    prompt = torch.zeros(2, 0, dtype=torch.long)
    a = masked_decode(model, prompt, L, decoder, mask_id=MASK, seed=[1, 2])
    b = masked_decode(model, prompt, L, flat, mask_id=MASK, seed=[1, 2])
    assert torch.equal(a.tokens, b.tokens) and a.stats.row_nfe.tolist() == b.stats.row_nfe.tolist()
    assert a.stats.remask_events == b.stats.remask_events


def test_a_decoder_dict_holds_only_what_its_pieces_use():
    d = MaskedDecoder(commit=Threshold(0.8)).to_dict()
    assert d["commit"] == "threshold" and d["threshold"] == 0.8
    for unused in ("factor", "radius", "remdm_eta", "block_size", "learned_threshold", "max_remasks"):
        assert unused not in d, unused
    # ... and the flat config ignores nothing: every one of its keys belongs to exactly one piece
    owned: list[str] = []
    for slot, kinds in PIECES.items():
        for cls in kinds.values():
            owned += [k for k in cls().to_flat() if k != slot]
    owned += list(Sampling().to_flat())
    assert set(owned) | set(PIECES) == {f.name for f in fields(MaskedDecodeConfig)}


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_is_a_piece_decoder_that_round_trips(name):
    dec = preset_decoder(name, gen_len=L)
    assert dec == preset(name, gen_len=L).decoder()
    assert MaskedDecoder.from_dict(json.loads(json.dumps(dec.to_dict()))) == dec


def test_pieces_reject_bad_parameters_and_slots():
    with pytest.raises(ValueError, match="steps"):
        Cosine(0)
    with pytest.raises(ValueError, match="remdm_schedule"):
        ReMDM(schedule="nope")
    with pytest.raises(TypeError, match="commit"):
        MaskedDecoder(commit=FixedBlocks(4))
    with pytest.raises(ValueError, match="unknown keys"):
        MaskedDecoder.from_dict({"treshold": 0.9})
    assert isinstance(MaskedDecoder().commit, TopK)
