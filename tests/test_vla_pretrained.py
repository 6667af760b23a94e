"""The `pretrained` preset: local Hugging Face checkpoints (tiny random SigLIP + Qwen2 / Llama saved
to disk by the test) loaded through Auto classes, action tokens added to the vocabulary, trained
with `vla train`, saved and reloaded."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import (
    LlamaConfig,
    LlamaForCausalLM,
    Qwen2Config,
    Qwen2ForCausalLM,
    SiglipVisionConfig,
    SiglipVisionModel,
)

from vla.config import VLAConfig
from vla.factory import build_pretrained
from vla.inference import VLAInference
from vla.synthetic import write_synthetic_demos
from vla.text_tokenizer import build_word_tokenizer
from vla.train_cli import main as train_main


def save_towers(root: Path, lm_kind: str) -> tuple[Path, Path]:
    torch.manual_seed(0)
    vision = SiglipVisionModel(SiglipVisionConfig(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=1,
                                                  num_attention_heads=2, intermediate_size=64))
    vision.save_pretrained(root / "vision")
    (root / "vision" / "preprocessor_config.json").write_text(json.dumps({"image_mean": [0.4, 0.4, 0.4],
                                                                          "image_std": [0.3, 0.3, 0.3]}))
    tok = build_word_tokenizer(["pick up the red cube green blue yellow what colour is it"])
    cls, cfg_cls = (Qwen2ForCausalLM, Qwen2Config) if lm_kind == "qwen2" else (LlamaForCausalLM, LlamaConfig)
    lm = cls(cfg_cls(vocab_size=len(tok) + 3, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                     num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=256,
                     tie_word_embeddings=lm_kind == "qwen2"))
    lm.save_pretrained(root / "language")
    tok.save_pretrained(str(root / "language"))
    return root / "vision", root / "language"


@pytest.mark.parametrize("lm_kind", ["qwen2", "llama"])
def test_pretrained_towers_loaded_and_extended(tmp_path: Path, lm_kind: str) -> None:
    vpath, lpath = save_towers(tmp_path, lm_kind)
    cfg = VLAConfig(preset="pretrained", n_bins=16, horizon=2)
    model, tok = build_pretrained(cfg, str(vpath), str(lpath))
    orig_vision = SiglipVisionModel.from_pretrained(vpath)
    for k, v in orig_vision.state_dict().items():
        torch.testing.assert_close(model.vision.state_dict()[k], v, atol=0, rtol=0)
    orig_lm = (Qwen2ForCausalLM if lm_kind == "qwen2" else LlamaForCausalLM).from_pretrained(lpath)
    n_text = orig_lm.config.vocab_size
    assert cfg.text_vocab_size == n_text and cfg.vocab_size == n_text + 16 + 2
    emb = model.lm.get_input_embeddings().weight
    assert emb.shape[0] == cfg.vocab_size
    torch.testing.assert_close(emb[:n_text], orig_lm.get_input_embeddings().weight, atol=0, rtol=0)
    assert cfg.image_size == 32 and cfg.image_mean == (0.4, 0.4, 0.4)
    assert cfg.language_config["model_type"] == lm_kind and cfg.vision_config["model_type"] == "siglip_vision_model"


def test_pretrained_train_save_load_predict(tmp_path: Path) -> None:
    vpath, lpath = save_towers(tmp_path, "qwen2")
    data = write_synthetic_demos(tmp_path / "demos.hdf5", n_demos=2, steps=3, image_size=48)
    out = tmp_path / "ckpt"
    assert train_main(["--data", str(data), "--out", str(out), "--preset", "pretrained", "--vision", str(vpath),
                       "--language", str(lpath), "--steps", "2", "--batch-size", "2", "--horizon", "2",
                       "--n-bins", "16", "--no-progress"]) == 0
    policy = VLAInference.from_pretrained(out, decoder={"steps": 3})
    assert policy.config.preset == "pretrained" and policy.config.language_config["model_type"] == "qwen2"
    obs = {"agentview_rgb": np.zeros((48, 48, 3), np.uint8), "eye_in_hand_rgb": np.full((48, 48, 3), 9, np.uint8),
           "proprio": np.zeros(8, np.float32), "instruction": "pick up the red cube"}
    a1, info = policy.predict(obs)
    assert a1.shape == (2, 7) and info["nfe"] == 3
    again = VLAInference.from_pretrained(out, decoder={"steps": 3})
    np.testing.assert_array_equal(again.predict(obs)[0], a1)
    with pytest.raises(FileNotFoundError, match="language_path: expected a local Hugging Face checkpoint"):
        build_pretrained(VLAConfig(), str(vpath), str(tmp_path / "missing"))
