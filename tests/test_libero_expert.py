"""Scripted LIBERO-Object expert: collected demos succeed, and replaying them reproduces success.

Slow (a full pick-and-place episode in a LIBERO scene): run with ``-m slow``.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from envs.collect import main as collect_main
from envs.libero import LiberoSuite
from envs.libero.demos import LiberoDemoFile


@pytest.mark.slow
def test_collect_then_replay_reproduces_success(tmp_path, capsys):
    # through `vla collect`, which hands LIBERO suites to the LIBERO collector
    rc = collect_main(["--suite", "libero_object", "--out", str(tmp_path), "--episodes-per-task", "1", "--tasks", "0",
                       "--image-size", "64", "--cameras", "agentview", "--max-attempts-factor", "2", "--no-progress"])
    report = json.loads(capsys.readouterr().out)
    assert rc == 0
    assert report["kept"] == 1, report
    path = report["tasks"][0]["file"]
    with LiberoDemoFile(path) as f:
        assert f.instruction == "pick up the alphabet soup and place it in the basket"
        demo = f[0]
    assert demo.file_gripper_convention == "env" and demo.agentview_rgb.shape[1:] == (64, 64, 3)
    assert set(np.unique(demo.actions[:, -1])) == {-1.0, 1.0}  # opens, closes, opens
    # replay: same seed + placement, same wait steps, then the recorded actions
    suite = LiberoSuite("libero_object")
    env = suite.make_env(0, image_size=64, cameras=("agentview",))
    try:
        seed = report["tasks"][0]["seeds"][0]
        env.reset(seed=seed, options={"sample_init": True})
        for _ in range(suite.protocol.wait_steps):
            env.step(suite.protocol.dummy_action)
        np.testing.assert_allclose(env.sim_state(), demo.states[0], atol=1e-9)
        outcomes = [env.step(a)[2] for a in demo.actions]
        assert outcomes[-1] and not any(outcomes[:-1])
    finally:
        env.close()


@pytest.mark.slow
def test_expert_rejects_non_pick_place_task():
    from envs.libero.expert import PickPlaceExpert

    env = LiberoSuite("libero_goal").make_env(0, image_size=32, cameras=())
    try:
        env.reset(options={"episode_index": 0})
        with pytest.raises(ValueError, match="basket"):
            PickPlaceExpert(env)
    finally:
        env.close()
