"""End to end through the CLI: collect 2 expert demos, train a few steps, evaluate 1 episode per task."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def vla(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "MUJOCO_GL": os.environ.get("MUJOCO_GL", "egl")}
    res = subprocess.run(
        [sys.executable, "-m", "vla.cli", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert res.returncode == 0, f"vla {' '.join(args)} failed:\n{res.stdout[-2000:]}\n{res.stderr[-4000:]}"
    return res


def test_collect_train_eval_through_the_cli(tmp_path):
    demos, ckpt, out = tmp_path / "demos", tmp_path / "ckpt", tmp_path / "eval"
    vla("collect", "--suite", "tabletop-10", "--tasks", "PickCube", "--episodes-per-task", "2",
        "--image-size", "64", "--out", str(demos), "--no-progress")
    assert (demos / "PickCube_demo.hdf5").exists()
    vla("train", "--data", str(demos), "--out", str(ckpt), "--steps", "2", "--batch-size", "4",
        "--horizon", "4", "--no-progress")
    assert (ckpt / "config.json").exists()
    res = vla("eval", "--policy", str(ckpt), "--suite", "tabletop", "--episodes-per-task", "1", "--max-steps", "3",
              "--workers", "2", "--out", str(out), "--no-progress", "--decoder", "steps=2")
    assert "average over tasks" in res.stdout
    recs = [json.loads(x) for x in (out / "episodes.jsonl").read_text().splitlines()]
    tasks = json.loads((out / "run.json").read_text())["protocol"]["tasks"]
    assert sorted(r["task"] for r in recs) == sorted(tasks) and len(tasks) == 10
    for r in recs:
        assert r["error"] is None, r
        assert r["steps"] == 3 and r["n_infer"] == 1 and r["mean_nfe"] == 2.0  # H=4 covers 3 steps, 2 decode steps
    summary = json.loads((out / "summary.json").read_text())
    assert summary["overall"]["episodes"] == 10 and summary["complete"]
    assert summary["policy"]["decoder"] == {"steps": 2}
    assert summary["git"]["commit"] is None or len(summary["git"]["commit"]) == 40
    assert (out / "sr_per_task.png").read_bytes()[:4] == b"\x89PNG"
    videos = sorted(p.name for p in (out / "videos").glob("*.mp4"))
    assert len(videos) == 10 and all("__ep000__" in v and v.endswith(("__success.mp4", "__failure.mp4")) for v in videos)
    assert all((out / "videos" / v).stat().st_size > 1000 for v in videos)
