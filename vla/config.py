"""VLA model configuration (`VLAConfig`) and the named presets `tiny` and `pretrained`.

The config is a plain dataclass saved as ``config.json`` in a checkpoint. The `transformers`
configs of the vision tower and the language model are stored inside it (``vision_config`` /
``language_config``, each a ``to_dict()`` with its ``model_type``), so a checkpoint rebuilds
its modules without the original paths.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

HEADS = ("diffusion", "ar", "l1")
PRESETS = ("tiny", "pretrained")
PREFIX_ORDERS = ("images_first", "text_first")
VISION_ARCHS = ("siglip", "resnet")


@dataclass
class VLAConfig:
    """Everything that defines a VLA model (architecture, action space, head)."""

    preset: str = "tiny"
    head: str = "diffusion"
    #: action chunk: ``horizon`` steps of ``action_dim`` values (H x D action tokens)
    horizon: int = 8
    action_dim: int = 7
    proprio_dim: int = 8
    #: action tokenizer
    n_bins: int = 256
    normalization: str = "q99"  # "q99" (q01/q99 -> [-1, 1], OpenVLA) or "mean_std"
    binary_gripper: bool = False
    #: images: cameras fed to the model, square input size, crop area used by augmentation
    cameras: tuple[str, ...] = ("agentview_rgb", "eye_in_hand_rgb")
    image_size: int = 64
    crop_area: float = 0.9
    image_mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    image_std: tuple[float, float, float] = (0.5, 0.5, 0.5)
    #: average-pool the patch grid by this factor before projecting (fewer image tokens)
    image_pool: int = 2
    #: fixed 2-D sin-cos features of each image token's grid cell, appended to the projector's
    #: input (CoordConv-style); 0 disables. Gives the LM the patch location linearly.
    image_coord_features: int = 0
    max_instruction_tokens: int = 32
    #: prefix layout: "images_first" [images | proprio | text] (OpenVLA) or "text_first"
    #: [text | proprio | images], where the causal prefix lets image tokens read the instruction
    prefix_order: str = "images_first"
    #: vision tower of the tiny preset: "siglip" (ViT, 8x8 patches) or "resnet" (a small
    #: `transformers` ResNet whose stride-8 feature map gives one token per 8x8 cell)
    vision_arch: str = "siglip"
    #: add a learned embedding per action-block slot (H x D positions) to the block's token
    #: embeddings, so that a [MASK] knows which step and dimension it stands for without having
    #: to infer it from rotary positions alone
    action_slot_embed: bool = False
    #: grounding head (``vla.grounding``): K points (target object, goal) regressed from the
    #: instruction and fine image features, supervised with the demos' privileged positions and
    #: fed to the LM as K prefix tokens; 0 disables
    ground_points: int = 0
    #: also regress each point relative to the end-effector (label: point - eef position), which
    #: is what the wrist camera sees directly and what the arm must close; doubles the points
    ground_relative: bool = False
    #: mean / std (metres) of the point labels, 3 values (all points) or 3 per head point (set
    #: from the training data)
    ground_mean: tuple[float, ...] = (0.0, 0.0, 0.0)
    ground_std: tuple[float, ...] = (1.0, 1.0, 1.0)
    ground_loss_weight: float = 1.0
    #: fraction of training rows whose point tokens are the (noisy) true points
    ground_teacher_forcing: float = 0.5
    #: std (metres) of the noise added to teacher-forced points
    ground_label_noise: float = 0.01
    #: extra grounding-loss weight on frames whose end-effector is farther than ``ground_far_m``
    #: from the instructed object (weight ``1 + ground_far_weight`` there). Most demo frames have
    #: the gripper next to the object, so without it the head learns "the object is where the
    #: gripper is" and fails on the first frames of an episode, where it matters most
    #: "decoder" (transformer decoder over [text | cells]) or "spatial" (soft-argmax over cells)
    ground_head: str = "decoder"
    ground_far_weight: float = 0.0
    ground_far_m: float = 0.10
    #: grounding-loss weight of the other (near) frames; 0 trains the head on far frames only,
    #: where the gripper's own position is no cue to the object's
    ground_near_weight: float = 1.0
    #: > 0: a second, spatial head for the episode's start ("far head"); its points replace the
    #: main head's in rows where it puts the instructed object farther than this (metres) from
    #: the end-effector. Needs ``ground_relative`` and a ``decoder`` main head
    #: (``scripts/attach_far_head.py`` joins a trained model and a spatial head trained on it)
    ground_switch_m: float = 0.0
    #: token heads' training labels: 0 one-hot bins; s > 0 a Gaussian of s bin widths around the
    #: true value, binned (HL-Gauss, :mod:`vla.soft_labels`; binary gripper stays one-hot)
    bin_label_sigma: float = 0.0
    #: size of the text vocabulary before the action tokens (set when the model is built)
    text_vocab_size: int = 0
    #: `transformers` configs (``to_dict()`` with ``model_type``) of the two towers
    vision_config: dict[str, Any] = field(default_factory=dict)
    language_config: dict[str, Any] = field(default_factory=dict)
    #: where a `pretrained` preset was loaded from (informational)
    vision_path: str = ""
    language_path: str = ""

    def __post_init__(self) -> None:
        if self.head not in HEADS:
            raise ValueError(f"head: expected one of {HEADS}, got {self.head!r}")
        if self.preset not in PRESETS:
            raise ValueError(f"preset: expected one of {PRESETS}, got {self.preset!r}")
        if self.normalization not in ("q99", "mean_std"):
            raise ValueError(f"normalization: expected 'q99' or 'mean_std', got {self.normalization!r}")
        for name in ("horizon", "action_dim", "proprio_dim", "image_size", "image_pool"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name}: expected a positive integer, got {getattr(self, name)!r}")
        if int(self.image_coord_features) < 0 or int(self.image_coord_features) % 4:
            raise ValueError(f"image_coord_features: expected 0 or a positive multiple of 4, got {self.image_coord_features!r}")
        if self.prefix_order not in PREFIX_ORDERS:
            raise ValueError(f"prefix_order: expected one of {PREFIX_ORDERS}, got {self.prefix_order!r}")
        if self.vision_arch not in VISION_ARCHS:
            raise ValueError(f"vision_arch: expected one of {VISION_ARCHS}, got {self.vision_arch!r}")
        if self.n_bins < 2:
            raise ValueError(f"n_bins: expected >= 2, got {self.n_bins}")
        if float(self.bin_label_sigma) < 0:
            raise ValueError(f"bin_label_sigma: expected >= 0 (0: one-hot bins), got {self.bin_label_sigma!r}")
        if int(self.ground_points) < 0:
            raise ValueError(f"ground_points: expected >= 0, got {self.ground_points!r}")
        if float(self.ground_far_weight) < 0 or float(self.ground_far_m) < 0 or float(self.ground_near_weight) < 0:
            raise ValueError(f"ground_far_weight / ground_far_m / ground_near_weight: expected >= 0, got "
                             f"{self.ground_far_weight!r} / {self.ground_far_m!r} / {self.ground_near_weight!r}")
        if float(self.ground_switch_m) < 0 or (self.ground_switch_m and not (
                self.ground_points and self.ground_relative and self.ground_head == "decoder")):
            raise ValueError(f"ground_switch_m: expected 0, or > 0 with ground_points, ground_relative and the decoder "
                             f"head, got {self.ground_switch_m!r} (ground_head {self.ground_head!r})")
        if not 0.0 <= float(self.ground_teacher_forcing) <= 1.0:
            raise ValueError(f"ground_teacher_forcing: expected a fraction in [0, 1], got {self.ground_teacher_forcing!r}")
        self.ground_mean = tuple(float(x) for x in self.ground_mean)
        self.ground_std = tuple(float(x) for x in self.ground_std)
        if (len(self.ground_mean) % 3 or len(self.ground_mean) != len(self.ground_std)
                or min(self.ground_std, default=1.0) <= 0):
            raise ValueError("ground_mean / ground_std: expected 3 values (or 3 per point) each, std > 0")
        self.cameras = tuple(self.cameras)
        self.image_mean = tuple(float(x) for x in self.image_mean)
        self.image_std = tuple(float(x) for x in self.image_std)

    # token layout: [text vocab | n_bins action bins | MASK | ACTION_START]
    @property
    def action_token_offset(self) -> int:
        return self.text_vocab_size

    @property
    def mask_token_id(self) -> int:
        return self.text_vocab_size + self.n_bins

    @property
    def action_start_id(self) -> int:
        return self.text_vocab_size + self.n_bins + 1

    @property
    def vocab_size(self) -> int:
        return self.text_vocab_size + self.n_bins + 2

    @property
    def ground_head_points(self) -> int:
        """Points the grounding head regresses: ``ground_points``, doubled with ``ground_relative``."""
        return int(self.ground_points) * (2 if self.ground_relative else 1)

    @property
    def action_tokens(self) -> int:
        """Length of the action block, L = H * D."""
        return self.horizon * self.action_dim

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["cameras"] = list(self.cameras)
        d["image_mean"] = list(self.image_mean)
        d["image_std"] = list(self.image_std)
        d["ground_mean"] = list(self.ground_mean)
        d["ground_std"] = list(self.ground_std)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> VLAConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"config: unknown fields {unknown}")
        return cls(**d)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2))

    @classmethod
    def load(cls, path: str | Path) -> VLAConfig:
        return cls.from_dict(json.loads(Path(path).read_text()))


#: default sizes of the `tiny` preset (a few million parameters; trains on 2 CPU cores)
TINY_VISION = dict(patch_size=8, hidden_size=128, num_hidden_layers=2, num_attention_heads=4, intermediate_size=256)
#: tiny ResNet: stem (stride 4) + two basic-block stages (the second strides 2) -> stride 8
TINY_RESNET = dict(embedding_size=32, hidden_sizes=[32, 64], depths=[1, 1], layer_type="basic",
                   downsample_in_first_stage=False)
TINY_LANGUAGE = dict(hidden_size=192, num_hidden_layers=4, num_attention_heads=6, num_key_value_heads=2,
                     intermediate_size=512, max_position_embeddings=512)
