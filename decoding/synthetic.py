"""Synthetic token models whose right answer is known, for tests, demos and benchmarks.

* :class:`OracleModel`: predicts the target token at each position with a chosen probability
  (the rest spread uniformly), independent of the input;
* :class:`WrongThenRightModel`: confidently wrong at some positions on its first call, right
  afterwards (exercises re-masking);
* :class:`DependencyModel`: a position becomes confident once a neighbour holds its right
  token; on its own it is uncertain and often proposes a plausible wrong token, and a wrong
  neighbour propagates errors, so committing too much in parallel costs accuracy.
"""

from __future__ import annotations

import torch


def _logits_from_probs(p: torch.Tensor) -> torch.Tensor:
    return torch.log(p.clamp_min(1e-12))


class OracleModel:
    """Static model: ``p(target[l]) = conf[l]`` at generated position l (last L positions)."""

    def __init__(self, target: torch.Tensor, conf: torch.Tensor, vocab: int, mask_id: int) -> None:
        self.target, self.conf, self.vocab, self.mask_id = target.long(), conf.float(), vocab, mask_id
        self.calls = 0

    def __call__(self, ids: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        B, T = ids.shape
        L = self.target.shape[-1]
        tgt = self.target.expand(B, L)
        conf = self.conf.expand(B, L)
        p = ((1 - conf) / (self.vocab - 2))[..., None].expand(B, L, self.vocab).clone()
        p[..., self.mask_id] = 0.0
        p.scatter_(-1, tgt[..., None], conf[..., None])
        out = torch.full((B, T, self.vocab), 1.0 / self.vocab)
        out[:, T - L :] = p
        return _logits_from_probs(out)


class WrongThenRightModel(OracleModel):
    """First call: ``wrong[l]`` (>= 0) is proposed at positions with probability ``wrong_conf``."""

    def __init__(self, target: torch.Tensor, wrong: torch.Tensor, vocab: int, mask_id: int, wrong_conf: float = 0.99, right_conf: float = 0.6) -> None:
        super().__init__(target, torch.full(target.shape, right_conf), vocab, mask_id)
        self.wrong, self.wrong_conf = wrong.long(), wrong_conf

    def __call__(self, ids: torch.Tensor) -> torch.Tensor:
        first = self.calls == 0
        logits = super().__call__(ids)
        B, T, V = logits.shape
        L = self.target.shape[-1]
        if first:
            p = logits[:, T - L :].exp()
            for pos in torch.nonzero(self.wrong >= 0).flatten().tolist():
                p[:, pos] = (1 - self.wrong_conf) / (V - 2)
                p[:, pos, self.mask_id] = 0.0
                p[:, pos, self.wrong[pos]] = self.wrong_conf
            logits[:, T - L :] = _logits_from_probs(p)
        else:  # afterwards: right and confident everywhere
            self.conf = torch.full(self.target.shape, 0.9)
        return logits


class DependencyModel:
    """Confident only next to a correctly filled neighbour; see the module docstring.

    ``targets [B, L]`` are the right answers; ``base_conf [B, L]`` the stand-alone
    probability of the right token; a stand-alone position proposes ``target + 1`` with
    probability ``0.5`` (a wrong answer wins when ``base_conf < 0.5``).
    """

    def __init__(self, targets: torch.Tensor, base_conf: torch.Tensor, vocab: int, mask_id: int) -> None:
        self.targets, self.base_conf, self.vocab, self.mask_id = targets.long(), base_conf.float(), vocab, mask_id
        self.n_symbols = vocab - 1

    def __call__(self, ids: torch.Tensor) -> torch.Tensor:
        B, T = ids.shape
        L = self.targets.shape[1]
        if B != self.targets.shape[0]:
            raise ValueError(f"ids: expected batch {self.targets.shape[0]}, got {B}")
        gen = ids[:, T - L :]
        filled = gen != self.mask_id
        right = filled & (gen == self.targets)
        wrong = filled & ~right
        pad = torch.zeros(B, 1, dtype=torch.bool)
        nb_right = torch.cat([pad, right[:, :-1]], 1) | torch.cat([right[:, 1:], pad], 1)
        nb_wrong = torch.cat([pad, wrong[:, :-1]], 1) | torch.cat([wrong[:, 1:], pad], 1)
        decoy = (self.targets + 1) % self.n_symbols
        p_right = torch.where(nb_right, torch.full_like(self.base_conf, 0.95), self.base_conf)
        p_right = torch.where(nb_wrong & ~nb_right, torch.full_like(self.base_conf, 0.2), p_right)
        p_decoy = torch.where(nb_right, torch.full_like(self.base_conf, 0.03), torch.full_like(self.base_conf, 0.5))
        p_decoy = torch.where(nb_wrong & ~nb_right, torch.full_like(self.base_conf, 0.75), p_decoy)
        rest = (1.0 - p_right - p_decoy).clamp_min(1e-6) / (self.vocab - 3)
        p = rest[..., None].expand(B, L, self.vocab).clone()
        p[..., self.mask_id] = 0.0
        p.scatter_(-1, self.targets[..., None], p_right[..., None])
        p.scatter_(-1, decoy[..., None], p_decoy[..., None])
        out = torch.full((B, T, self.vocab), 1.0 / self.vocab)
        out[:, T - L :] = p
        return _logits_from_probs(out)
