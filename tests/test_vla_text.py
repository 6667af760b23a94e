"""Text generation by the language side: a tiny model trained here answers a templated question
about its image, decoded through `decoding/` autoregressively and by masked diffusion."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from vla.action_tokenizer import ActionTokenizer
from vla.config import VLAConfig
from vla.factory import build_tiny
from vla.inference import VLAInference
from vla.observation import crop_normalize, resize_uint8
from vla.text import text_qa_batches
from vla.text_tokenizer import build_word_tokenizer
from vla.train import TrainConfig, train

COLOURS = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (30, 40, 220)}
PROMPT = "what colour is the cube ?"


def obs_of(rgb: tuple[int, int, int]) -> dict:
    img = np.zeros((32, 32, 3), np.uint8)
    img[8:24, 8:24] = rgb
    return {"agentview_rgb": img, "eye_in_hand_rgb": img.copy(), "proprio": np.zeros(8, np.float32),
            "instruction": PROMPT}


def test_text_answers_through_ar_and_masked_decoders(tmp_path: Path) -> None:
    answers = [f"the cube is {c}" for c in COLOURS]
    tok = build_word_tokenizer([PROMPT, *answers])
    cfg = VLAConfig(head="diffusion", horizon=1, n_bins=8, image_size=32, crop_area=1.0)
    model = build_tiny(cfg, tok, dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                      intermediate_size=64),
                       dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4,
                            intermediate_size=128))
    observations = [obs_of(rgb) for rgb in COLOURS.values()]
    pixels = torch.stack([torch.stack([crop_normalize(resize_uint8(o[c][None], 32), cfg)[0] for c in cfg.cameras])
                          for o in observations])
    make_batch = text_qa_batches(model, tok, pixels, torch.zeros(3, 8), [PROMPT] * 3, answers, answer_len=6)
    stats = ActionTokenizer.fit(np.zeros((4, 7)), n_bins=8)
    history = train(model, make_batch, TrainConfig(steps=120, batch_size=6, lr=3e-3, warmup_steps=5, progress=False),
                    tmp_path / "text", tok, stats)
    assert history[-1]["loss"] < 0.1 * history[0]["loss"]
    policy = VLAInference.from_pretrained(tmp_path / "text")
    for obs, expected in zip(observations, answers):
        text, info = policy.generate_text(obs, PROMPT, decoder="ar", max_new_tokens=6)
        assert text == expected and info["nfe"] <= 6
        text, info = policy.generate_text(obs, PROMPT, decoder="masked", max_new_tokens=6, config={"steps": 6})
        assert text == expected and info["nfe"] <= 6
