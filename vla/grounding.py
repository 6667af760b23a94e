"""Grounding head: the model says *where* the instructed objects are before it acts.

K learned queries read the instruction tokens and fine image features (a small transformer
decoder: self-attention among the queries, cross-attention to ``[instruction | image cells]``)
and regress K 3-D points (for the tabletop suite: the instructed object and its goal). The
points are trained with privileged labels the demonstrations record (``obs/target_pos``,
``obs/goal_pos``); at evaluation the head sees pixels and words only.

Its points enter the LM prefix as K tokens (an MLP of the normalized point plus a per-point
embedding), so the action block reads a compact "where to go" summary next to proprio. This is
the grounding step of embodied chain-of-thought policies (predict the object, then act), trained
jointly here. Why: action-only supervision from a few hundred layouts does not teach a tiny
vision tower to localize the named object to the ~1 cm a grasp needs; direct supervision does.

During training a fraction ``ground_teacher_forcing`` of the rows get the true points plus
Gaussian noise of ``ground_label_noise`` metres as their tokens (the rest get the head's own,
detached, prediction), so the action head learns to trust the point tokens from the start and
to tolerate the head's error.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


class GroundingHead(nn.Module):
    """``(image cells [B, N, Hd], text [B, T, Hd], text_valid [B, T]) -> points [B, K, 3]`` (normalized)."""

    def __init__(self, hidden: int, n_points: int, max_text: int, layers: int = 2, heads: int = 4,
                 text_query: bool = False) -> None:
        super().__init__()
        if n_points < 1:
            raise ValueError(f"n_points: expected >= 1, got {n_points}")
        self.queries = nn.Parameter(torch.randn(n_points, hidden) * 0.02)
        self.text_pos = nn.Parameter(torch.randn(max_text, hidden) * 0.02)
        layer = nn.TransformerDecoderLayer(hidden, heads, dim_feedforward=2 * hidden, dropout=0.0,
                                           batch_first=True, norm_first=True)
        self.decoder = nn.TransformerDecoder(layer, layers)
        self.out = nn.Sequential(nn.LayerNorm(hidden), nn.Linear(hidden, 3))
        self.point_embed = nn.Sequential(nn.Linear(3, hidden), nn.GELU(), nn.Linear(hidden, hidden))
        self.point_id = nn.Parameter(torch.randn(n_points, hidden) * 0.02)
        #: condition the queries on the instruction (its mean token, per point), so that the first
        #: cross-attention can already look for the named colour among the cells
        self.text_query = nn.Linear(hidden, n_points * hidden) if text_query else None

    @property
    def n_points(self) -> int:
        return int(self.queries.shape[0])

    def forward(self, cells: torch.Tensor, text: torch.Tensor, text_valid: torch.Tensor) -> torch.Tensor:
        b, t = text.shape[:2]
        if t > self.text_pos.shape[0]:
            raise ValueError(f"text: {t} tokens exceed the grounding head's {self.text_pos.shape[0]}")
        memory = torch.cat([text + self.text_pos[:t].to(text.dtype)[None], cells.to(text.dtype)], dim=1)
        pad = torch.cat([~text_valid.bool(), torch.zeros(b, cells.shape[1], dtype=torch.bool, device=cells.device)],
                        dim=1)
        queries = self.queries.to(memory.dtype)[None].expand(b, -1, -1)
        if self.text_query is not None:
            w = text_valid.to(text.dtype)[..., None]
            mean = (text * w).sum(1) / w.sum(1).clamp(min=1.0)
            queries = queries + self.text_query(mean).view(b, self.n_points, -1)
        h = self.decoder(queries, memory, memory_key_padding_mask=pad)
        return self.out(h)

    def tokens(self, points: torch.Tensor) -> torch.Tensor:
        """Normalized points ``[B, K, 3]`` -> prefix tokens ``[B, K, Hd]``."""
        return self.point_embed(points) + self.point_id.to(points.dtype)[None]


class SpatialGroundingHead(GroundingHead):
    """Soft-argmax grounding: the instruction scores every image cell, points come from *where* the
    score mass lies.

    The queries (conditioned on the instruction's mean token) first read the instruction (one
    decoder layer over the text only), then score all cells of all cameras per head
    (``softmax(q . k)``, cells carry content only, no coordinates); per head and camera the
    attended mass and its mean (row, column) in the image go, with the query, through an MLP to the
    3-D point. The image reaches the point only through *where* the instruction's query looks, so
    the head cannot memorise layouts (the transformer decoder over cells with coordinates can).
    """

    def __init__(self, hidden: int, n_points: int, max_text: int, n_cameras: int, heads: int = 4) -> None:
        super().__init__(hidden, n_points, max_text, layers=1, heads=heads, text_query=True)
        self.n_cameras, self.heads = int(n_cameras), int(heads)
        self.key = nn.Linear(hidden, hidden)
        self.query = nn.Linear(hidden, hidden)
        n_geo = self.heads * self.n_cameras * 3
        self.out = nn.Sequential(nn.Linear(hidden + n_geo, 2 * hidden), nn.GELU(), nn.Linear(2 * hidden, 3))

    def forward(self, cells: torch.Tensor, text: torch.Tensor, text_valid: torch.Tensor,
                return_logits: bool = False) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Points ``[B, K, 3]``; with ``return_logits`` also the cell scores ``[B, K, heads, cells]``."""
        b, t = text.shape[:2]
        if t > self.text_pos.shape[0]:
            raise ValueError(f"text: {t} tokens exceed the grounding head's {self.text_pos.shape[0]}")
        w = text_valid.to(text.dtype)[..., None]
        mean = (text * w).sum(1) / w.sum(1).clamp(min=1.0)
        queries = self.queries.to(text.dtype)[None] + self.text_query(mean).view(b, self.n_points, -1)
        h = self.decoder(queries, text + self.text_pos[:t].to(text.dtype)[None],
                         memory_key_padding_mask=~text_valid.bool())  # [B, K, Hd]
        n, hd = cells.shape[1], cells.shape[2]
        m = n // self.n_cameras
        g = int(round(m ** 0.5))
        if self.n_cameras * m != n or g * g != m:
            raise ValueError(f"cells: expected {self.n_cameras} square grids, got {n} cells")
        dh = hd // self.heads
        q = self.query(h).view(b, self.n_points, self.heads, dh)
        k = self.key(cells.to(h.dtype)).view(b, n, self.heads, dh)
        logits = torch.einsum("bkhd,bnhd->bkhn", q, k).div(dh ** 0.5)  # [B, K, H, N]
        attn = logits.softmax(-1)
        idx = torch.arange(m, device=cells.device, dtype=attn.dtype)
        rows, cols = (idx // g + 0.5) / g, (idx % g + 0.5) / g
        per_cam = attn.view(b, self.n_points, self.heads, self.n_cameras, m)
        mass = per_cam.sum(-1)  # [B, K, H, C]
        denom = mass.clamp(min=1e-6)
        geo = torch.stack([mass, (per_cam * rows).sum(-1) / denom, (per_cam * cols).sum(-1) / denom], -1)
        points = self.out(torch.cat([h, geo.flatten(2)], -1))
        return (points, logits) if return_logits else points


def make_grounding_head(kind: str, hidden: int, n_points: int, max_text: int, n_cameras: int) -> GroundingHead:
    """The grounding head named by ``VLAConfig.ground_head``: ``decoder`` or ``spatial``."""
    if kind == "spatial":
        return SpatialGroundingHead(hidden, n_points, max_text, n_cameras)
    if kind == "decoder":
        return GroundingHead(hidden, n_points, max_text)
    raise ValueError(f"ground_head: expected 'decoder' or 'spatial', got {kind!r}")


def _stats(points: torch.Tensor, values: tuple[float, ...]) -> torch.Tensor:
    return torch.tensor(values, dtype=points.dtype, device=points.device).view(-1, 3)  # [1 or K, 3]


def normalize_points(points: torch.Tensor, mean: tuple[float, ...], std: tuple[float, ...]) -> torch.Tensor:
    """Metres ``[..., K, 3]`` -> the head's units (per-axis, optionally per-point standardization)."""
    return (points - _stats(points, mean)) / _stats(points, std)


def denormalize_points(points: torch.Tensor, mean: tuple[float, ...], std: tuple[float, ...]) -> torch.Tensor:
    return points * _stats(points, std) + _stats(points, mean)


def point_labels(points: torch.Tensor | np.ndarray, eef: torch.Tensor | np.ndarray, relative: bool):
    """Head labels ``[N, K', 3]`` from world points ``[N, K, 3]`` and end-effector positions ``[N, 3]``."""
    if not relative:
        return points
    cat = torch.cat if isinstance(points, torch.Tensor) else np.concatenate
    return cat([points, points - eef[:, None, :]], 1)
