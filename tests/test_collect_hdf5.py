"""``vla collect`` writes a valid robomimic / LIBERO HDF5 file that ``read_demos`` loads back."""

from __future__ import annotations

import json

import h5py
import numpy as np

from envs.collect import main as collect_main
from envs.hdf5_demos import read_demos


def test_collect_writes_valid_hdf5_and_reader_round_trips(tmp_path):
    out = tmp_path / "demos"
    rc = collect_main(["--suite", "tabletop-10", "--episodes-per-task", "1", "--tasks", "PickCube",
                       "--image-size", "48", "--out", str(out), "--no-progress"])
    assert rc == 0
    path = out / "PickCube_demo.hdf5"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["kept"] == 1 and summary["tasks"]["PickCube"]["kept"] == 1
    with h5py.File(path, "r") as f:
        data = f["data"]
        meta = json.loads(data.attrs["env_args"])
        assert meta["controller"] == "OSC_POSE" and meta["task"] == "PickCube"
        assert data.attrs["images_upright"] and "problem_info" not in data.attrs  # not official LIBERO
        g = data["demo_0"]
        n = int(g.attrs["num_samples"])
        assert g.attrs["instruction"] and g.attrs["task"] == "PickCube"
        for key in ("actions", "states", "rewards", "dones"):
            assert g[key].shape[0] == n
        for key in ("agentview_rgb", "eye_in_hand_rgb", "ee_pos", "ee_ori", "gripper_states", "proprio"):
            assert g["obs"][key].shape[0] == n, key
        assert data.attrs["total"] == n
    (demo,) = read_demos(out)
    n = len(demo["actions"])
    assert demo["actions"].shape == (n, 7) and demo["actions"].dtype == np.float32
    assert demo["agentview_rgb"].shape == (n, 48, 48, 3) and demo["agentview_rgb"].dtype == np.uint8
    assert demo["proprio"].shape == (n, 8)
    np.testing.assert_array_equal(demo["proprio"][:, :3], demo["ee_pos"])
    assert demo["dones"][-1] == 1 and demo["dones"][:-1].sum() == 0
    assert demo["rewards"][-1] == 1.0, "only successful episodes are kept"
    assert demo["instruction"].startswith(("pick up", "lift", "grab")) and demo["task"] == "PickCube"
    assert np.abs(demo["actions"]).max() <= 1.0
    # the recorded states reproduce the recorded observations
    from envs.tabletop.env import TabletopEnv

    env = TabletopEnv("PickCube", cameras=("agentview",), image_size=48)
    try:
        env.reset(seed=demo["seed"])
        t = n // 2
        env.scene.sim.set_state_from_flattened(demo["states"][t])
        env.scene.sim.forward()
        np.testing.assert_allclose(env.scene.eef_pos(), demo["ee_pos"][t], atol=1e-5)
        np.testing.assert_array_equal(env._render("agentview"), demo["agentview_rgb"][t])
    finally:
        env.close()
    # the training reader loads the file as is (upright images, proprio, instruction)
    from vla.hdf5_demos import load_demos

    (train_demo,) = load_demos(out)
    np.testing.assert_array_equal(train_demo.images["agentview_rgb"], demo["agentview_rgb"])
    np.testing.assert_array_equal(train_demo.proprio, demo["proprio"])
    assert train_demo.instruction == demo["instruction"]
    only = read_demos(path, keys=("actions",))
    assert "agentview_rgb" not in only[0] and only[0]["actions"].shape == (n, 7)


def test_collect_rejects_bad_arguments(tmp_path, capsys):
    assert collect_main(["--episodes-per-task", "0", "--out", str(tmp_path)]) == 2
    assert "episodes_per_task" in capsys.readouterr().err
    assert collect_main(["--tasks", "Nope", "--episodes-per-task", "1", "--out", str(tmp_path)]) == 2
    assert "Nope" in capsys.readouterr().err
