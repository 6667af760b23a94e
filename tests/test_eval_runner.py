"""Closed loop on the real tabletop suite: 1 vs 2 workers, killed-run resume, bad observations.

Short protocols (few steps) keep this fast; everything runs the real MuJoCo env.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from policies.chunking import ChunkingConfig
from policies.evaluation import run_evaluation
from policies.executor import InProcessExecutor
from policies.runner import TIMING_FIELDS, RolloutSetup
from policies.suites import get_suite

REPO = Path(__file__).resolve().parent.parent


def short_protocol(episodes: int = 2, max_steps: int = 12, n_tasks: int = 2):
    p = get_suite("tabletop").protocol()
    return replace(p, tasks=p.tasks[:n_tasks], episodes_per_task=episodes, max_steps=max_steps)


def strip(records: list[dict]) -> list[dict]:
    out = [{k: v for k, v in r.items() if k not in TIMING_FIELDS} for r in records]
    return sorted(out, key=lambda r: (r["task_index"], r["episode"]))


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def test_one_and_two_workers_give_identical_episodes(tmp_path):
    protocol = short_protocol(episodes=2, max_steps=10)
    setup = RolloutSetup(
        "policies.factories:make_suite_env", "policies.factories:make_policy", protocol,
        policy_kwargs={"spec": "random:horizon=4"}, chunking=ChunkingConfig("ensemble", ensemble_m=0.1),
        torch_threads=1,
    )
    run_evaluation(setup, str(tmp_path / "w1"), {"spec": "random"}, workers=1, videos_per_task=0, progress=False)
    run_evaluation(setup, str(tmp_path / "w2"), {"spec": "random"}, workers=2, videos_per_task=0, progress=False)
    a, b = read_jsonl(tmp_path / "w1" / "episodes.jsonl"), read_jsonl(tmp_path / "w2" / "episodes.jsonl")
    assert len(a) == len(b) == 4
    assert len({r["worker_pid"] for r in b}) == 2, "two worker processes must have shared the episodes"
    assert strip(a) == strip(b)
    assert all(r["error"] is None and r["steps"] > 0 for r in a)


def test_killed_run_resumes_without_loss_or_duplicates(tmp_path):
    out = tmp_path / "run"
    cmd = [
        sys.executable, "-m", "vla.cli", "eval", "--suite", "tabletop", "--policy", "random:horizon=2",
        "--episodes-per-task", "3", "--max-steps", "15", "--tasks", *get_suite("tabletop").protocol().tasks[:2],
        "--out", str(out), "--videos-per-task", "0", "--no-progress", "--threads", "1",
    ]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    jsonl = out / "episodes.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if jsonl.exists() and len(jsonl.read_bytes().splitlines()) >= 2:
            break
        time.sleep(0.05)
    assert proc.poll() is None, f"run ended before it could be killed: {proc.stderr.read().decode()[-2000:]}"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    partial = read_jsonl(jsonl)
    assert 2 <= len(partial) < 6
    res = subprocess.run(cmd + ["--resume"], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    final = read_jsonl(jsonl)
    keys = [(r["task"], r["episode"]) for r in final]
    assert len(keys) == 6 and len(set(keys)) == 6, keys
    assert final[: len(partial)] == partial, "records written before the kill must be kept as they were"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["overall"]["episodes"] == 6 and summary["complete"] is True
    run = json.loads((out / "run.json").read_text())
    assert run["resumed"] == 1


def test_more_episodes_per_task_extends_a_finished_run(tmp_path):
    """A finished 1-episode run resumed with 2 episodes per task runs only the new episodes and ends
    equal to a 2-episode run made from scratch (episode i's init state and seed do not depend on the count)."""
    def setup(episodes: int) -> RolloutSetup:
        return RolloutSetup("policies.factories:make_suite_env", "policies.factories:make_policy",
                            short_protocol(episodes=episodes, max_steps=8),
                            policy_kwargs={"spec": "random:horizon=4"}, chunking=ChunkingConfig("open_loop", None),
                            torch_threads=1)
    run_evaluation(setup(1), str(tmp_path / "ext"), {"spec": "random"}, videos_per_task=0, progress=False)
    first = read_jsonl(tmp_path / "ext" / "episodes.jsonl")
    summary = run_evaluation(setup(2), str(tmp_path / "ext"), {"spec": "random"}, resume=True, videos_per_task=0,
                             progress=False)
    run_evaluation(setup(2), str(tmp_path / "fresh"), {"spec": "random"}, videos_per_task=0, progress=False)
    ext, fresh = read_jsonl(tmp_path / "ext" / "episodes.jsonl"), read_jsonl(tmp_path / "fresh" / "episodes.jsonl")
    assert ext[: len(first)] == first and len(ext) == 4
    assert strip(ext) == strip(fresh)
    assert summary["overall"]["episodes"] == 4 and summary["complete"] is True
    assert json.loads((tmp_path / "ext" / "run.json").read_text())["extended_from"] == [1]


class CorruptObservation:
    """Env wrapper (real env underneath) that breaks one field of some episodes after a few steps."""

    def __init__(self, env, bad: dict[int, str], after: int = 3) -> None:
        self.env, self.bad, self.after = env, bad, after
        self.action_space = env.action_space
        self.unwrapped = env.unwrapped
        self._field, self._t = None, 0

    def reset(self, *, seed=None, options=None):
        self._field, self._t = self.bad.get(seed), 0
        obs, info = self.env.reset(seed=seed, options=options)
        return self._corrupt(obs), info

    def step(self, action):
        self._t += 1
        obs, r, term, trunc, info = self.env.step(action)
        return self._corrupt(obs), r, term, trunc, info

    def _corrupt(self, obs):
        if self._field and self._t >= self.after:
            obs = dict(obs)
            if self._field == "proprio":
                obs["proprio"] = np.full_like(obs["proprio"], np.nan)
            elif self._field == "agentview_rgb":
                obs["agentview_rgb"] = obs["agentview_rgb"].astype(np.float32) / 255.0
            elif self._field == "eye_in_hand_rgb":
                del obs["eye_in_hand_rgb"]
        return obs

    def close(self):
        self.env.close()


def corrupt_env(task, protocol):
    from policies.factories import make_suite_env

    # episode seeds of task 0 are 0, 1, 2, 3 (protocol seed 0)
    return CorruptObservation(make_suite_env(task, protocol), {1: "proprio", 2: "agentview_rgb", 3: "eye_in_hand_rgb"})


def test_bad_observations_error_the_episode_and_the_run_continues(tmp_path):
    protocol = short_protocol(episodes=4, max_steps=8, n_tasks=1)
    setup = RolloutSetup(corrupt_env, "policies.factories:make_policy", protocol, policy_kwargs={"spec": "expert"})
    summary = run_evaluation(
        setup, str(tmp_path), {"spec": "expert"}, executor=InProcessExecutor(), videos_per_task=0, progress=False
    )
    recs = sorted(read_jsonl(tmp_path / "episodes.jsonl"), key=lambda r: r["episode"])
    assert [r["episode"] for r in recs] == [0, 1, 2, 3], "every episode is recorded, errored or not"
    assert recs[0]["error"] is None and recs[0]["steps"] == 8
    assert recs[1]["error"].startswith("ObservationError") and "'proprio'" in recs[1]["error"] and "NaN" in recs[1]["error"]
    assert "'agentview_rgb'" in recs[2]["error"] and "uint8" in recs[2]["error"]
    assert "'eye_in_hand_rgb' is missing" in recs[3]["error"]
    for r in recs[1:]:
        assert r["steps"] == 3 and r["success"] is False
    assert summary["tasks"][0]["errored"] == 3 and summary["overall"]["episodes"] == 4


def test_no_process_outlives_a_two_worker_evaluation(tmp_path):
    """Every worker (and multiprocessing's resource tracker) is gone once `vla eval --workers 2` exits."""
    cmd = [sys.executable, "-m", "vla.cli", "eval", "--policy", "random:horizon=4", "--suite", "tabletop",
           "--tasks", "PickCube", "PushLeft", "--episodes-per-task", "2", "--max-steps", "8",
           "--videos-per-task", "0", "--no-progress", "--workers", "2", "--out", str(tmp_path / "o")]
    proc = subprocess.Popen(cmd, cwd=REPO, start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env={**os.environ, "MUJOCO_GL": "egl"})
    assert proc.wait(timeout=300) == 0
    assert len(read_jsonl(tmp_path / "o" / "episodes.jsonl")) == 4

    def group() -> list[int]:
        pids = []
        for p in os.listdir("/proc"):
            try:
                if p.isdigit() and os.getpgid(int(p)) == proc.pid:
                    stat = Path(f"/proc/{p}/stat").read_text()
                    if stat.rsplit(")", 1)[1].split()[0] != "Z":  # zombies are reaped by init, not ours
                        pids.append(int(p))
            except (OSError, ProcessLookupError):
                continue
        return pids

    deadline = time.time() + 10
    while group() and time.time() < deadline:
        time.sleep(0.2)
    assert group() == [], "processes left in the evaluation's process group"
