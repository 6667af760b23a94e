"""Text generation by the language side of the VLA, through the decoders of `decoding/`.

The prompt (and images, proprio) form the prefix; the answer is generated after it either
autoregressively (:func:`decoding.autoregressive.ar_decode`; the last prompt position predicts
the first token) or by masked diffusion over a block of ``max_new_tokens`` positions
(:func:`decoding.masked.masked_decode`, EOS early stop). :func:`text_qa_batches` trains both
objectives on (images, prompt, answer) triples (see ``VLAModel.text_losses``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from transformers import PreTrainedTokenizerBase

from decoding.autoregressive import ARDecodeConfig, ar_decode
from decoding.masked import MaskedDecodeConfig, masked_decode

from .decode_adapters import PrefixAdapter
from .model import Prefix, VLAModel
from .text_tokenizer import encode_texts


def text_allowed(model: VLAModel, length: int, device: torch.device) -> torch.Tensor:
    """``[length, V]``: text positions may take text ids only (no action bins, no [MASK])."""
    allowed = torch.zeros(length, model.config.vocab_size, dtype=torch.bool, device=device)
    allowed[:, : model.config.text_vocab_size] = True
    return allowed


@torch.no_grad()
def generate_from_prefix(model: VLAModel, tokenizer: PreTrainedTokenizerBase, prefix: Prefix, decoder: str = "ar",
                         max_new_tokens: int = 16, config: dict[str, Any] | None = None, seed: int = 0
                         ) -> tuple[list[str], dict[str, Any]]:
    """Decode text after ``prefix``; returns the strings (up to EOS) and decode statistics."""
    b = prefix.embeds.shape[0]
    device = prefix.embeds.device
    empty = torch.zeros(b, 0, dtype=torch.long, device=device)
    eos = tokenizer.eos_token_id
    allowed = text_allowed(model, max_new_tokens, device)
    if decoder == "ar":
        adapter = PrefixAdapter(model, prefix, causal=True)
        res = ar_decode(adapter, empty, max_new_tokens, ARDecodeConfig(**(config or {})), allowed=allowed,
                        eos_id=eos, pad_id=eos if eos is not None else 0, seed=seed)
    elif decoder == "masked":
        adapter = PrefixAdapter(model, prefix, causal=False)
        res = masked_decode(adapter, empty, max_new_tokens, MaskedDecodeConfig.from_dict(dict(config or {})),
                            mask_id=model.config.mask_token_id, allowed=allowed, eos_id=eos, seed=seed)
    else:
        raise ValueError(f"decoder: expected 'ar' or 'masked', got {decoder!r}")
    texts = []
    for row in res.tokens.tolist():
        if eos is not None and eos in row:
            row = row[: row.index(eos)]
        texts.append(tokenizer.decode(row, skip_special_tokens=True).strip())
    return texts, res.stats.to_dict()


def answer_ids(tokenizer: PreTrainedTokenizerBase, answers: Sequence[str], length: int) -> torch.Tensor:
    """Answers as ids ``[B, length]``: the answer tokens, then EOS up to ``length``."""
    eos = tokenizer.eos_token_id
    if eos is None:
        raise ValueError("tokenizer: text answers need an EOS token")
    out = torch.full((len(answers), length), eos, dtype=torch.long)
    for i, a in enumerate(answers):
        ids = tokenizer.encode(a, add_special_tokens=False)[: length - 1]
        out[i, : len(ids)] = torch.tensor(ids, dtype=torch.long)
    return out


def text_qa_batches(model: VLAModel, tokenizer: PreTrainedTokenizerBase, pixels: torch.Tensor,
                    proprio: torch.Tensor, prompts: Sequence[str], answers: Sequence[str], answer_len: int
                    ) -> Callable[[torch.Generator, int, torch.Tensor], dict[str, torch.Tensor]]:
    """A ``make_batch`` for :func:`vla.train.train` over fixed (pixels, prompt, answer) examples."""
    ids, valid = encode_texts(tokenizer, list(prompts), model.config.max_instruction_tokens)
    ans = answer_ids(tokenizer, answers, answer_len)

    def make_batch(g: torch.Generator, batch_size: int, rows: torch.Tensor) -> dict[str, torch.Tensor]:
        index = torch.randint(len(ans), (batch_size,), generator=g)
        noise = torch.rand(batch_size, answer_len + 1, generator=g)
        i = index[rows]
        return {"pixels": pixels[i], "proprio": proprio[i], "text_ids": ids[i], "text_valid": valid[i],
                "answer_ids": ans[i], "answer_noise": noise[rows]}

    return make_batch
