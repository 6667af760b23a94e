"""Learn2PD-style learned commit filter and its post-hoc training from decoding traces.

The filter is a logistic regression over per-position features of the current step (the
position's confidence, margin and negative entropy, its relative place in the block, the
step fraction, and the block's masked fraction and mean confidence). It predicts "the
current proposal equals the final token". Training data comes from traces recorded by
``masked_decode(..., record_trace=True)``: every (step, masked position) is labelled by
comparing its proposal with the final output of that decode.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .step_context import StepContext

N_FEATURES = 7


def features_from(probs: torch.Tensor, x0: torch.Tensor, masked: torch.Tensor, t: int, steps: int) -> torch.Tensor:
    """Per-position features ``[B, Lb, N_FEATURES]`` of one step."""
    p_x0 = probs.gather(-1, x0.unsqueeze(-1)).squeeze(-1)
    top2 = probs.topk(min(2, probs.shape[-1]), dim=-1).values
    margin = top2[..., 0] - (top2[..., 1] if top2.shape[-1] > 1 else 0.0)
    negent = (probs * torch.log(probs.clamp_min(1e-30))).sum(-1)
    B, L = x0.shape
    rel_pos = torch.linspace(0.0, 1.0, L, device=x0.device).expand(B, L)
    step_frac = torch.full((B, L), min(t / max(steps, 1), 1.0), device=x0.device)
    mfrac = masked.float().mean(1, keepdim=True).expand(B, L)
    mconf = (p_x0 * masked).sum(1, keepdim=True) / masked.sum(1, keepdim=True).clamp(min=1)
    return torch.stack([p_x0, margin, negent, rel_pos, step_frac, mfrac, mconf.expand(B, L)], dim=-1).float()


def step_features(ctx: StepContext) -> torch.Tensor:
    return features_from(ctx.probs, ctx.x0, ctx.masked, ctx.t, ctx.steps)


class CommitFilter(nn.Module):
    """Logistic regression: features ``[..., N_FEATURES]`` -> logit ``[...]``."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(N_FEATURES, 1)

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        return self.linear(feats).squeeze(-1)

    def save(self, path: str | Path) -> None:
        w = {"weight": self.linear.weight.detach().flatten().tolist(), "bias": float(self.linear.bias.item())}
        Path(path).write_text(json.dumps(w))


def load_filter(path: str | Path) -> CommitFilter:
    data = json.loads(Path(path).read_text())
    f = CommitFilter()
    with torch.no_grad():
        f.linear.weight.copy_(torch.tensor(data["weight"]).view(1, -1))
        f.linear.bias.fill_(data["bias"])
    return f


def traces_to_dataset(traces: list[dict[str, Any]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Flatten recorded traces into (features [N, F], labels [N]) over masked positions."""
    xs, ys = [], []
    for tr in traces:
        final = tr["final"]  # [B, L]
        for st in tr["steps"]:
            s, e = st["block"]
            sel = st["masked"]  # [B, Lb]
            label = (st["x0"] == final[:, s:e]).float()
            xs.append(st["features"][sel])
            ys.append(label[sel])
    if not xs:
        raise ValueError("traces: no recorded steps to train on")
    return torch.cat(xs), torch.cat(ys)


def train_filter(traces: list[dict[str, Any]], epochs: int = 300, lr: float = 0.05, seed: int = 0) -> CommitFilter:
    """Fit a :class:`CommitFilter` on decoding traces (full-batch Adam, class-balanced BCE)."""
    x, y = traces_to_dataset(traces)
    torch.manual_seed(seed)
    f = CommitFilter()
    pos = y.mean().clamp(1e-3, 1 - 1e-3)
    # weight negatives up: a wrong early commit is worse than a late one
    weight = torch.where(y > 0.5, 1.0 - pos, pos) * 2
    opt = torch.optim.Adam(f.parameters(), lr=lr)
    for _ in range(epochs):
        opt.zero_grad()
        loss = nn.functional.binary_cross_entropy_with_logits(f(x), y, weight=weight)
        loss.backward()
        opt.step()
    return f
