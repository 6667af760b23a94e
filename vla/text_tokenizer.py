"""Instruction tokenizer of the `tiny` preset, built from the data (no download).

A word-level `tokenizers` model (lower-cased, split on whitespace and punctuation) wrapped as a
`transformers` ``PreTrainedTokenizerFast`` so that it saves and loads like any Hugging Face
tokenizer (``tokenizer.json`` in the checkpoint). `pretrained` presets use the language
model's own tokenizer instead.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import torch
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers
from transformers import PreTrainedTokenizerBase, PreTrainedTokenizerFast

SPECIALS = ["<pad>", "<bos>", "<eos>", "<unk>"]
_WORD = re.compile(r"\w+|[^\w\s]+")


def build_word_tokenizer(texts: Iterable[str], min_count: int = 1) -> PreTrainedTokenizerFast:
    """A word-level tokenizer whose vocabulary is every word of ``texts`` (plus 4 specials)."""
    counts: dict[str, int] = {}
    for text in texts:
        for w in _WORD.findall(text.lower()):
            counts[w] = counts.get(w, 0) + 1
    words = sorted(w for w, c in counts.items() if c >= min_count)
    vocab = {tok: i for i, tok in enumerate(SPECIALS + words)}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", bos_token="<bos>", eos_token="<eos>", unk_token="<unk>"
    )


def encode_texts(
    tokenizer: PreTrainedTokenizerBase, texts: list[str], max_len: int, add_bos: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids ``[B, T]`` (right padded) and a validity mask ``[B, T]`` (bool) for ``texts``.

    A BOS token (when the tokenizer has one) starts each text; texts are truncated to ``max_len``.
    """
    rows = []
    bos = tokenizer.bos_token_id if add_bos else None
    for text in texts:
        ids = tokenizer.encode(text, add_special_tokens=False)
        if bos is not None:
            ids = [bos] + ids
        rows.append(ids[:max_len] if max_len > 0 else ids)
    width = max(1, max(len(r) for r in rows))
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    valid = torch.zeros((len(rows), width), dtype=torch.bool)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(r, dtype=torch.long)
        valid[i, : len(r)] = True
    return ids, valid
