"""``vla train``: train a VLA policy on robomimic / LIBERO HDF5 demonstrations.

Examples::

    vla train --data demos/ --preset tiny --head diffusion --steps 2000 --out ckpt/
    torchrun --nproc_per_node 2 -m vla.train_cli --data demos/ --steps 100 --out ckpt/
    vla train --data demos/ --preset pretrained --vision /models/siglip --language /models/qwen2 ...
"""

from __future__ import annotations

import argparse
import json
import sys
from functools import partial
from pathlib import Path
from typing import Any

from .cli_help import HelpFormatter
from .config import HEADS, PREFIX_ORDERS, PRESETS, VISION_ARCHS


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vla train", description=__doc__,
                                formatter_class=HelpFormatter)
    p.add_argument("--data", nargs="+", required=True, help="HDF5 files or directories holding them")
    p.add_argument("--out", required=True, help="output folder (checkpoints, final model, train_log.csv)")
    p.add_argument("--preset", choices=PRESETS, default="tiny")
    p.add_argument("--head", choices=HEADS, default=None,
                   help="action head (default: diffusion; with --init-from: the checkpoint's, and another "
                        "value swaps the head on the trained backbone)")
    p.add_argument("--vision", default="", help="pretrained preset: local vision checkpoint folder")
    p.add_argument("--language", default="", help="pretrained preset: local causal-LM checkpoint folder")
    g = p.add_argument_group("action space")
    g.add_argument("--horizon", type=int, default=8, help="action chunk length H")
    g.add_argument("--n-bins", type=int, default=256)
    g.add_argument("--normalization", choices=("q99", "mean_std"), default="q99")
    g.add_argument("--binary-gripper", action="store_true", help="gripper (last dim) as -1 / +1")
    g = p.add_argument_group("tiny model sizes")
    g.add_argument("--image-size", type=int, default=64)
    g.add_argument("--image-pool", type=int, default=2,
                   help="average-pool the vision patch grid by this factor (1: one token per patch)")
    g.add_argument("--image-coords", type=int, default=0, metavar="N",
                   help="append N fixed sin-cos grid-coordinate features to each image token (multiple of 4; 0: none)")
    g.add_argument("--prefix-order", choices=PREFIX_ORDERS, default="images_first",
                   help="text_first: [instruction | proprio | images] so image tokens can attend to the instruction")
    g.add_argument("--hidden-size", type=int, default=None, help="language model width")
    g.add_argument("--layers", type=int, default=None, help="language model layers")
    g.add_argument("--heads", type=int, default=None, help="language model attention heads")
    g.add_argument("--action-slot-embed", action="store_true",
                   help="learned embedding per action-block slot (step x dimension) added to the block tokens")
    g.add_argument("--vision-arch", choices=VISION_ARCHS, default="siglip",
                   help="tiny vision tower: siglip (ViT, 8x8 patches) or resnet (small CNN, stride 8)")
    g.add_argument("--ground-points", type=int, default=0, metavar="K",
                   help="grounding head: regress K privileged points (1: instructed object, 2: and its goal) "
                        "from instruction + image and feed them to the LM as prefix tokens (0: none)")
    g.add_argument("--ground-relative", action="store_true",
                   help="also regress each point relative to the end-effector (doubles the head's points)")
    g.add_argument("--ground-weight", type=float, default=1.0, help="weight of the grounding loss")
    g.add_argument("--ground-teacher-forcing", type=float, default=0.5,
                   help="fraction of rows whose point tokens are the noisy true points at train time")
    g.add_argument("--ground-label-noise", type=float, default=0.01,
                   help="std in metres of the noise on teacher-forced points")
    g.add_argument("--ground-head", choices=("decoder", "spatial"), default="decoder",
                   help="decoder: transformer decoder over [instruction | cells with coordinates]; spatial: the "
                        "instruction scores content-only cells, points from where it looks (soft-argmax)")
    g.add_argument("--ground-far-weight", type=float, default=0.0, metavar="W",
                   help="extra grounding-loss weight (1 + W) on frames whose gripper is farther than "
                        "--ground-far-m from the instructed object (the episode starts; default: 0)")
    g.add_argument("--ground-far-m", type=float, default=0.10, help="distance (m) for --ground-far-weight")
    g.add_argument("--ground-near-weight", type=float, default=1.0, metavar="W",
                   help="grounding-loss weight of the frames nearer than --ground-far-m (0: far frames only)")
    g.add_argument("--vision-hidden-size", type=int, default=None)
    g.add_argument("--vision-layers", type=int, default=None)
    g = p.add_argument_group("optimization")
    g.add_argument("--steps", type=int, default=1000)
    g.add_argument("--batch-size", type=int, default=32, help="global batch (all processes, all micro-batches)")
    g.add_argument("--grad-accum", type=int, default=1)
    g.add_argument("--lr", type=float, default=3e-4)
    g.add_argument("--weight-decay", type=float, default=0.01)
    g.add_argument("--warmup-steps", type=int, default=50)
    g.add_argument("--lr-schedule", choices=("cosine", "constant"), default="cosine",
                   help="after the linear warm-up: cosine decay to 0.1 x --lr, or constant (default: cosine)")
    g.add_argument("--early-frames", type=int, default=0, metavar="N",
                   help="draw --early-fraction of every batch from the demos' first N timesteps (default: 0, off)")
    g.add_argument("--early-fraction", type=float, default=0.5, metavar="F",
                   help="share of each batch drawn by --early-frames (default: 0.5; 1: only the first N)")
    g.add_argument("--full-mask-fraction", type=float, default=0.0, metavar="F",
                   help="diffusion head: share of each batch with every action token masked (the only input "
                        "one-pass decoding, cosine T=1, sees), the rest drawn by the cosine schedule (default: 0)")
    g.add_argument("--bin-label-sigma", type=float, default=0.0, metavar="S",
                   help="token heads: train each action token against a Gaussian of S bin widths around the true "
                        "value, binned (HL-Gauss; pairs with the decoder's \"readout\": \"mean\"), instead of its "
                        "one-hot bin (default: 0, one-hot)")
    g.add_argument("--clip-grad", type=float, default=1.0)
    g.add_argument("--precision", choices=("auto", "bf16", "fp32"), default="auto",
                   help="auto: bf16 autocast on GPUs that support it, fp32 otherwise")
    g.add_argument("--crop-area", type=float, default=0.9, help="random-crop area at train (1: no crop)")
    g = p.add_argument_group("run")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--save-every", type=int, default=0, help="checkpoint period in steps (0: end only)")
    g.add_argument("--keep-checkpoints", type=int, default=2)
    g.add_argument("--log-every", type=int, default=1)
    g.add_argument("--init-from", default="", metavar="CKPT",
                   help="fine-tune: start from this trained checkpoint's weights, model config, tokenizer and "
                        "normalization (fresh optimizer and schedule); the model-shape options are then ignored")
    g.add_argument("--train-only", nargs="+", default=(), metavar="PREFIX",
                   help="train only parameters whose names start with these prefixes (e.g. 'grounding.' "
                        "'ground_cells.'); the rest stay frozen, their modules in eval mode")
    g.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in --out (starts fresh when there is none)")
    g.add_argument("--stop-at", type=int, default=0, help="stop after this step with a checkpoint (0: run to --steps)")
    g.add_argument("--device", default="auto", help="auto: cuda when available, else cpu")
    g.add_argument("--flip-images", choices=("auto", "yes", "no"), default="auto",
                   help="rotate stored images 180 degrees (auto: official LIBERO files only)")
    g.add_argument("--holdout", type=int, default=0, metavar="N",
                   help="keep the last N demos of every file out of training, for diagnostics (default: 0)")
    g.add_argument("--diagnose-every", type=int, default=0, metavar="STEPS",
                   help="run `vla diagnose` on the held-out demos every STEPS steps into diagnostics.jsonl "
                        "(needs --holdout; default: 0, never)")
    g.add_argument("--diagnose-frames", type=int, default=128, help="held-out frames per diagnosis (default: 128)")
    g.add_argument("--no-progress", action="store_true")
    return p


def _sizes(args: argparse.Namespace) -> tuple[dict, dict]:
    lang = {k: v for k, v in (("hidden_size", args.hidden_size), ("num_hidden_layers", args.layers),
                              ("num_attention_heads", args.heads)) if v is not None}
    if "num_attention_heads" in lang:
        lang["num_key_value_heads"] = lang["num_attention_heads"]
    vis = {k: v for k, v in (("hidden_size", args.vision_hidden_size), ("num_hidden_layers", args.vision_layers))
           if v is not None}
    if "hidden_size" in vis:
        vis["intermediate_size"] = 2 * vis["hidden_size"]
    return vis, lang


def _diagnose_step(model, tokenizer, act_tok, held, out: str, frames: int, seed: int, step: int) -> None:
    """Held-out diagnostics at ``step``: one JSON line in ``<out>/diagnostics.jsonl`` and a summary line."""
    import time
    from pathlib import Path

    from .diagnose import diagnose

    t0 = time.perf_counter()
    d = diagnose(model, tokenizer, act_tok, held, max_frames=frames, seed=seed)
    d = {"step": step, **d, "seconds": round(time.perf_counter() - t0, 1)}
    with (Path(out) / "diagnostics.jsonl").open("a") as f:
        f.write(json.dumps(d) + "\n")
    s = d["sensitivity_xyz"]
    parts = [f"step {step}", "sens(img/instr/prop) " + "/".join(f"{sum(s[g]):.3f}" for g in
                                                                 ("images", "instruction", "proprio") if g in s),
             "corr x/y/z " + "/".join(f"{d['corr'][k]:+.2f}" for k in ("x", "y", "z"))]
    if "ground_err_cm" in d:
        parts.append("ground cm " + "/".join(f"{v:.1f}" for v in d["ground_err_cm"]))
    if "ground_err_start_cm" in d:
        parts.append("at start " + "/".join(f"{v:.1f}" for v in d["ground_err_start_cm"]))
    if "probe_err_cm" in d:
        parts.append(f"probe {d['probe_err_cm']:.1f} cm")
    print("diagnose: " + "  ".join(parts), flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    import numpy as np  # heavy imports after parsing: `--help` stays fast
    import torch

    from .data import sample_batch
    from .train import dist_info, train

    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.preset == "pretrained" and not (args.vision and args.language):
        print("vla train: --preset pretrained needs --vision PATH and --language PATH", file=sys.stderr)
        return 2
    for name in ("steps", "batch_size", "grad_accum", "horizon", "n_bins", "image_size"):
        if getattr(args, name) < 1:
            print(f"vla train: --{name.replace('_', '-')}: expected a positive integer, got {getattr(args, name)}",
                  file=sys.stderr)
            return 2
    if not 0.0 <= args.full_mask_fraction <= 1.0:
        print(f"vla train: --full-mask-fraction: expected a number in [0, 1], got {args.full_mask_fraction}",
              file=sys.stderr)
        return 2
    if args.bin_label_sigma < 0:
        print(f"vla train: --bin-label-sigma: expected a number >= 0 (0: one-hot bins), got {args.bin_label_sigma}",
              file=sys.stderr)
        return 2
    if not 0.0 <= args.early_fraction <= 1.0 or args.early_frames < 0:
        print(f"vla train: --early-fraction: expected a number in [0, 1] and --early-frames >= 0, got "
              f"{args.early_fraction} and {args.early_frames}", file=sys.stderr)
        return 2
    if args.ground_points < 0 or args.holdout < 0 or args.diagnose_every < 0:
        print("vla train: --ground-points, --holdout, --diagnose-every: expected integers >= 0", file=sys.stderr)
        return 2
    try:
        built = _setup(args, np)
    except (FileNotFoundError, ValueError) as e:
        print(f"vla train: {e}", file=sys.stderr)
        return 2
    if isinstance(built, int):
        return built
    model, tokenizer, act_tok, dataset, held, n_demos, tcfg = built
    if args.full_mask_fraction and model.config.head != "diffusion":
        print(f"vla train: --full-mask-fraction: only the diffusion head masks action tokens; this model's head is "
              f"{model.config.head!r}", file=sys.stderr)
        return 2
    if args.bin_label_sigma and model.config.head == "l1":
        print("vla train: --bin-label-sigma: the l1 head regresses values and has no bins; use the diffusion or ar "
              "head", file=sys.stderr)
        return 2
    if args.train_only and not any(n.startswith(tuple(args.train_only)) for n, _ in model.named_parameters()):
        top = sorted({n.split(".")[0] + "." for n, _ in model.named_parameters()})
        print(f"vla train: --train-only: no parameter name starts with {args.train_only}; expected prefixes such as "
              f"{top}", file=sys.stderr)
        return 2
    periodic = None
    if args.diagnose_every:
        periodic = partial(_diagnose_step, model, tokenizer, act_tok, held, args.out, args.diagnose_frames, args.seed)
    batches = partial(sample_batch, dataset, early_frames=args.early_frames, early_fraction=args.early_fraction,
                      full_mask_fraction=args.full_mask_fraction)
    history = train(model, batches, tcfg, args.out, tokenizer, act_tok, args.device,
                    periodic=periodic, periodic_every=args.diagnose_every)
    rank, _ = dist_info()
    if rank == 0:
        n_params = sum(p.numel() for p in model.parameters())
        summary = {"out": args.out, "examples": len(dataset), "demos": n_demos, "params": n_params,
                   "steps": tcfg.steps, "final_loss": history[-1]["loss"] if history else None}
        print(json.dumps(summary))
    return 0


def _setup(args: argparse.Namespace, np: Any) -> tuple | int:
    """Data, tokenizers, model and train config from the arguments (an exit code on bad input)."""
    from .action_tokenizer import ActionTokenizer
    from .config import VLAConfig
    from .diagnose import split_holdout
    from .factory import build_pretrained, build_tiny
    from .hdf5_demos import load_demos
    from .text_tokenizer import build_word_tokenizer

    cfg = VLAConfig(preset=args.preset, head=args.head or "diffusion", horizon=args.horizon, n_bins=args.n_bins,
                    normalization=args.normalization, binary_gripper=args.binary_gripper,
                    image_size=args.image_size, crop_area=args.crop_area, image_pool=args.image_pool,
                    image_coord_features=args.image_coords, prefix_order=args.prefix_order,
                    vision_arch=args.vision_arch, action_slot_embed=args.action_slot_embed,
                    ground_points=args.ground_points, ground_relative=args.ground_relative,
                    ground_loss_weight=args.ground_weight,
                    ground_teacher_forcing=args.ground_teacher_forcing, ground_label_noise=args.ground_label_noise,
                    ground_far_weight=args.ground_far_weight, ground_far_m=args.ground_far_m,
                    ground_near_weight=args.ground_near_weight, bin_label_sigma=args.bin_label_sigma,
                    ground_head=args.ground_head)
    flip = {"auto": None, "yes": True, "no": False}[args.flip_images]
    if args.diagnose_every and not args.holdout:
        print("vla train: --diagnose-every needs --holdout N (held-out demos to diagnose on)", file=sys.stderr)
        return 2
    size = cfg.image_size
    if args.init_from and (Path(args.init_from) / "config.json").is_file():  # the checkpoint's own size
        size = int(json.loads((Path(args.init_from) / "config.json").read_text()).get("image_size", size))
    demos = load_demos(args.data, cfg.cameras, flip, image_size=size)
    try:
        demos, held = split_holdout(demos, args.holdout)
    except ValueError as e:
        print(f"vla train: {e}", file=sys.stderr)
        return 2
    if args.init_from:
        return _setup_from(args, cfg, demos, held)
    if cfg.ground_points:
        if any(d.points is None for d in demos):
            print("vla train: --ground-points needs demos with obs/target_pos and obs/goal_pos "
                  "(collect them with `vla collect --suite tabletop-10`)", file=sys.stderr)
            return 2
        from .grounding import point_labels

        pts = np.concatenate([point_labels(d.points[:, :cfg.ground_points], d.proprio[:, :3], cfg.ground_relative)
                              for d in demos])  # [N, K', 3]
        cfg.ground_mean = tuple(float(x) for x in pts.mean(0).reshape(-1))
        cfg.ground_std = tuple(float(max(x, 0.02)) for x in pts.std(0).reshape(-1))
    cfg.action_dim = int(demos[0].actions.shape[1])
    cfg.proprio_dim = int(demos[0].proprio.shape[1])
    act_tok = ActionTokenizer.fit(np.concatenate([d.actions for d in demos]), np.concatenate([d.proprio for d in demos]),
                                  n_bins=cfg.n_bins, normalization=cfg.normalization, binary_gripper=cfg.binary_gripper)
    if args.preset == "tiny":
        tokenizer = build_word_tokenizer(d.instruction for d in demos)
        vis, lang = _sizes(args)
        model = build_tiny(cfg, tokenizer, vis, lang, seed=args.seed)
    else:
        model, tokenizer = build_pretrained(cfg, args.vision, args.language, seed=args.seed)
    return _finish_setup(args, model, tokenizer, act_tok, demos, held)


#: the grounding head's modules (replaced when ``--init-from`` asks for another ``--ground-head``)
GROUND_MODULES = ("grounding.", "ground_cells.")
#: modules only one action head has (fresh when ``--init-from`` asks for another ``--head``)
HEAD_MODULES = ("l1_head.",)
#: config fields that only shape training; ``--init-from`` takes them from the command line
_TRAINING_FIELDS = ("crop_area", "ground_loss_weight", "ground_teacher_forcing", "ground_label_noise",
                    "ground_far_weight", "ground_far_m", "ground_near_weight", "bin_label_sigma")


def _setup_from(args: argparse.Namespace, cfg: Any, demos: list, held: list) -> tuple | int:
    """``--init-from``: the checkpoint's model, tokenizers and config (its training-only fields from ``cfg``)."""
    from .checkpoint import is_checkpoint, load_checkpoint

    if not is_checkpoint(args.init_from):
        print(f"vla train: --init-from: {args.init_from!r} is not a checkpoint folder (config.json + "
              "model.safetensors)", file=sys.stderr)
        return 2
    model, tokenizer, act_tok = load_checkpoint(args.init_from)
    for name in _TRAINING_FIELDS:
        setattr(model.config, name, getattr(cfg, name))
    new_ground = args.ground_head != model.config.ground_head and model.config.ground_points
    new_head = args.head is not None and args.head != model.config.head
    if new_ground or new_head:
        # a new grounding head and / or action head on the trained model: the rest keeps its weights
        from .factory import from_config

        if new_ground:
            model.config.ground_head = args.ground_head
        if new_head:
            model.config.head = args.head
        fresh = from_config(model.config, seed=args.seed)
        replaced = (GROUND_MODULES if new_ground else ()) + (HEAD_MODULES if new_head else ())
        keep = {k: v for k, v in model.state_dict().items() if not k.startswith(replaced)}
        missing, _ = fresh.load_state_dict(keep, strict=False)
        assert all(k.startswith(replaced) for k in missing), missing
        model = fresh
    if model.config.ground_points and any(d.points is None for d in demos):
        print("vla train: --init-from: the checkpoint has a grounding head; its demos need obs/target_pos and "
              "obs/goal_pos", file=sys.stderr)
        return 2
    return _finish_setup(args, model, tokenizer, act_tok, demos, held)


def _finish_setup(args: argparse.Namespace, model: Any, tokenizer: Any, act_tok: Any, demos: list,
                  held: list) -> tuple:
    from .data import ChunkDataset
    from .train import TrainConfig

    dataset = ChunkDataset(demos, model.config, tokenizer, act_tok)
    n_demos = len(demos)
    del demos  # the dataset holds resized copies; the full-size frames would double the memory
    tcfg = TrainConfig(steps=args.steps, batch_size=args.batch_size, grad_accum=args.grad_accum, lr=args.lr,
                       weight_decay=args.weight_decay, warmup_steps=args.warmup_steps, clip_grad=args.clip_grad,
                       lr_schedule=args.lr_schedule, seed=args.seed, save_every=args.save_every, keep_checkpoints=args.keep_checkpoints,
                       log_every=args.log_every, precision=args.precision, resume=args.resume,
                       progress=not args.no_progress, stop_at=args.stop_at, train_only=tuple(args.train_only))
    return model, tokenizer, act_tok, dataset, held, n_demos, tcfg


if __name__ == "__main__":
    raise SystemExit(main())
