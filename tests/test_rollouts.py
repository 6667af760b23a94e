"""``vla rollouts``: a policy's own episodes, failures included, in the demo layout with privileged labels."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from policies.chunking import ChunkingConfig
from policies.rollouts_cli import PolicyActor
from policies.rollouts_cli import main as rollouts_main
from policies.simple import ConstantPolicy


def test_rollouts_keep_failures_and_successes_with_privileged_positions(tmp_path):
    out = tmp_path / "ro"
    rc = rollouts_main(["--policy", "random", "--tasks", "PickCube", "--episodes-per-task", "2",
                        "--image-size", "32", "--out", str(out), "--no-progress"])
    assert rc == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["keep"] == "all" and summary["actor"] == "policy:random"
    assert summary["tasks"]["PickCube"]["kept"] == 2 and summary["tasks"]["PickCube"]["successes"] == 0
    with h5py.File(out / "PickCube_demo.hdf5", "r") as f:
        data = f["data"]
        assert json.loads(data.attrs["env_args"])["actor"] == "policy:random"
        seeds = []
        for key in ("demo_0", "demo_1"):
            g = data[key]
            n = int(g.attrs["num_samples"])
            assert not g.attrs["success"] and n == 150, "a failed episode runs to the task's step limit and is kept"
            assert g["obs/target_pos"].shape == (n, 3) and g["obs/goal_pos"].shape == (n, 3)
            actions = g["actions"][:]
            assert actions.shape == (n, 7) and np.abs(actions).max() <= 1.0
            assert np.unique(actions[:, 0]).size > 1, "random actions are recorded as executed"
            seeds.append(int(g.attrs["seed"]))
            states0, actions0, ee0 = g["states"][:], actions, g["obs/ee_pos"][:]
        assert seeds[0] != seeds[1] and min(seeds) >= 100_000
    # the recorded actions, replayed from the episode's seed, reproduce the recorded states
    from envs.tabletop.env import TabletopEnv

    env = TabletopEnv("PickCube", cameras=("agentview",), image_size=32)
    try:
        env.reset(seed=seeds[1])
        for t in range(20):
            np.testing.assert_allclose(env.get_state(), states0[t], atol=1e-9)
            env.step(actions0[t])
        np.testing.assert_allclose(env.scene.eef_pos(), ee0[20], atol=1e-6)
    finally:
        env.close()
    # the training reader gives the grounding labels
    from vla.hdf5_demos import load_demos

    demos = load_demos(out)
    assert len(demos) == 2 and demos[0].points is not None and demos[0].points.shape[1:] == (2, 3)
    # resized as read (what the training dataset does later, bit for bit): memory holds small images only
    import torch

    from vla.observation import resize_uint8

    small = load_demos(out, image_size=16)
    assert small[1].images["agentview_rgb"].shape == (150, 16, 16, 3)
    assert torch.equal(resize_uint8(small[1].images["agentview_rgb"], 16),
                       resize_uint8(demos[1].images["agentview_rgb"], 16))


def test_rollouts_of_the_expert_are_marked_successful(tmp_path):
    out = tmp_path / "ro"
    assert rollouts_main(["--policy", "expert", "--tasks", "PickCube", "--episodes-per-task", "1",
                          "--image-size", "32", "--out", str(out), "--no-progress"]) == 0
    with h5py.File(out / "PickCube_demo.hdf5", "r") as f:
        g = f["data/demo_0"]
        assert g.attrs["success"] and g["rewards"][-1] == 1.0 and int(g.attrs["num_samples"]) < 150


def test_policy_actor_needs_an_episode_start_and_rollouts_reject_bad_arguments(tmp_path, capsys):
    actor = PolicyActor(ConstantPolicy(), ChunkingConfig("open_loop"))
    with pytest.raises(RuntimeError, match="start_episode"):
        actor.act({})
    assert rollouts_main(["--policy", "random", "--episodes-per-task", "0", "--out", str(tmp_path)]) == 2
    assert "--episodes-per-task" in capsys.readouterr().err
    assert rollouts_main(["--policy", "random", "--suite", "libero_object", "--out", str(tmp_path)]) == 2
    assert "LIBERO" in capsys.readouterr().err
    assert rollouts_main(["--policy", "random", "--tasks", "Nope", "--episodes-per-task", "1",
                          "--out", str(tmp_path)]) == 2
    assert "Nope" in capsys.readouterr().err
