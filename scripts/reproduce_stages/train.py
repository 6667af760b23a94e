"""Stage 2, train: every head on the same demos, backbone, steps and seed -> ``<out>/train/<head>``.

The heads' ``vla train`` commands differ only in ``--head``. A head with a ``model.safetensors``
is finished; a killed training continues from its last checkpoint (``--resume``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

#: the action heads compared, in the report's order
HEADS = ("diffusion", "ar", "l1")


def train_argv(args: argparse.Namespace, head: str, demos: Path, out: Path) -> list[str]:
    """The ``vla train`` command of one head: everything but the head is shared."""
    argv = ["--data", str(demos), "--out", str(out), "--preset", "tiny", "--head", head, "--horizon", "8",
            "--image-size", str(args.image_size), "--hidden-size", str(args.hidden_size), "--layers", str(args.layers),
            "--heads", "4", "--vision-arch", args.vision_arch, "--vision-layers", str(args.vision_layers),
            "--image-pool", str(args.image_pool), "--image-coords", str(args.image_coords),
            "--prefix-order", args.prefix_order, *(["--action-slot-embed"] if args.action_slot_embed else []),
            "--n-bins", str(args.n_bins), "--binary-gripper", "--steps", str(args.steps),
            "--crop-area", str(args.crop_area), "--ground-points", str(args.ground_points),
            *(["--ground-relative"] if args.ground_relative and args.ground_points else []),
            "--batch-size", str(args.batch_size), "--lr", str(args.lr), "--warmup-steps", str(min(100, args.steps // 10)),
            "--seed", str(args.seed), "--save-every", str(max(1, min(500, args.steps))), "--keep-checkpoints", "1",
            "--log-every", str(max(1, min(50, args.steps)))]
    return argv + (["--no-progress"] if args.no_progress else [])


def stage_train(args: argparse.Namespace, head: str, demos: Path, out: Path) -> list[str]:
    """Train ``head`` into ``out`` unless it is finished; returns its ``vla train`` command (for the report)."""
    argv = train_argv(args, head, demos, out)
    if not (out / "model.safetensors").exists():
        from vla.train_cli import main as train_main

        rc = train_main(argv + ["--resume"])  # continues from a checkpoint if there is one
        if rc != 0:
            raise RuntimeError(f"training the {head} head failed (exit {rc}): vla train {' '.join(argv)}")
    return argv
