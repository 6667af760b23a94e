"""`vla train`: exact resume, torchrun / DDP on gloo equals one process, bf16 autocast, logs."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from vla.synthetic import write_synthetic_demos
from vla.train_cli import main as train_main

SMALL = ["--image-size", "32", "--horizon", "2", "--n-bins", "16", "--hidden-size", "32", "--layers", "1",
         "--heads", "2", "--vision-hidden-size", "32", "--vision-layers", "1", "--no-progress", "--batch-size", "4",
         "--lr", "3e-3", "--warmup-steps", "2"]


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_synthetic_demos(tmp_path_factory.mktemp("data") / "demos.hdf5", n_demos=2, steps=3, image_size=32)


def losses(out: Path) -> list[float]:
    with (out / "train_log.csv").open() as f:
        return [float(r["loss"]) for r in csv.DictReader(f)]


def test_resume_continues_the_loss_curve_exactly(tmp_path: Path, data: Path) -> None:
    full, part = tmp_path / "full", tmp_path / "part"
    assert train_main(["--data", str(data), "--out", str(full), "--steps", "6", *SMALL]) == 0
    assert train_main(["--data", str(data), "--out", str(part), "--steps", "6", "--stop-at", "3", *SMALL]) == 0
    assert len(losses(part)) == 3 and (part / "checkpoint-000003" / "training_state.pt").exists()
    assert train_main(["--data", str(data), "--out", str(part), "--steps", "6", "--resume", *SMALL]) == 0
    assert losses(part) == losses(full)  # exactly, step by step
    a, b = load_file(full / "model.safetensors"), load_file(part / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)
    # same seed -> same run; another seed -> another run
    again = tmp_path / "again"
    assert train_main(["--data", str(data), "--out", str(again), "--steps", "2", *SMALL]) == 0
    assert losses(again) == losses(full)[:1] + [losses(again)[1]] and losses(again)[0] == losses(full)[0]
    other = tmp_path / "other"
    assert train_main(["--data", str(data), "--out", str(other), "--steps", "1", "--seed", "1", *SMALL]) == 0
    assert losses(other)[0] != losses(full)[0]


def test_ddp_two_processes_match_one(tmp_path: Path, data: Path) -> None:
    """torchrun with 2 CPU processes (gloo) gives the loss of one process on the same global batch."""
    args = ["--data", str(data), "--steps", "3", "--head", "ar", "--grad-accum", "2", *SMALL]
    one, two = tmp_path / "one", tmp_path / "two"
    assert train_main([*args, "--out", str(one)]) == 0
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                    "-m", "vla.train_cli", *args, "--out", str(two)], check=True, env=env, capture_output=True,
                   timeout=300)
    assert losses(two) == pytest.approx(losses(one), rel=1e-5, abs=1e-6)
    a, b = load_file(one / "model.safetensors"), load_file(two / "model.safetensors")
    assert all(torch.allclose(a[k], b[k], atol=1e-5) for k in a)


def test_bf16_autocast_and_logs(tmp_path: Path, data: Path) -> None:
    out = tmp_path / "bf16"
    assert train_main(["--data", str(data), "--out", str(out), "--steps", "2", "--precision", "bf16",
                       "--head", "l1", "--save-every", "1", "--keep-checkpoints", "1", *SMALL]) == 0
    rows = list(csv.DictReader((out / "train_log.csv").open()))
    assert [int(r["step"]) for r in rows] == [1, 2]
    assert all(float(r["loss"]) > 0 and float(r["lr"]) > 0 for r in rows)
    assert [p.name for p in sorted(out.glob("checkpoint-*"))] == ["checkpoint-000002"]  # older ones pruned
    for name in ("config.json", "model.safetensors", "norm_stats.json", "tokenizer.json"):
        assert (out / name).exists()


def test_cli_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert train_main(["--data", str(tmp_path / "nope.hdf5"), "--out", str(tmp_path / "o"), "--steps", "1"]) == 2
    assert "data: " in capsys.readouterr().err  # one line naming the path, no traceback
    assert train_main(["--data", str(tmp_path), "--out", str(tmp_path / "o"), "--preset", "pretrained"]) == 2
    r = subprocess.run([sys.executable, "-m", "vla.cli", "train", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "--head" in r.stdout and "torchrun" in r.stdout
