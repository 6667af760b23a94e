"""Grounding head: prefix tokens and teacher forcing, exact prefix cache, labels from demos, and
that its loss teaches a vision tower to find a named coloured square."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vla.config import VLAConfig
from vla.decode_adapters import PrefixAdapter
from vla.factory import build_tiny
from vla.grounding import denormalize_points, normalize_points, point_labels
from vla.text_tokenizer import build_word_tokenizer, encode_texts

LANG = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4, intermediate_size=128)
TEXTS = ["pick up the red cube", "pick up the blue cube"]


def make(ground: int = 2, relative: bool = True, order: str = "text_first", seed: int = 0, kind: str = "decoder"):
    tok = build_word_tokenizer(TEXTS)
    cfg = VLAConfig(head="diffusion", horizon=2, n_bins=16, image_size=32, image_pool=1, image_coord_features=16,
                    vision_arch="resnet", prefix_order=order, action_slot_embed=True, ground_points=ground,
                    ground_relative=relative, ground_head=kind)
    return build_tiny(cfg, tok, {"hidden_size": 16, "num_hidden_layers": 1}, LANG, seed=seed).eval(), tok


def inputs(tok, n: int = 2, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    ids, valid = encode_texts(tok, TEXTS[:n], 16)
    return torch.randn(n, 2, 3, 32, 32, generator=g), torch.randn(n, 8, generator=g), ids, valid


@torch.no_grad()
def test_prefix_holds_point_tokens_and_teacher_forcing_replaces_them_per_row() -> None:
    plain, tok = make(ground=0)
    model, _ = make(ground=2, relative=True)
    px, pr, ids, valid = inputs(tok)
    p0 = plain.encode_prefix(px, pr, ids, valid)
    p = model.encode_prefix(px, pr, ids, valid)
    assert p.length == p0.length + 4 and p.points.shape == (2, 4, 3) and p0.points is None
    forced = torch.full((2, 4, 3), float("nan"))
    forced[0] = 0.5
    pf = model.encode_prefix(px, pr, ids, valid, forced)
    torch.testing.assert_close(pf.points, p.points)  # the head's prediction is unchanged
    assert not torch.allclose(pf.embeds[0], p.embeds[0])  # row 0: tokens from the forced points
    torch.testing.assert_close(pf.embeds[1], p.embeds[1])  # row 1 (NaN): the head's own points


@torch.no_grad()
def test_prefix_cache_matches_full_pass_with_grounding() -> None:
    model, tok = make()
    prefix = model.encode_prefix(*inputs(tok))
    cfg = model.config
    ad = PrefixAdapter(model, prefix, causal=False, action_block=True)
    block = torch.randint(cfg.action_token_offset, cfg.action_token_offset + cfg.n_bins, (2, cfg.action_tokens),
                          generator=torch.Generator().manual_seed(1))
    block[:, ::2] = cfg.mask_token_id
    full = ad(block)
    logits, cache = ad.prefill(block, 0)
    torch.testing.assert_close(logits, full, atol=1e-5, rtol=0)


def test_labels_and_normalization_round_trip() -> None:
    pts = np.array([[[0.1, 0.2, 0.8], [0.0, -0.1, 0.8]]], np.float32)
    eef = np.array([[0.1, 0.0, 1.0]], np.float32)
    lab = point_labels(pts, eef, relative=True)
    np.testing.assert_allclose(lab[0, 2], [0.0, 0.2, -0.2], atol=1e-6)
    np.testing.assert_allclose(lab[0, 3], [-0.1, -0.1, -0.2], atol=1e-6)
    assert point_labels(pts, eef, relative=False) is pts
    t = torch.tensor(lab)
    mean, std = tuple(range(12)), tuple([0.5] * 12)
    torch.testing.assert_close(denormalize_points(normalize_points(t, mean, std), mean, std), t)


def _square_images(n: int, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """A red and a blue 4x4 square at random places; label = the named square's centre (x, y, 0)."""
    px = torch.zeros(n, 2, 3, 32, 32)
    labels, texts = torch.zeros(n, 1, 3), []
    for i in range(n):
        spots = rng.integers(2, 26, size=(2, 2))
        for c, (r, q) in enumerate(spots):
            px[i, :, 0 if c == 0 else 2, r:r + 4, q:q + 4] = 1.0
        which = int(rng.integers(2))
        texts.append(TEXTS[which])
        labels[i, 0, :2] = torch.tensor((spots[which] + 2) / 32.0, dtype=torch.float32)
    return px, labels, texts


def test_grounding_loss_teaches_the_tower_to_find_the_named_square() -> None:
    model, tok = make(ground=1, relative=False, seed=0)
    model.config.ground_mean, model.config.ground_std = (0.5, 0.5, 0.0), (0.25, 0.25, 1.0)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    px, labels, texts = _square_images(48, rng)
    ids, valid = encode_texts(tok, texts, 16)
    proprio = torch.zeros(48, 8)
    batch = {"points": labels}

    def err() -> float:
        with torch.no_grad():
            pre = model.encode_prefix(px, proprio, ids, valid)
            pred = denormalize_points(pre.points, model.config.ground_mean, model.config.ground_std)
        return float((pred - labels)[..., :2].norm(dim=-1).mean())

    before = err()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(120):
        pre = model.encode_prefix(px, proprio, ids, valid)
        loss = model.ground_loss(pre, batch).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    after = err()
    # a constant predictor is ~0.3 off; the trained head must find the named square (and so read the text)
    assert after < 0.5 * before and after < 0.12, (before, after)


@pytest.mark.slow
def test_spatial_head_finds_the_named_square_in_layouts_it_never_saw() -> None:
    """The soft-argmax head reads position only from where the instruction's query looks, so what
    it learns on 192 random layouts carries to 64 new ones (a constant predictor is ~0.3 off)."""
    model, tok = make(ground=1, relative=False, seed=0, kind="spatial")
    assert model.ground_coords == 0  # content-only cells
    model.config.ground_mean, model.config.ground_std = (0.5, 0.5, 0.0), (0.25, 0.25, 1.0)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    px, labels, texts = _square_images(192, rng)
    test_px, test_labels, test_texts = _square_images(64, rng)
    ids, valid = encode_texts(tok, texts, 16)
    test_ids, test_valid = encode_texts(tok, test_texts, 16)

    def err() -> float:
        model.eval()
        with torch.no_grad():
            pre = model.encode_prefix(test_px, torch.zeros(64, 8), test_ids, test_valid)
            pred = denormalize_points(pre.points, model.config.ground_mean, model.config.ground_std)
        return float((pred - test_labels)[..., :2].norm(dim=-1).mean())

    before = err()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(300):
        model.train()
        j = torch.randint(192, (48,))
        pre = model.encode_prefix(px[j], torch.zeros(48, 8), ids[j], valid[j])
        loss = model.ground_loss(pre, {"points": labels[j]}).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    held = err()
    assert held < 0.7 * before, (before, held)
