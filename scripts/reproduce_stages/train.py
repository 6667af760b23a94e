"""Stage 2, train: every head on the same demos, backbone, steps and seed -> ``<out>/train/<head>``.

The heads' ``vla train`` commands differ only in ``--head``. A head with a ``model.safetensors``
is finished; a killed training continues from its last checkpoint (``--resume``).

With ``--init-from CKPT`` every head starts from the same trained model (the shipped recipe's
backbone with its spatial grounding head, e.g. ``runs/g4/headB60``) and is trained like the
shipped recipe's stage 2d: the vision tower and the grounding head frozen, the transformer,
projector, proprio / camera / point-token embeddings (and the L1 head) trained on the head's own
predicted points, a share of rows teacher-forced with noisy true points. ``--head`` swaps the
action head on that backbone, so the heads see the same grounding.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

#: the action heads compared, in the report's order
HEADS = ("diffusion", "ar", "l1")
#: what the stage-2d recipe trains on top of a frozen vision tower and grounding head
STAGE_2D_TRAINABLE = ("lm.", "projector.", "proprio_proj.", "action_slot", "camera_embed", "grounding.point_embed.",
                      "grounding.point_id", "l1_head.")


def stage_2d_argv(args: argparse.Namespace, head: str, demos: Path, out: Path) -> list[str]:
    """``--init-from``: one head's stage-2d fine-tune of the shared trained model (shape options unused)."""
    ground = json.loads((Path(args.init_from) / "config.json").read_text()).get("ground_head", "decoder")
    argv = ["--data", str(demos), "--out", str(out), "--init-from", str(args.init_from), "--head", head,
            "--ground-head", ground, "--crop-area", str(args.crop_area), "--train-only", *STAGE_2D_TRAINABLE,
            "--ground-teacher-forcing", str(args.ground_teacher_forcing),
            "--ground-label-noise", str(args.ground_label_noise), "--steps", str(args.steps),
            "--batch-size", str(args.batch_size), "--lr", str(args.lr), "--lr-schedule", "cosine",
            "--warmup-steps", str(min(100, args.steps // 10)), "--seed", str(args.seed),
            "--save-every", str(max(1, min(500, args.steps))), "--keep-checkpoints", "1",
            "--log-every", str(max(1, min(50, args.steps)))]
    return argv + _run_args(args, head)


def _run_args(args: argparse.Namespace, head: str) -> list[str]:
    """``--full-mask-fraction`` (diffusion only), ``--holdout N`` (held-out demos, diagnosed every
    1000 steps) and ``--no-progress``."""
    fm = getattr(args, "full_mask_fraction", 0.0)
    full = ["--full-mask-fraction", str(fm)] if head == "diffusion" and fm else []
    held = ["--holdout", str(args.holdout), "--diagnose-every", str(max(1, min(1000, args.steps))),
            "--diagnose-frames", "128"] if getattr(args, "holdout", 0) else []
    return full + held + (["--no-progress"] if args.no_progress else [])


def train_argv(args: argparse.Namespace, head: str, demos: Path, out: Path) -> list[str]:
    """The ``vla train`` command of one head: everything but the head is shared."""
    if getattr(args, "init_from", ""):
        return stage_2d_argv(args, head, demos, out)
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
    return argv + _run_args(args, head)


def stage_train(args: argparse.Namespace, head: str, demos: Path, out: Path) -> list[str]:
    """Train ``head`` into ``out`` unless it is finished; returns its ``vla train`` command (for the report)."""
    argv = train_argv(args, head, demos, out)
    if not (out / "model.safetensors").exists():
        nproc = getattr(args, "nproc", 1)
        if nproc > 1:  # data parallel: the same global batches whatever the number of processes
            env = {**os.environ, "OMP_NUM_THREADS": "1"}
            cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc),
                   "-m", "vla.cli", "train", *argv, "--resume"]
            rc = subprocess.run(cmd, env=env, cwd=Path(__file__).resolve().parents[2]).returncode
        else:
            from vla.train_cli import main as train_main

            rc = train_main(argv + ["--resume"])  # continues from a checkpoint if there is one
        if rc != 0:
            raise RuntimeError(f"training the {head} head failed (exit {rc}): vla train {' '.join(argv)}")
    if head == "diffusion" and getattr(args, "diffusion_decoder", None) is not None:
        from vla.checkpoint import DECODER

        # the policy's default decoder: its main evaluation and --update-shipped use it
        (out / DECODER).write_text(json.dumps(args.diffusion_decoder))
    return argv
