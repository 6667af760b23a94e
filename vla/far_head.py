"""Join a trained VLA (decoder grounding head) and a spatial "far head" trained on top of it.

The decoder grounding head localizes the instructed object well once the gripper is near it
but poorly at the episode's start; a spatial head trained on the frozen model on the demos'
first frames (``vla train --init-from MAIN --ground-head spatial --train-only grounding.
ground_cells. --early-frames 6 --early-fraction 1``) does the opposite. :func:`attach_far_head`
puts both in one model (``VLAConfig.ground_switch_m``): the far head's points are used in rows
where it puts the object farther than the switch distance from the end-effector.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch
from transformers import PreTrainedTokenizerBase

from .action_tokenizer import ActionTokenizer
from .checkpoint import load_checkpoint
from .factory import from_config
from .model import VLAModel

#: the grounding head's modules in a checkpoint, and where they go in the joined model
HEAD_MODULES = {"grounding.": "grounding_far.", "ground_cells.": "ground_cells_far."}


def attach_far_head(main_dir: str | Path, far_dir: str | Path, switch_m: float = 0.10
                    ) -> tuple[VLAModel, PreTrainedTokenizerBase, ActionTokenizer]:
    """The model of ``main_dir`` with the spatial head of ``far_dir`` as its far head."""
    if switch_m <= 0:
        raise ValueError(f"switch_m: expected a distance > 0 (metres), got {switch_m}")
    main, tokenizer, act_tok = load_checkpoint(main_dir)
    far, _, _ = load_checkpoint(far_dir)
    if main.config.ground_head != "decoder" or main.config.ground_switch_m:
        raise ValueError(f"main_dir: expected a checkpoint with a decoder grounding head and no far head, "
                         f"got ground_head={main.config.ground_head!r}, ground_switch_m={main.config.ground_switch_m}")
    if far.config.ground_head != "spatial":
        raise ValueError(f"far_dir: expected a checkpoint with a spatial grounding head, got {far.config.ground_head!r}")
    if (far.config.ground_mean, far.config.ground_std) != (main.config.ground_mean, main.config.ground_std):
        raise ValueError("far_dir: its points are normalized differently from main_dir's (train it with --init-from main)")
    a, b = main.state_dict(), far.state_dict()
    shared = [k for k in a if not k.startswith(tuple(HEAD_MODULES))]
    moved = [k for k in shared if k not in b or not torch.equal(a[k], b[k])]
    if moved:
        raise ValueError(f"far_dir: its model differs from main_dir's outside the grounding head ({moved[:3]} ...): "
                         "train it on the frozen main model (--init-from main --train-only grounding. ground_cells.)")
    config = dataclasses.replace(main.config, ground_switch_m=float(switch_m))
    model = from_config(config)
    state = dict(a)
    for key, value in b.items():
        for src, dst in HEAD_MODULES.items():
            if key.startswith(src):
                state[dst + key[len(src):]] = value
    model.load_state_dict(state, strict=True)
    return model.eval(), tokenizer, act_tok
