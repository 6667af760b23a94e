"""The network on random weights: prefix KV cache equals full passes, padding invariance,
incremental AR equals teacher forcing, masked decoding with and without cache, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from decoding.masked import masked_decode
from vla.action_tokenizer import ActionTokenizer
from vla.config import VLAConfig
from vla.decode_adapters import PrefixAdapter
from vla.factory import build_tiny
from vla.inference import VLAInference
from vla.predict import allowed_action_tokens
from vla.text_tokenizer import build_word_tokenizer, encode_texts

VISION = dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64)
LANG = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, intermediate_size=128)
TEXTS = ["pick up the red cube", "open the top drawer of the cabinet", "push"]


def make(head: str = "diffusion", prefix_order: str = "images_first", slots: bool = False):
    tok = build_word_tokenizer(TEXTS)
    cfg = VLAConfig(head=head, horizon=4, n_bins=32, image_size=32, prefix_order=prefix_order, action_slot_embed=slots)
    model = build_tiny(cfg, tok, VISION, LANG, seed=0).eval()
    return model, tok


def prefix_of(model, tok, n: int = 3):
    g = torch.Generator().manual_seed(0)
    ids, valid = encode_texts(tok, TEXTS[:n], 32)
    return model.encode_prefix(torch.randn(n, 2, 3, 32, 32, generator=g), torch.randn(n, 8, generator=g), ids, valid)


@torch.no_grad()
@pytest.mark.parametrize("order", ["images_first", "text_first"])
def test_prefix_cache_matches_full_pass(order: str) -> None:
    model, tok = make(prefix_order=order)
    prefix = prefix_of(model, tok)
    cfg = model.config
    ad = PrefixAdapter(model, prefix, causal=False)
    g = torch.Generator().manual_seed(1)
    block = torch.randint(cfg.action_token_offset, cfg.action_token_offset + cfg.n_bins, (3, 28), generator=g)
    block[:, ::3] = cfg.mask_token_id
    full = ad(block)
    logits, cache = ad.prefill(block, 0)
    torch.testing.assert_close(logits, full, atol=1e-5, rtol=0)
    torch.testing.assert_close(ad.step(block, cache), full, atol=1e-5, rtol=0)
    assert cache[0].get_seq_length() == prefix.length  # step left the cache unchanged
    _, cache10 = ad.prefill(block, 10)
    torch.testing.assert_close(ad.step(block[:, 10:], cache10), full[:, 10:], atol=1e-5, rtol=0)
    assert ad.prefix_passes == 2  # one full pass + one cached prefix


@torch.no_grad()
@pytest.mark.parametrize("order", ["images_first", "text_first"])
def test_padding_does_not_change_a_row(order: str) -> None:
    tok = build_word_tokenizer(TEXTS)
    model = build_tiny(VLAConfig(horizon=4, n_bins=32, image_size=32, prefix_order=order), tok, VISION, LANG,
                       seed=0).eval()
    g = torch.Generator().manual_seed(0)
    pixels, proprio = torch.randn(3, 2, 3, 32, 32, generator=g), torch.randn(3, 8, generator=g)
    ids, valid = encode_texts(tok, TEXTS, 32)
    prefix = model.encode_prefix(pixels, proprio, ids, valid)
    block = torch.full((3, 28), model.config.mask_token_id)
    batch = PrefixAdapter(model, prefix, causal=False)(block)
    k = int(valid[2].sum())  # the shortest instruction, encoded alone without its padding
    alone = model.encode_prefix(pixels[2:], proprio[2:], ids[2:, :k], valid[2:, :k])
    assert bool(alone.valid.all()) and alone.length < prefix.length
    torch.testing.assert_close(PrefixAdapter(model, alone, causal=False)(block[2:]), batch[2:], atol=1e-5, rtol=0)


@torch.no_grad()
@pytest.mark.parametrize("slots", [False, True])
def test_incremental_ar_equals_teacher_forcing(slots: bool) -> None:
    model, tok = make("ar", slots=slots)
    cfg = model.config
    prefix = prefix_of(model, tok)
    ad = PrefixAdapter(model, prefix, causal=True, start_token=cfg.action_start_id, action_block=True)
    seq = torch.randint(cfg.action_token_offset, cfg.action_token_offset + cfg.n_bins, (3, 28))
    teacher = torch.cat([torch.full((3, 1), cfg.action_start_id), seq[:, :-1]], 1)
    full = ad(teacher)
    plain = PrefixAdapter(model, prefix, causal=True, start_token=cfg.action_start_id)(teacher)
    assert torch.allclose(plain, full) != slots  # slot embeddings enter the action block only when configured
    logits, state = ad.start(seq[:, :0])
    outs = [logits]
    for j in range(0, 27, 3):  # extend by chunks of up to 3 tokens
        logits, state = ad.extend(seq[:, j:min(j + 3, 27)], state)
        outs.append(logits)
    torch.testing.assert_close(torch.cat(outs, 1), full, atol=1e-5, rtol=0)
    state = ad.rollback(state, 5)
    logits, _ = ad.extend(seq[:, 5:6], state)
    torch.testing.assert_close(logits[:, 0], full[:, 6], atol=1e-5, rtol=0)


@torch.no_grad()
@pytest.mark.parametrize("options", [{}, {"remask": "ddvla_code", "temperature": 1.0, "gumbel_temperature": 1.0},
                                     {"block": "fixed", "block_size": 14}, {"block": "fixed", "block_size": 7, "slots": 1}])
def test_masked_decode_same_with_and_without_cache(options: dict) -> None:
    options = dict(options)
    model, tok = make(slots=bool(options.pop("slots", 0)))
    cfg = model.config
    prefix = prefix_of(model, tok)
    allowed = allowed_action_tokens(cfg)
    out = []
    for cache in ("prefix", "none"):
        res = masked_decode(PrefixAdapter(model, prefix, causal=False, action_block=True),
                            torch.zeros(3, 0, dtype=torch.long), 28,
                            {"steps": 4, "cache": cache, **options}, mask_id=cfg.mask_token_id, allowed=allowed, seed=5)
        assert res.stats.extra["cache"] == cache
        out.append(res.tokens)
    torch.testing.assert_close(out[0], out[1], atol=0, rtol=0)
    bins = out[0] - cfg.action_token_offset
    assert bins.min() >= 0 and bins.max() < cfg.n_bins


def test_bad_observations() -> None:
    model, tok = make()
    stats = ActionTokenizer.fit(np.random.default_rng(0).normal(size=(50, 7)), n_bins=32)
    policy = VLAInference(model, tok, stats)
    good = {"agentview_rgb": np.zeros((48, 40, 3), np.uint8), "eye_in_hand_rgb": np.zeros((32, 32, 3), np.uint8),
            "proprio": np.zeros(8), "instruction": "push"}
    actions, info = policy.predict(good)
    assert actions.shape == (4, 7) and np.all(np.isfinite(actions))
    cases = [
        ({"agentview_rgb": np.zeros((32, 32, 3), np.float32)}, "agentview_rgb: expected dtype uint8"),
        ({"agentview_rgb": np.zeros((32, 32), np.uint8)}, r"agentview_rgb: expected shape \[H, W, 3\]"),
        ({"eye_in_hand_rgb": np.zeros((3, 32, 32), np.uint8)}, r"eye_in_hand_rgb: expected shape \[H, W, 3\]"),
        ({"eye_in_hand_rgb": [[1, 2, 3]]}, "eye_in_hand_rgb: expected a numpy uint8 array"),
        ({"proprio": np.array([0.0] * 7 + [np.nan])}, "proprio: expected finite values"),
        ({"proprio": np.zeros(6)}, r"proprio: expected shape \(8,\)"),
        ({"instruction": "  "}, "instruction: expected a non-empty string"),
        ({"instruction": None}, "instruction: expected a non-empty string"),
    ]
    for change, message in cases:
        with pytest.raises(ValueError, match=message):
            policy.predict({**good, **change})
    missing = dict(good)
    del missing["proprio"]
    with pytest.raises(ValueError, match="proprio: missing"):
        policy.predict(missing)
    with pytest.raises(ValueError, match="unknown keys"):
        VLAInference(model, tok, stats, decoder={"stepz": 3})
    with pytest.raises(ValueError, match="head: expected one of"):
        VLAConfig(head="mlp")


def test_grid_coord_features_identify_each_cell() -> None:
    from vla.model import grid_coord_features

    f = grid_coord_features(16, 8)[0]  # 4 x 4 grid, 4 row + 4 column features
    assert f.shape == (16, 8) and float(f.abs().max()) <= 1.0
    assert len({tuple(np.round(r.numpy(), 5)) for r in f}) == 16  # every cell distinct
    torch.testing.assert_close(f[0, :4], f[3, :4])  # same row -> same row features
    torch.testing.assert_close(f[0, 4:], f[12, 4:])  # same column -> same column features
    assert not torch.allclose(f[0, 4:], f[1, 4:])


@torch.no_grad()
def test_image_coord_features_reach_the_tokens_and_survive_a_config_round_trip(tmp_path) -> None:
    from vla.factory import from_config

    tok = build_word_tokenizer(TEXTS)
    cfg = VLAConfig(horizon=4, n_bins=32, image_size=32, image_pool=1, image_coord_features=16)
    model = build_tiny(cfg, tok, VISION, LANG, seed=0).eval()
    assert model.projector[0].in_features == VISION["hidden_size"] + 16
    # a blank image: without coordinates the vision tower's own position embedding is the only
    # difference between tokens; zeroing it leaves the appended coordinates to tell cells apart
    model.vision.embeddings.position_embedding.weight.zero_()
    tokens = model.encode_images(torch.zeros(1, 2, 3, 32, 32))
    n = tokens.shape[1] // 2
    assert len({tuple(np.round(t.numpy(), 5)) for t in tokens[0, :n]}) == n
    cfg.save(tmp_path / "config.json")
    again = from_config(VLAConfig.load(tmp_path / "config.json"))
    again.load_state_dict(model.state_dict())
    torch.testing.assert_close(again.eval().encode_images(torch.zeros(1, 2, 3, 32, 32)), tokens)
    with pytest.raises(ValueError, match="image_coord_features"):
        VLAConfig(image_coord_features=6)


@torch.no_grad()
def test_resnet_vision_tower_gives_one_token_per_8x8_cell(tmp_path) -> None:
    from vla.factory import from_config

    tok = build_word_tokenizer(TEXTS)
    cfg = VLAConfig(horizon=4, n_bins=32, image_size=64, image_pool=1, vision_arch="resnet", image_coord_features=8)
    model = build_tiny(cfg, tok, {"hidden_size": 16, "num_hidden_layers": 1}, LANG, seed=0).eval()
    assert cfg.vision_config["model_type"] == "resnet" and cfg.vision_config["hidden_sizes"] == [8, 16]
    # per-sample normalization: no BatchNorm, so a row's tokens do not depend on the rest of the batch
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in model.vision.modules())
    g = torch.Generator().manual_seed(0)
    pixels = torch.randn(2, 2, 3, 64, 64, generator=g)
    tokens = model.encode_images(pixels)
    assert tokens.shape == (2, 2 * 64, LANG["hidden_size"])  # 64 px / 8 = 8 x 8 cells per camera
    # a change in one corner of the image changes that corner's token, not the opposite one
    moved = pixels.clone()
    moved[:, :, :, :8, :8] += 3.0
    diff = (model.encode_images(moved) - tokens).abs().sum(-1)[0, :64]
    assert diff[0] > 0 and diff[63] == 0
    cfg.save(tmp_path / "config.json")
    again = from_config(VLAConfig.load(tmp_path / "config.json"))
    again.load_state_dict(model.state_dict())
    torch.testing.assert_close(again.eval().encode_images(pixels), tokens)
    torch.testing.assert_close(again.train().encode_images(pixels[:1]), tokens[:1], atol=1e-5, rtol=0)
    ids, valid = encode_texts(tok, TEXTS[:2], 32)
    block = torch.full((2, 28), cfg.mask_token_id)
    logits = PrefixAdapter(model, model.encode_prefix(pixels, torch.zeros(2, 8), ids, valid), causal=False)(block)
    assert logits.shape[:2] == (2, 28) and torch.isfinite(logits).all()
    with pytest.raises(ValueError, match="vision_arch"):
        VLAConfig(vision_arch="convnext")
