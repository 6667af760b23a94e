"""Training examples: one per demonstration timestep, with the action chunk that starts there.

Chunks hold ``horizon`` actions from each timestep, padded at the end of a demonstration by
repeating its last action. Images are resized to the model's size once, at load time. Batches
are assembled from explicit indices, with all randomness (crop offsets, diffusion masking)
passed in, so that training is a pure function of (seed, step).
"""

from __future__ import annotations

import numpy as np
import torch
from transformers import PreTrainedTokenizerBase

from .action_tokenizer import ActionTokenizer
from .config import VLAConfig
from .grounding import point_labels
from .hdf5_demos import Demo
from .observation import crop_normalize, resize_uint8
from .text_tokenizer import encode_texts


def action_chunks(actions: np.ndarray, horizon: int) -> np.ndarray:
    """``[T, D]`` -> ``[T, horizon, D]``: chunk t = actions[t : t + horizon], last action repeated."""
    t = len(actions)
    idx = np.minimum(np.arange(t)[:, None] + np.arange(horizon)[None], t - 1)
    return actions[idx]


def _stack_resized(images: list[np.ndarray], size: int) -> torch.Tensor:
    """Every demo's frames resized into one preallocated ``[N, 3, size, size]`` uint8 tensor (no
    intermediate list of copies: peak memory is the demos plus the result)."""
    out = torch.empty(sum(len(x) for x in images), 3, size, size, dtype=torch.uint8)
    i = 0
    for x in images:
        out[i : i + len(x)] = resize_uint8(x, size)
        i += len(x)
    return out


class ChunkDataset:
    """All (observation, action chunk) examples of some demonstrations, in memory."""

    def __init__(self, demos: list[Demo], config: VLAConfig, tokenizer: PreTrainedTokenizerBase,
                 action_tokenizer: ActionTokenizer) -> None:
        if not demos:
            raise ValueError("demos: expected at least one demonstration")
        self.config = config
        self.images = {cam: _stack_resized([d.images[cam] for d in demos], config.image_size) for cam in config.cameras}
        proprio = np.concatenate([d.proprio for d in demos])
        if proprio.shape[1] != config.proprio_dim:
            raise ValueError(f"proprio: expected {config.proprio_dim} values per step, got {proprio.shape[1]}")
        self.proprio = torch.tensor(action_tokenizer.normalize_proprio(proprio), dtype=torch.float32)
        chunks = np.concatenate([action_chunks(d.actions, config.horizon) for d in demos])
        if chunks.shape[2] != config.action_dim:
            raise ValueError(f"actions: expected {config.action_dim} values per step, got {chunks.shape[2]}")
        self.chunks = chunks.astype(np.float32)
        flat = chunks.reshape(len(chunks), -1, config.action_dim)
        self.bins = torch.tensor(action_tokenizer.to_bins(flat).reshape(len(chunks), -1))
        self.norm = torch.tensor(action_tokenizer.normalize(flat).reshape(len(chunks), -1), dtype=torch.float32)
        texts = sorted({d.instruction for d in demos})
        self.instructions = texts
        ids, valid = encode_texts(tokenizer, texts, config.max_instruction_tokens)
        self.text_ids, self.text_valid = ids, valid
        self.points = None
        if config.ground_points:
            missing = [d.source for d in demos if d.points is None]
            if missing:
                raise ValueError(f"ground_points: the grounding head needs obs/target_pos and obs/goal_pos in every "
                                 f"demo; {len(missing)} lack them (first: {missing[0]}); re-collect with `vla collect`")
            pts = np.concatenate([d.points for d in demos])
            if pts.shape[1] < config.ground_points:
                raise ValueError(f"ground_points: expected <= {pts.shape[1]} recorded points, got {config.ground_points}")
            far = np.linalg.norm(pts[:, 0] - proprio[:, :3], axis=1) > config.ground_far_m
            self.point_weight = torch.tensor(np.where(far, 1.0 + config.ground_far_weight, config.ground_near_weight),
                                             dtype=torch.float32)
            pts = point_labels(pts[:, :config.ground_points], proprio[:, :3], config.ground_relative)
            self.points = torch.tensor(pts, dtype=torch.float32)
        #: each example's timestep within its demonstration (for sampling the episodes' starts)
        self.frame = torch.tensor(np.concatenate([np.arange(len(d.actions)) for d in demos]))
        lookup = {t: i for i, t in enumerate(texts)}
        self.text_index = torch.tensor(np.concatenate([[lookup[d.instruction]] * len(d.actions) for d in demos]))

    def __len__(self) -> int:
        return len(self.chunks)

    def batch(self, index: torch.Tensor, crop_offsets: torch.Tensor | None = None,
              noise: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Examples ``index [B]``; ``crop_offsets [B, C, 2]`` (None: centre crop); ``noise [B, L+1]``."""
        cams = []
        for c, cam in enumerate(self.config.cameras):
            offs = None if crop_offsets is None else crop_offsets[:, c]
            cams.append(crop_normalize(self.images[cam][index], self.config, offs))
        ti = self.text_index[index]
        out = {
            "pixels": torch.stack(cams, dim=1),
            "proprio": self.proprio[index],
            "text_ids": self.text_ids[ti],
            "text_valid": self.text_valid[ti],
            "action_bins": self.bins[index],
            "action_norm": self.norm[index],
        }
        if noise is not None:
            out["noise"] = noise
        if self.points is not None:
            out["points"] = self.points[index]
            out["point_weight"] = self.point_weight[index]
        return out


def sample_batch(dataset: ChunkDataset, g: torch.Generator, batch_size: int, rows: torch.Tensor,
                 train: bool = True, early_frames: int = 0, early_fraction: float = 0.0,
                 full_mask_fraction: float = 0.0) -> dict[str, torch.Tensor]:
    """Draw a global batch's randomness from ``g`` and build only its ``rows`` (data parallel).

    Every rank draws the same numbers, so a global batch is the same whatever the world size.
    With ``early_frames`` N > 0, the first ``round(early_fraction * batch_size)`` examples are drawn
    from the first N timesteps of the demonstrations only (the episodes' starts, where the gripper
    is far from everything and the images alone say where the named object is).
    With ``full_mask_fraction`` F > 0, a share F of the examples (drawn independently) gets noise
    level 0, i.e. every action token masked: the one input that one-pass decoding sees.
    """
    cfg = dataset.config
    index = torch.randint(len(dataset), (batch_size,), generator=g)
    n_early = round(early_fraction * batch_size) if early_frames > 0 else 0
    if n_early:
        early = torch.nonzero(dataset.frame < early_frames).squeeze(1)
        index[:n_early] = early[torch.randint(len(early), (n_early,), generator=g)]
    offsets = torch.rand(batch_size, len(cfg.cameras), 2, generator=g)
    noise = torch.rand(batch_size, cfg.action_tokens + 1, generator=g)
    out = dataset.batch(index[rows], offsets[rows] if train else None, noise[rows])
    if dataset.points is not None:  # drawn last: runs without a grounding head keep their numbers
        point_noise = torch.randn(batch_size, cfg.ground_head_points, 3, generator=g)
        teacher = torch.rand(batch_size, generator=g)
        out["point_noise"] = point_noise[rows]
        out["point_teacher"] = teacher[rows] if train else torch.ones(len(rows))
    if full_mask_fraction > 0:  # drawn after everything else: runs without it keep their numbers
        full = torch.rand(batch_size, generator=g) < full_mask_fraction
        level = out["noise"].clone()
        level[full[rows], 0] = 0.0  # masked_count(0, L) = L
        out["noise"] = level
    return out
