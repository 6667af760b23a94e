"""Re-masking rules: which kept (committed) tokens of the block go back to [MASK] this step.

Each rule is ``rule(ctx, cap, **its parameters) -> bool [B, Lb]`` selecting a subset of ``ctx.kept`` with at
most ``cap[b]`` positions per row (the decoder sets the cap so that decoding still progresses:
with the top-k schedule it is the number of positions the schedule leaves masked, otherwise
this step's commits, so that a rule committing one token per step can still re-mask). A
position is never re-masked more than ``max_remasks`` times, which bounds the steps. The piece
objects that own the parameters (``ReMDM(schedule="cap", eta=0.05)``, ...) are in ``decoding/pieces.py``.

* ``none``: nothing is ever re-masked;
* ``ddvla_code`` (Discrete Diffusion VLA released code): kept tokens' scores are scaled by
  ``(1 - t/T)`` and compete with masked candidates; those that fall among the positions the
  schedule leaves masked return to mask;
* ``ddvla_paper`` (Discrete Diffusion VLA paper): a kept token returns to mask when its current
  probability is below a threshold rising linearly with t from ``remask_low`` to
  ``remask_high``, or has dropped by more than ``remask_delta`` since it was committed;
* ``remdm`` (ReMDM): each kept token is re-masked with probability sigma_t, where
  ``sigma_max = min(1, (1 - alpha_s) / alpha_t)`` from the unmasked fractions before (t) and
  after (s) the step, and ``cap``: ``min(eta, sigma_max)``, ``rescale``: ``eta * sigma_max``,
  ``conf``: ``sigma_max`` spread over positions by ``softmax(-p at commit)`` (mean kept).
"""

from __future__ import annotations

import torch

from .scores import scale_kept
from .step_context import StepContext, bottom_k_mask


def _candidates(ctx: StepContext, max_remasks: int) -> torch.Tensor:
    return ctx.kept & (ctx.remask_count < max_remasks)


def remask_ddvla_code(ctx: StepContext, cap: torch.Tensor, max_remasks: int) -> torch.Tensor:
    cand = _candidates(ctx, max_remasks)
    kept_score = scale_kept(ctx.cur_score, ctx.score_kind, ctx.t, ctx.steps)
    joint = torch.where(ctx.masked, ctx.rank, kept_score)
    pool = ctx.eligible | cand
    lowest = bottom_k_mask(joint, pool, ctx.target_remaining)  # what the schedule leaves masked
    return bottom_k_mask(kept_score, lowest & cand, cap)


def remask_ddvla_paper(ctx: StepContext, cap: torch.Tensor, low: float, high: float, delta: float,
                       max_remasks: int) -> torch.Tensor:
    cand = _candidates(ctx, max_remasks)
    frac = min(ctx.t / max(ctx.steps - 1, 1), 1.0)
    thr = low + (high - low) * frac
    dropped = (ctx.commit_conf - ctx.p_cur) > delta
    bad = cand & ((ctx.p_cur < thr) | dropped)
    return bottom_k_mask(ctx.p_cur, bad, cap)


def remask_remdm(ctx: StepContext, cap: torch.Tensor, schedule: str, eta: float, max_remasks: int) -> torch.Tensor:
    cand = _candidates(ctx, max_remasks)
    n0 = ctx.n0.clamp(min=1).double()
    alpha_t = 1.0 - ctx.masked.sum(1).double() / n0
    alpha_s = 1.0 - ctx.target_remaining.double() / n0
    sigma_max = torch.where(alpha_t > 0, ((1.0 - alpha_s) / alpha_t.clamp_min(1e-12)).clamp(max=1.0), torch.zeros_like(alpha_t))
    if schedule == "cap":
        sigma = sigma_max.clamp(max=eta)[:, None].expand_as(ctx.p_cur)
    elif schedule == "rescale":
        sigma = (eta * sigma_max)[:, None].expand_as(ctx.p_cur)
    elif schedule == "conf":
        logits = (-ctx.commit_conf.double()).masked_fill(~cand, float("-inf"))
        w = torch.softmax(logits, dim=1).nan_to_num(0.0) * cand.sum(1, keepdim=True)
        sigma = (sigma_max[:, None] * w).clamp(max=1.0)
    else:
        raise ValueError(f"remdm_schedule: expected 'cap', 'rescale' or 'conf', got {schedule!r}")
    u = ctx.rng.uniform(ctx.p_cur.shape[1:]).to(ctx.p_cur.device).double()
    hit = cand & (u < sigma)
    return bottom_k_mask(ctx.p_cur, hit, cap)

