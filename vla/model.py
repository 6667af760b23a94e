"""The VLA network: vision tower + projector, proprio token, instruction tokens and an action
block of H x D tokens run through one `transformers` causal LM with a custom 4D attention mask.

Sequence layout (per row): ``[camera tokens | proprio token | instruction tokens (right
padded) | block]``, or with ``config.prefix_order == "text_first"`` ``[instruction tokens |
proprio token | camera tokens | block]`` so that image tokens can attend to the instruction. The prefix attends causally (padding keys masked), so its KV cache is
computed once per observation. The block (action tokens, or generated text) attends to every
valid prefix position and, within itself, bidirectionally (``diffusion`` / ``l1`` / masked text)
or causally (``ar`` / autoregressive text). Position ids skip padding.

Heads (``config.head``):
* ``diffusion``: block = action bins with some replaced by [MASK]; cross-entropy on masked
  positions, n = max(1, round(cos(pi r / 2) L)) masked, r ~ U[0, 1).
* ``ar``: block = [ACT] a_0 .. a_{L-2}, causal, teacher-forced cross-entropy on a_0 .. a_{L-1}.
* ``l1``: block = L [MASK] tokens, one pass, an MLP regresses the normalized action (L1 loss).
"""

from __future__ import annotations

import copy
import inspect
import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .backbone import vision_width
from .config import VLAConfig
from .grounding import denormalize_points, make_grounding_head, normalize_points
from .soft_labels import soft_token_ce


@dataclass
class Prefix:
    """Embedded observation prefix of a batch."""

    embeds: torch.Tensor  # [B, P, Hd]
    valid: torch.Tensor  # [B, P] bool
    #: the grounding head's points ``[B, K, 3]`` (normalized units), None without one
    points: torch.Tensor | None = None

    @property
    def pos(self) -> torch.Tensor:
        return (self.valid.long().cumsum(-1) - 1).clamp(min=0)

    @property
    def n_valid(self) -> torch.Tensor:
        return self.valid.long().sum(-1)

    @property
    def length(self) -> int:
        return int(self.embeds.shape[1])


def fork_cache(cache: Any) -> Any:
    """A copy of a `transformers` cache that can be extended without changing ``cache``."""
    new = copy.copy(cache)
    if hasattr(cache, "layers"):
        new.layers = [copy.copy(layer) for layer in cache.layers]
    return new


def crop_cache(cache: Any, length: int) -> None:
    """Keep the first ``length`` positions of a `transformers` cache (in place)."""
    extra = int(cache.get_seq_length()) - length
    if extra > 0:
        cache.crop(-extra)


def masked_count(r: torch.Tensor, length: int) -> torch.Tensor:
    """Number of masked positions n = max(1, round(cos(pi r / 2) L)) for ``r`` in [0, 1)."""
    return torch.clamp(torch.round(torch.cos(math.pi * r / 2) * length), min=1).long()


def grid_coord_features(n: int, dim: int) -> torch.Tensor:
    """``[1, n, dim]`` fixed sin-cos features of the (row, column) of each cell of a square grid.

    Half of ``dim`` encodes the row, half the column, each as sin / cos at ``dim / 4`` octave
    frequencies of the cell centre in [0, 1]; a non-square token count gets the flat index as row.
    """
    g = int(math.isqrt(n))
    idx = torch.arange(n, dtype=torch.float32)
    if g * g == n:
        rows, cols = (idx // g + 0.5) / g, (idx % g + 0.5) / g
    else:
        rows, cols = (idx + 0.5) / n, torch.full_like(idx, 0.5)
    freqs = math.pi * 2.0 ** torch.arange(dim // 4, dtype=torch.float32)
    parts = []
    for v in (rows, cols):
        ang = v[:, None] * freqs[None]
        parts += [torch.sin(ang), torch.cos(ang)]
    return torch.cat(parts, dim=-1)[None]


class VLAModel(nn.Module):
    """Vision-language-action model over a `transformers` vision tower and causal LM."""

    def __init__(self, config: VLAConfig, vision: nn.Module, lm: nn.Module) -> None:
        super().__init__()
        self.config = config
        self.vision = vision
        self.lm = lm
        hv = vision_width(vision.config)
        hd = int(lm.config.hidden_size)
        self.projector = nn.Sequential(nn.Linear(hv + int(config.image_coord_features), hd), nn.GELU(),
                                       nn.Linear(hd, hd))
        self.camera_embed = nn.Parameter(torch.randn(len(config.cameras), hd) * 0.02)
        self.proprio_proj = nn.Sequential(nn.Linear(config.proprio_dim, hd), nn.GELU(), nn.Linear(hd, hd))
        if config.action_slot_embed:
            self.action_slot = nn.Parameter(torch.randn(config.action_tokens, hd) * 0.02)
        if config.ground_points:
            fine = int(vision.config.hidden_sizes[0]) if getattr(vision.config, "hidden_sizes", None) else hv
            # the spatial head scores cells by content alone (position enters through where it looks)
            self.ground_coords = 0 if config.ground_head == "spatial" else int(config.image_coord_features) or 16
            self.ground_cells = nn.Linear(fine + self.ground_coords, hd)
            self.grounding = make_grounding_head(config.ground_head, hd, config.ground_head_points,
                                                 int(config.max_instruction_tokens), len(config.cameras))
            if config.ground_switch_m:  # the far head: spatial, content-only cells
                self.ground_cells_far = nn.Linear(fine, hd)
                self.grounding_far = make_grounding_head("spatial", hd, config.ground_head_points,
                                                         int(config.max_instruction_tokens), len(config.cameras))
        if config.head == "l1":
            self.l1_head = nn.Sequential(nn.Linear(hd, hd), nn.GELU(), nn.Linear(hd, 1))
        params = inspect.signature(inspect.unwrap(lm.base_model.forward)).parameters
        self._cache_kw = "cache" if "cache" in params else "past_key_values"

    # ------------------------------------------------------------------ prefix
    def _camera_cells(self, cells: torch.Tensor, b: int, c: int) -> torch.Tensor:
        """``[B*C, M, Hd]`` -> ``[B, C*M, Hd]`` with each camera's embedding added."""
        cells = cells.reshape(b, c, cells.shape[1], -1) + self.camera_embed[None, :, None, :].to(cells.dtype)
        return cells.flatten(1, 2)

    def ground(self, cells: torch.Tensor | tuple[torch.Tensor, torch.Tensor], text: torch.Tensor,
               text_valid: torch.Tensor) -> torch.Tensor:
        """The grounding head's points ``[B, K', 3]`` (normalized). With a far head: its points in
        rows where it puts the instructed object farther than ``ground_switch_m`` from the
        end-effector (the episode's start, where the main head is weakest), the main head's elsewhere."""
        if not isinstance(cells, tuple):
            return self.grounding(cells, text, text_valid)
        cfg = self.config
        near = self.grounding(cells[0], text, text_valid)
        far = self.grounding_far(cells[1], text, text_valid)
        rel = denormalize_points(far.float(), cfg.ground_mean, cfg.ground_std)[:, cfg.ground_points]  # object - eef
        use_far = rel.norm(dim=-1) > cfg.ground_switch_m
        return torch.where(use_far[:, None, None], far, near)

    def encode_images(self, pixels: torch.Tensor, with_cells: bool = False
                      ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """``pixels [B, C, 3, S, S]`` (normalized) -> image tokens ``[B, C * N, Hd]``.

        ``with_cells``: also the grounding head's cells ``[B, C * M, Hd]`` from the finest feature
        map (a ResNet's first stage, stride 4; a ViT's patch tokens) with grid coordinates; with a
        far head (``ground_switch_m``) a pair (main head's cells, far head's content-only cells).
        """
        b, c = pixels.shape[:2]
        out = self.vision(pixel_values=pixels.flatten(0, 1), output_hidden_states=with_cells)
        feats = out.last_hidden_state  # [B*C, Np, Hv]
        cells = None
        if with_cells:
            fine = out.hidden_states[-2] if feats.dim() == 4 else feats
            if fine.dim() == 4:
                fine = fine.flatten(2).transpose(1, 2)
            content = fine
            if self.ground_coords:
                coords = grid_coord_features(fine.shape[1], self.ground_coords).to(fine)
                fine = torch.cat([fine, coords.expand(fine.shape[0], -1, -1)], dim=-1)
            cells = self._camera_cells(self.ground_cells(fine), b, c)
            if self.config.ground_switch_m:
                cells = (cells, self._camera_cells(self.ground_cells_far(content), b, c))
        if feats.dim() == 4:  # a convolutional tower: [B*C, Hv, h, w] feature map -> one token per cell
            feats = feats.flatten(2).transpose(1, 2)
        n = feats.shape[1]
        g = int(math.isqrt(n))
        if g * g != n:  # a class token first (CLIP-style)
            feats = feats[:, 1:]
            n -= 1
            g = int(math.isqrt(n))
        pool = self.config.image_pool
        if g * g == n and pool > 1 and g % pool == 0:
            grid = feats.transpose(1, 2).reshape(feats.shape[0], -1, g, g)
            feats = F.avg_pool2d(grid, pool).flatten(2).transpose(1, 2)
        if self.config.image_coord_features:
            coords = grid_coord_features(feats.shape[1], self.config.image_coord_features)
            feats = torch.cat([feats, coords.to(feats).expand(feats.shape[0], -1, -1)], dim=-1)
        tokens = self.projector(feats)
        tokens = tokens.reshape(b, c, tokens.shape[1], -1) + self.camera_embed[None, :, None, :].to(tokens.dtype)
        if with_cells:
            return tokens.flatten(1, 2), cells
        return tokens.flatten(1, 2)

    def embed_tokens(self, ids: torch.Tensor) -> torch.Tensor:
        return self.lm.get_input_embeddings()(ids)

    def embed_block(self, ids: torch.Tensor, start: int = 0) -> torch.Tensor:
        """Action-block ids ``[B, q]`` at block slots ``start .. start+q`` -> embeddings.

        Token embeddings, plus the slot embedding when ``config.action_slot_embed`` (slot i of
        the AR block is the input that predicts action token i).
        """
        emb = self.embed_tokens(ids)
        if self.config.action_slot_embed:
            q = ids.shape[1]
            if start + q > self.action_slot.shape[0]:
                raise ValueError(f"action block: slots {start}..{start + q} exceed the {self.action_slot.shape[0]} "
                                 "action tokens")
            emb = emb + self.action_slot[start:start + q].to(emb.dtype)[None]
        return emb

    def encode_prefix(
        self, pixels: torch.Tensor, proprio: torch.Tensor, text_ids: torch.Tensor, text_valid: torch.Tensor,
        point_tokens: torch.Tensor | None = None,
    ) -> Prefix:
        """Embed images, proprio (normalized) and right-padded instruction ids into a prefix.

        With a grounding head the prefix also holds its K point tokens (just before proprio) and
        ``Prefix.points``; ``point_tokens [B, K, 3]`` (normalized, training only) replaces the
        points the tokens are made from, row by row where not NaN (teacher forcing).
        """
        k = self.config.ground_head_points
        if k:
            img, cells = self.encode_images(pixels, with_cells=True)
        else:
            img, cells = self.encode_images(pixels), None
        prop = self.proprio_proj(proprio.to(img.dtype))[:, None]
        txt = self.embed_tokens(text_ids).to(img.dtype)
        b = img.shape[0]
        text_valid = text_valid.to(img.device).bool()
        points = None
        if k:
            points = self.ground(cells, txt, text_valid)
            src = points.detach()
            if point_tokens is not None:
                src = torch.where(torch.isnan(point_tokens), src, point_tokens.to(src.dtype))
            prop = torch.cat([self.grounding.tokens(src), prop], dim=1)
        ones = torch.ones(b, img.shape[1] + prop.shape[1], dtype=torch.bool, device=img.device)
        if self.config.prefix_order == "text_first":
            return Prefix(torch.cat([txt, prop, img], dim=1), torch.cat([text_valid, ones], dim=1), points)
        return Prefix(torch.cat([img, prop, txt], dim=1), torch.cat([ones, text_valid], dim=1), points)

    def ground_inputs(self, batch: dict[str, torch.Tensor]) -> torch.Tensor | None:
        """Teacher-forced point tokens of a training batch (NaN rows use the head's prediction).

        ``batch``: ``points [B, K, 3]`` (metres), ``point_noise [B, K, 3]`` standard normal and
        ``point_teacher [B]`` uniform in [0, 1).
        """
        cfg = self.config
        if not cfg.ground_points or "points" not in batch:
            return None
        noisy = batch["points"] + cfg.ground_label_noise * batch["point_noise"]
        norm = normalize_points(noisy, cfg.ground_mean, cfg.ground_std)
        teach = (batch["point_teacher"] < cfg.ground_teacher_forcing)[:, None, None]
        return torch.where(teach, norm, torch.full_like(norm, float("nan")))

    def ground_loss(self, prefix: Prefix, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Per-sample grounding loss ``[B]`` (smooth L1 in normalized units, times ``point_weight``
        when the batch has one; 0 without labels)."""
        cfg = self.config
        if prefix.points is None or "points" not in batch:
            return torch.zeros(prefix.embeds.shape[0], device=prefix.embeds.device)
        target = normalize_points(batch["points"].to(prefix.points.dtype), cfg.ground_mean, cfg.ground_std)
        loss = F.smooth_l1_loss(prefix.points.float(), target.float(), reduction="none", beta=0.1).mean((1, 2))
        return loss * batch["point_weight"].to(loss) if "point_weight" in batch else loss

    # ------------------------------------------------------------------ masks
    @staticmethod
    def prefix_mask(valid: torch.Tensor) -> torch.Tensor:
        """``[B, P, P]``: causal over valid keys; every query sees itself."""
        p = valid.shape[1]
        causal = torch.ones(p, p, dtype=torch.bool, device=valid.device).tril()
        eye = torch.eye(p, dtype=torch.bool, device=valid.device)
        return (causal[None] & valid[:, None, :]) | eye[None]

    @staticmethod
    def block_mask(valid: torch.Tensor, start: int, q: int, causal: bool) -> torch.Tensor:
        """``[B, q, P + start + q]`` for block queries ``start .. start+q`` after the prefix."""
        b = valid.shape[0]
        pre = valid[:, None, :].expand(b, q, valid.shape[1])
        if causal:
            blk = torch.ones(q, start + q, dtype=torch.bool, device=valid.device).tril(start)
        else:
            blk = torch.ones(q, start + q, dtype=torch.bool, device=valid.device)
        return torch.cat([pre, blk[None].expand(b, q, start + q)], dim=2)

    def _attn(self, mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        mask = mask[:, None]
        if getattr(self.lm.config, "_attn_implementation", "sdpa") == "sdpa":
            return mask
        return torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill(~mask, torch.finfo(dtype).min)

    def run_lm(self, embeds: torch.Tensor, pos: torch.Tensor, mask: torch.Tensor, cache: Any = None,
               use_cache: bool = False) -> tuple[torch.Tensor, Any]:
        """Run the LM body on ``embeds [B, Q, Hd]`` with a bool mask ``[B, Q, K]``."""
        kw = {self._cache_kw: cache} if cache is not None else {}
        out = self.lm.base_model(inputs_embeds=embeds, attention_mask=self._attn(mask, embeds.dtype),
                                 position_ids=pos, use_cache=use_cache or cache is not None, **kw)
        new_cache = out.cache if self._cache_kw == "cache" else out.past_key_values
        return out.last_hidden_state, new_cache

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.lm.get_output_embeddings()(hidden)

    # ------------------------------------------------------------------ passes
    def run_full(self, prefix: Prefix, block: torch.Tensor, causal: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """Prefix + block embeddings ``[B, L, Hd]`` in one pass -> (prefix hidden, block hidden)."""
        p, n = prefix.length, block.shape[1]
        top = torch.cat([self.prefix_mask(prefix.valid),
                         torch.zeros(block.shape[0], p, n, dtype=torch.bool, device=block.device)], dim=2)
        mask = torch.cat([top, self.block_mask(prefix.valid, 0, n, causal)], dim=1)
        pos = torch.cat([prefix.pos, prefix.n_valid[:, None] + torch.arange(n, device=block.device)[None]], dim=1)
        hidden, _ = self.run_lm(torch.cat([prefix.embeds, block.to(prefix.embeds.dtype)], dim=1), pos, mask)
        return hidden[:, :p], hidden[:, p:]

    def run_prefix(self, prefix: Prefix) -> tuple[torch.Tensor, Any]:
        """The prefix alone -> (hidden ``[B, P, Hd]``, KV cache of the prefix)."""
        return self.run_lm(prefix.embeds, prefix.pos, self.prefix_mask(prefix.valid), use_cache=True)

    def run_block(self, prefix: Prefix, block: torch.Tensor, start: int, cache: Any, causal: bool) -> torch.Tensor:
        """Block embeddings at block positions ``start ..`` against ``cache`` (extended in place)."""
        q = block.shape[1]
        pos = prefix.n_valid[:, None] + start + torch.arange(q, device=block.device)[None]
        hidden, _ = self.run_lm(block.to(prefix.embeds.dtype), pos, self.block_mask(prefix.valid, start, q, causal),
                                cache=cache)
        return hidden

    # ------------------------------------------------------------------ training
    def action_losses(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Per-sample action loss ``[B]`` for the configured head.

        ``batch``: ``pixels [B,C,3,S,S]``, ``proprio [B,P]``, ``text_ids`` / ``text_valid [B,T]``,
        ``action_bins [B,L]`` (bin indices), ``action_norm [B,L]`` (normalized values) and, for
        the diffusion head, ``noise [B, L+1]`` uniform numbers (r and the masking order).
        """
        cfg = self.config
        prefix = self.encode_prefix(batch["pixels"], batch["proprio"], batch["text_ids"], batch["text_valid"],
                                    self.ground_inputs(batch))
        aux = cfg.ground_loss_weight * self.ground_loss(prefix, batch) if cfg.ground_points else 0.0
        bins = batch["action_bins"]
        b, n = bins.shape
        tokens = bins + cfg.action_token_offset
        if cfg.head == "diffusion":
            noise = batch["noise"]
            count = masked_count(noise[:, 0], n)
            rank = noise[:, 1:].argsort(dim=1).argsort(dim=1)
            masked = rank < count[:, None]
            inp = tokens.masked_fill(masked, cfg.mask_token_id)
            _, h = self.run_full(prefix, self.embed_block(inp), causal=False)
            ce = self.token_ce(self.logits(h), tokens, batch)  # [B, L]
            return (ce * masked).sum(1) / masked.sum(1) + aux
        if cfg.head == "ar":
            start = torch.full((b, 1), cfg.action_start_id, dtype=torch.long, device=bins.device)
            inp = torch.cat([start, tokens[:, :-1]], dim=1)
            _, h = self.run_full(prefix, self.embed_block(inp), causal=True)
            return self.token_ce(self.logits(h), tokens, batch).mean(1) + aux
        pred = self.predict_l1(prefix)
        return (pred - batch["action_norm"].to(pred.dtype)).abs().float().mean(1) + aux

    def token_ce(self, logits: torch.Tensor, tokens: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Per-token cross-entropy ``[B, L]``: one-hot bins, or soft ones (``bin_label_sigma`` > 0)."""
        cfg = self.config
        if not cfg.bin_label_sigma:
            return F.cross_entropy(logits.float().transpose(1, 2), tokens, reduction="none")
        hard = None
        if cfg.binary_gripper:
            hard = torch.zeros(tokens.shape[1], dtype=torch.bool, device=tokens.device)
            hard[cfg.action_dim - 1::cfg.action_dim] = True
        return soft_token_ce(logits, tokens, batch["action_norm"], cfg.action_token_offset, cfg.n_bins,
                             float(cfg.bin_label_sigma), hard)

    def predict_l1(self, prefix: Prefix) -> torch.Tensor:
        """``l1`` head: normalized actions ``[B, L]`` in one pass."""
        b = prefix.embeds.shape[0]
        ids = torch.full((b, self.config.action_tokens), self.config.mask_token_id, dtype=torch.long,
                         device=prefix.embeds.device)
        _, h = self.run_full(prefix, self.embed_block(ids), causal=False)
        return self.l1_head(h).squeeze(-1)

    def text_losses(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Per-sample text loss ``[B]``: autoregressive CE plus masked-diffusion CE on the answer.

        ``batch``: the prefix fields (``text_ids`` is the prompt) plus ``answer_ids [B, T]`` (ending
        with EOS, padded with EOS) and ``answer_noise [B, T+1]``.
        """
        cfg = self.config
        prefix = self.encode_prefix(batch["pixels"], batch["proprio"], batch["text_ids"], batch["text_valid"])
        ans = batch["answer_ids"]
        b, n = ans.shape
        # autoregressive: the last valid prompt position predicts the first answer token
        hp, h = self.run_full(prefix, self.embed_tokens(ans[:, :-1]), causal=True) if n > 1 else (None, None)
        if hp is None:
            hp, _ = self.run_full(prefix, self.embed_tokens(ans[:, :0]), causal=True)
        last = hp[torch.arange(b, device=ans.device), prefix.n_valid - 1][:, None]
        hid = last if h is None else torch.cat([last, h], dim=1)
        ar = F.cross_entropy(self.logits(hid).float().transpose(1, 2), ans, reduction="none").mean(1)
        # masked diffusion over the answer block
        noise = batch["answer_noise"]
        count = masked_count(noise[:, 0], n)
        masked = noise[:, 1:].argsort(dim=1).argsort(dim=1) < count[:, None]
        _, hm = self.run_full(prefix, self.embed_tokens(ans.masked_fill(masked, cfg.mask_token_id)), causal=False)
        ce = F.cross_entropy(self.logits(hm).float().transpose(1, 2), ans, reduction="none")
        return ar + (ce * masked).sum(1) / masked.sum(1)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Per-sample training loss ``[B]``: action loss and/or text loss, by the keys of ``batch``."""
        if "action_bins" not in batch and "answer_ids" not in batch:
            raise ValueError("batch: expected 'action_bins' (action chunks) and/or 'answer_ids' (text answers)")
        loss = self.action_losses(batch) if "action_bins" in batch else 0.0
        if "answer_ids" in batch:
            loss = loss + self.text_losses(batch)
        return loss
