"""Training loop: AdamW, warm-up + cosine LR, gradient clipping and accumulation, bf16 autocast,
periodic checkpoints with exact resume, tqdm, CSV (and TensorBoard when installed) logs, and
data parallelism with `torchrun` (DDP; gloo on CPU, nccl on GPU).

Determinism: every random number of step ``s`` (example indices, crop offsets, diffusion masks)
comes from a generator seeded with ``(seed, s)``, so a run is a pure function of the seed, a
resumed run continues the loss curve exactly, and a global batch is the same for any number of
processes (each builds its share of the rows; the loss is the mean over the global batch).
"""

from __future__ import annotations

import csv
import math
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from safetensors.torch import load_model
from tqdm import tqdm

from .checkpoint import WEIGHTS, save_checkpoint
from .model import VLAModel

#: make_batch(generator, global_batch_size, rows) -> batch dict holding only ``rows``
BatchFn = Callable[[torch.Generator, int, torch.Tensor], dict[str, torch.Tensor]]

LOG_FIELDS = ["step", "loss", "lr", "grad_norm", "examples_per_s", "elapsed_s"]


@dataclass
class TrainConfig:
    steps: int = 1000
    batch_size: int = 32  # global batch per optimizer step (over all processes and micro-batches)
    grad_accum: int = 1
    lr: float = 3e-4
    weight_decay: float = 0.01
    warmup_steps: int = 50
    min_lr_ratio: float = 0.1
    lr_schedule: str = "cosine"  # cosine | constant (after the warm-up)
    clip_grad: float = 1.0
    seed: int = 0
    save_every: int = 0  # 0: only at the end
    keep_checkpoints: int = 2
    log_every: int = 1
    precision: str = "auto"  # auto | bf16 | fp32
    resume: bool = False
    progress: bool = True
    stop_at: int = 0  # stop after this step, leaving a checkpoint (0: run to ``steps``)
    #: train only parameters whose names start with one of these prefixes (empty: all); the
    #: rest are frozen and their modules stay in eval mode (BatchNorm statistics, dropout)
    train_only: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch_size < 1 or self.grad_accum < 1:
            raise ValueError("steps, batch_size, grad_accum: expected positive integers")
        if self.batch_size % self.grad_accum:
            raise ValueError(f"batch_size: expected a multiple of grad_accum={self.grad_accum}, got {self.batch_size}")
        if self.lr_schedule not in ("cosine", "constant"):
            raise ValueError(f"lr_schedule: expected cosine or constant, got {self.lr_schedule!r}")
        if self.precision not in ("auto", "bf16", "fp32"):
            raise ValueError(f"precision: expected auto, bf16 or fp32, got {self.precision!r}")


def set_train_mode(model: torch.nn.Module, train_only: tuple[str, ...]) -> None:
    """``model.train()``; with ``train_only`` prefixes, freeze every other parameter and keep the
    modules without a trainable parameter in eval mode (so a frozen tower's BatchNorm statistics
    do not drift while a head trains on top of it)."""
    model.train()
    if not train_only:
        return
    for name, p in model.named_parameters():
        p.requires_grad_(name.startswith(tuple(train_only)))
    for mod in model.modules():
        if not any(p.requires_grad for p in mod.parameters()):
            mod.eval()


def lr_lambda(cfg: TrainConfig) -> Callable[[int], float]:
    """Linear warm-up to 1, then cosine decay to ``min_lr_ratio`` at the last step (or constant 1)."""

    def f(step: int) -> float:
        if step < cfg.warmup_steps:
            return (step + 1) / cfg.warmup_steps
        if cfg.lr_schedule == "constant":
            return 1.0
        span = max(1, cfg.steps - cfg.warmup_steps)
        t = min(1.0, (step - cfg.warmup_steps) / span)
        return cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * t))

    return f


def step_generator(seed: int, step: int) -> torch.Generator:
    return torch.Generator().manual_seed(int(seed) * 1_000_003 + int(step))


def dist_info() -> tuple[int, int]:
    """(rank, world size) of the current process group, (0, 1) when not distributed."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def init_distributed(device: torch.device) -> tuple[int, int]:
    """Join the `torchrun` process group when launched by it (gloo on CPU, nccl on CUDA)."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return dist_info()


def _autocast(device: torch.device, precision: str) -> Any:
    use = precision == "bf16" or (precision == "auto" and device.type == "cuda" and torch.cuda.is_bf16_supported())
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=use)


def checkpoints(out: Path) -> list[Path]:
    return sorted(p for p in out.glob("checkpoint-*") if (p / "training_state.pt").exists())


def _read_log(path: Path, upto: int) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with path.open() as f:
        return [r for r in csv.DictReader(f) if int(r["step"]) <= upto]


def train(model: VLAModel, make_batch: BatchFn, cfg: TrainConfig, out_dir: str | Path,
          tokenizer: Any, action_tokenizer: Any, device: str | torch.device = "cpu",
          periodic: Callable[[int], None] | None = None, periodic_every: int = 0) -> list[dict[str, float]]:
    """Train ``model`` for ``cfg.steps`` optimizer steps; returns the log rows of this run.

    Writes ``out_dir/checkpoint-NNNNNN`` every ``save_every`` steps (with optimizer / scheduler
    state), the final model folder in ``out_dir`` and ``out_dir/train_log.csv``. ``periodic(step)``
    (rank 0 only; e.g. held-out diagnostics) runs every ``periodic_every`` steps and at the end.
    """
    device = torch.device(device)
    rank, world = init_distributed(device)
    if device.type == "cuda" and world > 1:  # one GPU per process
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    out = Path(out_dir)
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
    model.to(device)
    set_train_mode(model, cfg.train_only)
    if cfg.train_only and not any(p.requires_grad for p in model.parameters()):
        raise ValueError(f"train_only: no parameter name starts with any of {list(cfg.train_only)}")
    params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    decay = [p for n, p in params if p.ndim >= 2 and "embed" not in n]
    no_decay = [p for n, p in params if not (p.ndim >= 2 and "embed" not in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr, betas=(0.9, 0.95))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(cfg))
    start = 0
    log_path = out / "train_log.csv"
    if cfg.resume and checkpoints(out):
        last = checkpoints(out)[-1]
        load_model(model, str(last / WEIGHTS), device=str(device))
        state = torch.load(last / "training_state.pt", map_location=device, weights_only=False)
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        start = int(state["step"])
    prior = _read_log(log_path, start) if rank == 0 else []
    if rank == 0:
        with log_path.open("w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=LOG_FIELDS)
            w.writeheader()
            w.writerows(prior)
    tb = None
    if rank == 0:
        try:
            from torch.utils.tensorboard import SummaryWriter

            tb = SummaryWriter(str(out / "tensorboard"))
        except ImportError:
            tb = None
    net: torch.nn.Module = model
    if world > 1:
        net = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None,
            find_unused_parameters=model.config.head == "l1")
    micro = cfg.batch_size // cfg.grad_accum
    rows = torch.tensor_split(torch.arange(micro), world)[rank]
    history: list[dict[str, float]] = []
    t0 = time.perf_counter()
    bar = tqdm(range(start, cfg.steps), initial=start, total=cfg.steps, disable=not cfg.progress or rank != 0,
               desc="train", dynamic_ncols=True)
    for step in bar:
        g = step_generator(cfg.seed, step)
        opt.zero_grad(set_to_none=True)
        total = torch.zeros((), dtype=torch.float64)
        for _ in range(cfg.grad_accum):
            batch = {k: v.to(device) for k, v in make_batch(g, micro, rows).items()}
            with _autocast(device, cfg.precision):
                per_sample = net(batch)
            local = per_sample.float().sum()
            (local * world / (micro * cfg.grad_accum)).backward()
            total += local.detach().double().cpu()
        if world > 1:
            dist.all_reduce(total)
        loss = float(total) / cfg.batch_size
        gn = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip_grad if cfg.clip_grad > 0 else float("inf"))
        lr = opt.param_groups[0]["lr"]
        opt.step()
        sched.step()
        done = step + 1
        row = {"step": done, "loss": loss, "lr": lr, "grad_norm": float(gn),
               "examples_per_s": cfg.batch_size * (done - start) / max(1e-9, time.perf_counter() - t0),
               "elapsed_s": time.perf_counter() - t0}
        history.append(row)
        if rank == 0:
            bar.set_postfix(loss=f"{loss:.4f}", lr=f"{lr:.2e}")
            if done % cfg.log_every == 0 or done == cfg.steps:
                with log_path.open("a", newline="") as f:
                    csv.DictWriter(f, fieldnames=LOG_FIELDS).writerow(row)
                if tb is not None:
                    tb.add_scalar("train/loss", loss, done)
                    tb.add_scalar("train/lr", lr, done)
        if periodic is not None and rank == 0 and periodic_every > 0 and (done % periodic_every == 0
                                                                           or done == cfg.steps):
            periodic(done)
            set_train_mode(model, cfg.train_only)  # the diagnosis switched modes
        if cfg.stop_at and done >= cfg.stop_at and done < cfg.steps:
            _save(out, done, model, opt, sched, cfg, tokenizer, action_tokenizer, rank, world)
            model.eval()
            return history
        if cfg.save_every and done % cfg.save_every == 0 and done < cfg.steps:
            _save(out, done, model, opt, sched, cfg, tokenizer, action_tokenizer, rank, world)
    _save(out, cfg.steps, model, opt, sched, cfg, tokenizer, action_tokenizer, rank, world)
    if rank == 0:
        save_checkpoint(out, model, tokenizer, action_tokenizer)
        if tb is not None:
            tb.close()
    model.eval()
    return history


def _save(out: Path, step: int, model: VLAModel, opt: Any, sched: Any, cfg: TrainConfig, tokenizer: Any,
          action_tokenizer: Any, rank: int, world: int) -> None:
    if rank == 0:
        path = save_checkpoint(out / f"checkpoint-{step:06d}", model, tokenizer, action_tokenizer)
        torch.save({"optimizer": opt.state_dict(), "scheduler": sched.state_dict(), "step": step,
                    "train_config": asdict(cfg)}, path / "training_state.pt")
        for old in checkpoints(out)[: -cfg.keep_checkpoints] if cfg.keep_checkpoints > 0 else []:
            shutil.rmtree(old, ignore_errors=True)
    if world > 1:
        dist.barrier()
