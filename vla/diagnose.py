"""Policy diagnostics that tell whether a VLA looks and listens, measured on held-out demos.

Training loss says little about closed-loop success (a model can fit its demos through proprio
alone). These numbers do:

* **input-swap sensitivity**: replace one input of every frame (both images, one camera, the
  instruction, proprio) by another held-out frame's and measure how far the first predicted
  action moves (mean |delta| of x, y, z in env units). A policy that ignores its images has
  image sensitivity near 0 while proprio's is large.
* **correlation per action dimension** between the predicted and the demonstrated first action
  (held out: a model that memorises layouts has a high training and a low held-out correlation).
* **localisation error in cm**: of the grounding head's points (models with one), and of a
  ridge probe from the prefix's image-token states to the instructed object's position (any
  model), fitted on half of the held-out demos and scored on the other half.

``diagnose(model, tokenizer, action_tokenizer, demos)`` returns a dict; ``format_table`` prints
it; ``vla diagnose CHECKPOINT --data DIR`` runs both. Training runs the same every
``--diagnose-every`` steps on ``--holdout`` demos per task (``diagnostics.jsonl``).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import numpy as np
import torch

from .cli_help import HelpFormatter
from .data import ChunkDataset
from .grounding import denormalize_points
from .hdf5_demos import Demo
from .model import VLAModel
from .predict import decode_action_bins, decoder_config
from .readout import Readout, split_readout

GROUPS = ("images", "agentview", "wrist", "instruction", "proprio")
DIMS = ("x", "y", "z", "roll", "pitch", "yaw", "grip")


def split_holdout(demos: list[Demo], per_file: int) -> tuple[list[Demo], list[Demo]]:
    """(train, held out): the last ``per_file`` demos of every source file are held out."""
    if per_file <= 0:
        return list(demos), []
    by_file: dict[str, list[Demo]] = {}
    for d in demos:
        by_file.setdefault(d.source.rsplit(":", 1)[0], []).append(d)
    train, held = [], []
    for group in by_file.values():
        if len(group) <= per_file:
            raise ValueError(f"holdout: {per_file} demos per file leaves none to train on in "
                             f"{group[0].source.rsplit(':', 1)[0]} ({len(group)} demos)")
        train += group[:-per_file]
        held += group[-per_file:]
    return train, held


def _frames(n_total: int, max_frames: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    idx = torch.randperm(n_total, generator=g)[:max_frames]
    return idx.sort().values


def _derangement(n: int, seed: int) -> torch.Tensor:
    """A permutation with no fixed point (a shifted random cycle)."""
    g = torch.Generator().manual_seed(seed + 1)
    order = torch.randperm(n, generator=g)
    perm = torch.empty(n, dtype=torch.long)
    perm[order] = order.roll(1)
    return perm


@torch.no_grad()
def _first_actions(model: VLAModel, action_tokenizer: Any, batch: dict[str, torch.Tensor], decoder: Any,
                   readout: Readout, chunk: int = 64) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """(first actions [N, D] env units, grounding points [N, K, 3] metres or None, image states [N, Hd])."""
    cfg = model.config
    acts, pts, states = [], [], []
    n_img = None
    n = batch["pixels"].shape[0]
    for s in range(0, n, chunk):
        sl = slice(s, s + chunk)
        prefix = model.encode_prefix(batch["pixels"][sl], batch["proprio"][sl], batch["text_ids"][sl],
                                     batch["text_valid"][sl])
        out, _ = decode_action_bins(model, prefix, decoder, list(range(s, s + prefix.embeds.shape[0])), readout)
        shape = (prefix.embeds.shape[0], cfg.horizon, cfg.action_dim)
        out = out.cpu().double() if out.is_floating_point() else out.cpu()  # numpy has no bfloat16
        a = action_tokenizer.denormalize(action_tokenizer.head_values(out.numpy().reshape(shape), cfg.head))
        acts.append(np.asarray(a)[:, 0])
        if prefix.points is not None:
            pts.append(denormalize_points(prefix.points.float(), cfg.ground_mean, cfg.ground_std).cpu().numpy())
        hidden, _ = model.run_prefix(prefix)
        if n_img is None:
            n_img = int(model.encode_images(batch["pixels"][:1]).shape[1])
        img_h = hidden[:, -n_img:] if cfg.prefix_order == "text_first" else hidden[:, :n_img]
        states.append(img_h.float().mean(1).cpu().numpy())
    return np.concatenate(acts), (np.concatenate(pts) if pts else None), np.concatenate(states)


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    if a.std() < 1e-8 or b.std() < 1e-8:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def _ridge_probe_cm(states: np.ndarray, target: np.ndarray, demo_id: np.ndarray, lam: float = 10.0) -> float:
    """Held-out-demo error (cm, mean Euclidean xy) of a ridge probe states -> target xy."""
    ids = np.unique(demo_id)
    if len(ids) < 4:
        return float("nan")
    fit = np.isin(demo_id, ids[::2])
    x = (states - states[fit].mean(0)) / (states[fit].std(0) + 1e-6)
    x = np.concatenate([x, np.ones((len(x), 1))], axis=1)
    y = target[:, :2]
    a = x[fit]
    w = np.linalg.solve(a.T @ a + lam * np.eye(a.shape[1]), a.T @ y[fit])
    err = np.linalg.norm(x[~fit] @ w - y[~fit], axis=1)
    return float(100 * err.mean())


@torch.no_grad()
def diagnose(model: VLAModel, tokenizer: Any, action_tokenizer: Any, demos: list[Demo], max_frames: int = 256,
             decoder: dict[str, Any] | None = None, seed: int = 0) -> dict[str, Any]:
    """Swap sensitivity, per-dimension correlation and localisation error on ``demos``."""
    was_training = model.training
    model.eval()
    try:
        cfg = model.config
        ds = ChunkDataset(demos, cfg, tokenizer, action_tokenizer)
        ds_points = ds.points
        if ds_points is None and all(d.points is not None for d in demos):  # world points only
            ds_points = torch.tensor(np.concatenate([d.points for d in demos]), dtype=torch.float32)
        idx = _frames(len(ds), max_frames, seed)
        base = ds.batch(idx)
        demo_id = np.concatenate([[i] * len(d.actions) for i, d in enumerate(demos)])[idx.numpy()]
        true_a = ds.chunks[idx.numpy(), 0]
        dec, readout = decoder_config(cfg.head, decoder), split_readout(decoder)[1]
        ref, pts, states = _first_actions(model, action_tokenizer, base, dec, readout)
        perm = _derangement(len(idx), seed)
        sens: dict[str, list[float]] = {}
        cams = list(cfg.cameras)
        for group in GROUPS:
            b = dict(base)
            if group == "images":
                b["pixels"] = base["pixels"][perm]
            elif group in ("agentview", "wrist"):
                name = "agentview_rgb" if group == "agentview" else "eye_in_hand_rgb"
                if name not in cams:
                    continue
                c = cams.index(name)
                px = base["pixels"].clone()
                px[:, c] = base["pixels"][perm, c]
                b["pixels"] = px
            elif group == "instruction":
                b["text_ids"], b["text_valid"] = base["text_ids"][perm], base["text_valid"][perm]
            else:
                b["proprio"] = base["proprio"][perm]
            swapped, _, _ = _first_actions(model, action_tokenizer, b, dec, readout)
            sens[group] = [float(v) for v in np.abs(swapped - ref)[:, :3].mean(0)]
        result: dict[str, Any] = {
            "frames": int(len(idx)), "demos": len(demos),
            "sensitivity_xyz": sens,
            "corr": {DIMS[i] if i < len(DIMS) else str(i): _corr(ref[:, i], true_a[:, i]) for i in range(ref.shape[1])},
            "mae": {DIMS[i] if i < len(DIMS) else str(i): float(np.abs(ref[:, i] - true_a[:, i]).mean())
                    for i in range(ref.shape[1])},
        }
        if ds_points is not None:
            labels = ds_points[idx].numpy()
            result["probe_err_cm"] = _ridge_probe_cm(states, labels[:, 0], demo_id)
            if pts is not None:
                err = np.linalg.norm(pts - labels[:, :pts.shape[1]], axis=-1) * 100  # [N, K] cm
                result["ground_err_cm"] = [float(v) for v in err.mean(0)]
                result["ground_err_median_cm"] = [float(v) for v in np.median(err, axis=0)]
                result["ground_err_start_cm"] = _start_error_cm(model, ds, ds_points, demos)
        return result
    finally:
        model.train(was_training)


def _start_error_cm(model: VLAModel, ds: ChunkDataset, labels: torch.Tensor, demos: list[Demo]) -> list[float]:
    """Mean grounding error (cm) per point on every demo's first frame (gripper at its start pose).

    Most frames of a demo have the gripper next to the object, which the head can use as a cue;
    the first frame is where it must find the object from the words and the pixels alone.
    """
    cfg = model.config
    starts = torch.tensor(np.cumsum([0] + [len(d.actions) for d in demos[:-1]]))
    errs = []
    for s in range(0, len(starts), 64):
        b = ds.batch(starts[s:s + 64])
        prefix = model.encode_prefix(b["pixels"], b["proprio"], b["text_ids"], b["text_valid"])
        pts = denormalize_points(prefix.points.float(), cfg.ground_mean, cfg.ground_std).cpu().numpy()
        errs.append(np.linalg.norm(pts - labels[starts[s:s + 64]].numpy()[:, :pts.shape[1]], axis=-1) * 100)
    return [float(v) for v in np.concatenate(errs).mean(0)]


def format_table(d: dict[str, Any]) -> str:
    """The diagnostics as a plain-text table."""
    lines = [f"held-out frames: {d['frames']} from {d['demos']} demos"
             + (f", decoder {json.dumps(d['decoder'])}" if d.get("decoder") else ""),
             "input swapped   |dx|     |dy|     |dz|   (first action, env units)"]
    for g, v in d["sensitivity_xyz"].items():
        lines.append(f"  {g:<12} " + " ".join(f"{x:8.4f}" for x in v))
    lines.append("correlation (pred vs demo first action): "
                 + "  ".join(f"{k} {v:+.2f}" for k, v in d["corr"].items()))
    lines.append("MAE: " + "  ".join(f"{k} {v:.3f}" for k, v in d["mae"].items()))
    if "ground_err_cm" in d:
        lines.append("grounding head error (cm, mean / median): "
                     + ", ".join(f"point {i}: {m:.1f} / {md:.1f}"
                                 for i, (m, md) in enumerate(zip(d["ground_err_cm"], d["ground_err_median_cm"]))))
    if "ground_err_start_cm" in d:
        lines.append("grounding head error on each demo's first frame (cm, mean): "
                     + ", ".join(f"point {i}: {m:.1f}" for i, m in enumerate(d["ground_err_start_cm"])))
    if "probe_err_cm" in d:
        lines.append(f"ridge probe on image-token states -> target xy: {d['probe_err_cm']:.1f} cm")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vla diagnose", description=__doc__,
                                formatter_class=HelpFormatter)
    p.add_argument("checkpoint", help="checkpoint folder (vla train output)")
    p.add_argument("--data", nargs="+", required=True, help="HDF5 demo files or folders")
    p.add_argument("--holdout", type=int, default=0, metavar="N",
                   help="use only the last N demos of each file (the split `vla train --holdout N` keeps out); "
                        "0: every demo given (default: 0)")
    p.add_argument("--frames", type=int, default=256, help="frames sampled from the demos (default: 256)")
    p.add_argument("--seed", type=int, default=0, help="frame sampling and swap seed (default: 0)")
    p.add_argument("--decoder", default="", metavar="JSON",
                   help="decoder options for the predicted actions, e.g. '{\"steps\": 1}' (default: the "
                        "checkpoint's decoder.json, else the head's default)")
    p.add_argument("--json", default="", help="also write the numbers to this JSON file")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from pathlib import Path

    from .checkpoint import is_checkpoint, load_checkpoint, load_default_decoder
    from .hdf5_demos import load_demos

    if not Path(args.checkpoint).exists():
        print(f"vla diagnose: checkpoint: {args.checkpoint} does not exist", file=sys.stderr)
        return 2
    if not is_checkpoint(args.checkpoint):
        print(f"vla diagnose: checkpoint: {args.checkpoint} is not a checkpoint folder (no config.json / weights)",
              file=sys.stderr)
        return 2
    if args.frames < 2:
        print(f"vla diagnose: --frames: expected >= 2, got {args.frames}", file=sys.stderr)
        return 2
    model, tok, act = load_checkpoint(args.checkpoint)
    try:  # the policy's own decoder (its decoder.json) unless --decoder says otherwise
        decoder = json.loads(args.decoder) if args.decoder else load_default_decoder(args.checkpoint)
        if decoder is not None and not isinstance(decoder, dict):
            raise ValueError(f"expected a JSON object, got {decoder!r}")
        decoder_config(model.config.head, decoder)
    except ValueError as e:  # json.JSONDecodeError included
        print(f"vla diagnose: --decoder: expected a JSON object of decoder options such as '{{\"steps\": 1}}' "
              f"({e})", file=sys.stderr)
        return 2
    try:
        demos = load_demos(args.data, model.config.cameras, last_per_file=max(0, args.holdout))
    except (FileNotFoundError, ValueError) as e:
        print(f"vla diagnose: {e}", file=sys.stderr)
        return 2
    d = diagnose(model, tok, act, demos, max_frames=args.frames, decoder=decoder, seed=args.seed)
    d["decoder"] = decoder
    print(format_table(d))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(d, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
