"""Tiny text LMs for the list tasks: a masked-diffusion LM and an autoregressive LM.

Both are `transformers` models trained from scratch here on :mod:`vla.list_tasks` data:

* the masked-diffusion LM is a bidirectional encoder (``BertForMaskedLM``) trained like the
  diffusion action head: mask ``n = max(1, round(cos(pi r / 2) L))`` answer positions with
  ``r ~ U[0, 1)``, cross-entropy on the masked positions; decoded by :func:`decoding.masked.masked_decode`;
* the autoregressive LM is a causal decoder (``LlamaForCausalLM``) trained with teacher forcing
  on the answer tokens; decoded greedily by :mod:`decoding.autoregressive`.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

import torch
from torch import nn
from tqdm import tqdm

from .list_tasks import MAX_OUT, PROMPT_LEN, TASKS, ListExample, ListVocab, generate


def encode(examples: Sequence[ListExample], vocab: ListVocab) -> tuple[torch.Tensor, torch.Tensor]:
    """Prompt ids ``[N, PROMPT_LEN]`` and answer ids ``[N, MAX_OUT]``."""
    p = torch.tensor([[vocab.id(w) for w in ex.prompt_words()] for ex in examples])
    a = torch.tensor([[vocab.id(w) for w in ex.answer_words()] for ex in examples])
    return p, a


def answer_allowed(vocab: ListVocab) -> torch.Tensor:
    """Allowed tokens at each answer position: names and EOS ``[MAX_OUT, V]``."""
    allowed = torch.zeros(MAX_OUT, len(vocab), dtype=torch.bool)
    allowed[:, vocab.name_ids] = True
    allowed[:, vocab.eos] = True
    return allowed


def build_mdlm(vocab: ListVocab, hidden: int = 128, layers: int = 3, seed: int = 0) -> nn.Module:
    from transformers import BertConfig, BertForMaskedLM

    torch.manual_seed(seed)
    cfg = BertConfig(vocab_size=len(vocab), hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=4,
                     intermediate_size=hidden * 2, max_position_embeddings=PROMPT_LEN + MAX_OUT + 4,
                     hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, pad_token_id=vocab.pad)
    return BertForMaskedLM(cfg)


def build_arlm(vocab: ListVocab, hidden: int = 128, layers: int = 3, seed: int = 0) -> nn.Module:
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=len(vocab), hidden_size=hidden, intermediate_size=hidden * 2, num_hidden_layers=layers,
                      num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=PROMPT_LEN + MAX_OUT + 4,
                      pad_token_id=vocab.pad, bos_token_id=vocab.id("[BOS]"), eos_token_id=vocab.eos)
    return LlamaForCausalLM(cfg)


def diffusion_mask(answer: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """DD-VLA training mask: per row, n = max(1, round(cos(pi r / 2) L)) random positions."""
    B, L = answer.shape
    r = torch.rand(B, generator=gen)
    n = torch.clamp(torch.round(torch.cos(math.pi * r / 2) * L), min=1).long()
    order = torch.rand(B, L, generator=gen).argsort(1)
    ranks = order.argsort(1)
    return ranks < n[:, None]


def mdlm_loss(model: nn.Module, prompt: torch.Tensor, answer: torch.Tensor, mask_id: int, gen: torch.Generator) -> torch.Tensor:
    m = diffusion_mask(answer, gen)
    x = torch.cat([prompt, answer.masked_fill(m, mask_id)], 1)
    logits = model(input_ids=x).logits[:, prompt.shape[1] :]
    return nn.functional.cross_entropy(logits[m], answer[m])


def arlm_loss(model: nn.Module, prompt: torch.Tensor, answer: torch.Tensor) -> torch.Tensor:
    x = torch.cat([prompt, answer], 1)
    logits = model(input_ids=x).logits[:, prompt.shape[1] - 1 : -1]
    return nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), answer.reshape(-1))


def train_lm(
    kind: str,
    vocab: ListVocab,
    steps: int,
    batch: int = 128,
    lr: float = 2e-3,
    seed: int = 0,
    tasks: Sequence[str] = TASKS,
    progress: bool = True,
) -> tuple[nn.Module, list[float]]:
    """Train a ``"mdlm"`` or ``"arlm"`` on freshly generated list-task data; returns model and losses."""
    if kind not in ("mdlm", "arlm"):
        raise ValueError(f"kind: expected 'mdlm' or 'arlm', got {kind!r}")
    model = build_mdlm(vocab, seed=seed) if kind == "mdlm" else build_arlm(vocab, seed=seed)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / 50) * 0.5 * (1 + math.cos(math.pi * s / steps)))
    gen = torch.Generator().manual_seed(seed)
    rng = random.Random(seed)
    per_task = max(1, batch // len(tasks))
    losses = []
    for step in tqdm(range(steps), desc=f"train {kind}", disable=not progress):
        exs = [ex for t in tasks for ex in generate(t, per_task, seed=rng.randrange(10**9))]
        prompt, answer = encode(exs, vocab)
        loss = mdlm_loss(model, prompt, answer, vocab.mask, gen) if kind == "mdlm" else arlm_loss(model, prompt, answer)
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        losses.append(float(loss.item()))
        del step
    model.eval()
    return model, losses


def words(ids: torch.Tensor, vocab: ListVocab) -> list[list[str]]:
    return [[vocab.itos[i] for i in row] for row in ids.tolist()]


def evaluate_mdlm(model: nn.Module, vocab: ListVocab, examples: Sequence[ListExample], config: dict) -> dict:
    """Decode ``examples`` with one masked-diffusion decoder config; accuracy and NFE statistics."""
    from decoding.masked import MaskedDecodeConfig, masked_decode

    prompt, _ = encode(examples, vocab)
    cfg = MaskedDecodeConfig.from_dict({"cache": "none", **config})
    res = masked_decode(model, prompt, MAX_OUT, cfg, mask_id=vocab.mask, allowed=answer_allowed(vocab), seed=0)
    return _score(examples, words(res.tokens, vocab), res.stats.row_nfe.float())


def evaluate_arlm(model: nn.Module, vocab: ListVocab, examples: Sequence[ListExample]) -> dict:
    """Greedy autoregressive decoding of ``examples``; one token per model call."""
    from decoding.autoregressive import ARDecodeConfig, ar_decode

    prompt, _ = encode(examples, vocab)
    allowed = answer_allowed(vocab)
    res = ar_decode(model, prompt, MAX_OUT, ARDecodeConfig(strategy="greedy"), allowed=allowed, eos_id=vocab.eos, pad_id=vocab.eos)
    row_nfe = res.stats.row_nfe.float() if res.stats.row_nfe is not None else torch.full((len(examples),), float(res.stats.nfe))
    return _score(examples, words(res.tokens, vocab), row_nfe)


def _score(examples: Sequence[ListExample], outputs: list[list[str]], row_nfe: torch.Tensor) -> dict:
    from .list_tasks import check

    ok = [check(ex, out) for ex, out in zip(examples, outputs)]
    return {
        "accuracy": sum(ok) / len(ok),
        "mean_nfe": float(row_nfe.mean()),
        "max_nfe": float(row_nfe.max()),
        "tokens_per_step": MAX_OUT / float(row_nfe.mean()),
        "n": len(ok),
        "example_output": " ".join(w for w in outputs[0] if w != "[EOS]"),
    }
