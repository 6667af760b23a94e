"""Eval records say which object the gripper went to (real tabletop sim, scripted expert)."""

from __future__ import annotations

import dataclasses

from envs.tabletop.env import TabletopEnv
from envs.tabletop.experts import make_expert
from policies.grasp_outcome import GraspTracker, failure_counts
from policies.results import markdown_table, summarize_records


def _run(env: TabletopEnv, steer_to: str | None = None) -> tuple[GraspTracker, bool]:
    obs, _ = env.reset(seed=7)
    tracker = GraspTracker(env)
    if steer_to is not None:  # the expert now goes for another object; the tracker keeps the instructed one
        env.episode = dataclasses.replace(env.episode, target=steer_to)
    expert = make_expert(env, noise=0.0, seed=0)
    success = False
    for _ in range(80):
        action = expert.act(obs)
        obs, _, terminated, truncated, info = env.step(action)
        tracker.step(action, obs)
        success = bool(info["success"])
        if terminated or truncated or tracker.closed_near is not None:
            break
    return tracker, success


def test_tracker_names_the_grasped_object() -> None:
    env = TabletopEnv("PickCube", cameras=(), image_size=32)
    try:
        tracker, _ = _run(env)
        target = env.episode.target
        assert tracker.supported and tracker.went_to == target and tracker.closed_near == target
        assert tracker.grasp_dist < 0.03
        assert tracker.record(True)["failure"] is None
        assert tracker.record(False)["failure"] == "imprecise"
        other = next(n for n in env.episode.layout.poses if n != target)
        wrong, _ = _run(env, steer_to=other)
        rec = wrong.record(False)
        assert rec["target_object"] == target and rec["went_to"] == other and rec["failure"] == "wrong_object"
        wrong.went_to = None  # had it come within 5 cm of nothing
        assert wrong.record(False)["failure"] == "missed"
    finally:
        env.close()


def test_summary_counts_failure_kinds() -> None:
    recs = [{"task": "PickCube", "episode": i, "success": i == 0, "failure": f}
            for i, f in enumerate([None, "wrong_object", "wrong_object", "imprecise", "missed"])]
    assert failure_counts(recs) == {"wrong_object": 2, "imprecise": 1, "missed": 1}
    assert failure_counts([{"task": "X", "episode": 0, "success": False}]) is None
    summary = summarize_records(recs, {"protocol": {"tasks": ["PickCube"]}})
    assert summary["tasks"][0]["failures"]["wrong_object"] == 2
    assert "wrong object 2" in markdown_table(summary)
