"""Reader for official LIBERO HDF5 demos, on small files the test writes in that layout."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from envs.libero.demos import LiberoDemoFile, write_libero_demos


def _demo(t: int, seed: int, gripper01: bool = False) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    actions = rng.uniform(-1, 1, (t, 7))
    actions[:, -1] = np.where(np.arange(t) < t // 2, -1.0, 1.0)  # open, then close (env convention)
    if gripper01:
        actions[:, -1] = (1.0 - actions[:, -1]) / 2.0  # 1 open / 0 closed
    img = rng.integers(0, 255, (t, 8, 10, 3), dtype=np.uint8)
    return {
        "actions": actions,
        "ee_pos": rng.normal(size=(t, 3)),
        "ee_ori": rng.normal(size=(t, 3)),
        "gripper_states": rng.normal(size=(t, 2)),
        "joint_states": rng.normal(size=(t, 7)),
        "states": rng.normal(size=(t, 12)),
        "agentview_rgb": img,
        "eye_in_hand_rgb": img[:, ::-1].copy(),
    }


def test_read_official_layout_with_conventions(tmp_path):
    demos = [_demo(6, 0), _demo(4, 1)]
    path = write_libero_demos(tmp_path / "task_demo.hdf5", demos, language_instruction="put the bowl on the plate")
    with h5py.File(path) as f:  # the official layout
        assert json.loads(f["data"].attrs["problem_info"])["language_instruction"] == "put the bowl on the plate"
        assert f["data/demo_1/obs/agentview_rgb"].shape == (4, 8, 10, 3)
        assert set(f["data/demo_0/obs"]) >= {"ee_pos", "ee_ori", "gripper_states", "joint_states", "ee_states"}
    with LiberoDemoFile(path) as f:
        assert len(f) == 2 and f.demo_keys == ["demo_0", "demo_1"] and f.instruction == "put the bowl on the plate"
        d = f[1]
        assert len(d) == 4 and d.file_gripper_convention == "env" and d.image_flip == "rot180"
        np.testing.assert_array_equal(d.actions, demos[1]["actions"])
        np.testing.assert_array_equal(d.agentview_rgb, demos[1]["agentview_rgb"][:, ::-1, ::-1])
        np.testing.assert_array_equal(d.eye_in_hand_rgb, demos[1]["eye_in_hand_rgb"][:, ::-1, ::-1])
        assert d.proprio.shape == (4, 8) and d.proprio.dtype == np.float32
        np.testing.assert_allclose(d.proprio[:, 3:6], demos[1]["ee_ori"], rtol=1e-6)
        np.testing.assert_array_equal(d.states, demos[1]["states"])
        arrays = d.training_arrays()
        assert arrays["actions"].dtype == np.float32 and set(arrays) == {
            "actions", "proprio", "instruction", "agentview_rgb", "eye_in_hand_rgb"}
        assert [x.key for x in f] == ["demo_0", "demo_1"]
    with LiberoDemoFile(path, image_flip="none", cameras=("agentview_rgb",)) as f:
        d = f["demo_0"]
        np.testing.assert_array_equal(d.agentview_rgb, demos[0]["agentview_rgb"])
        assert d.eye_in_hand_rgb is None


def test_grounding_positions_are_written_and_read_as_points(tmp_path):
    from vla.hdf5_demos import load_demos

    demo = _demo(5, 2)
    rng = np.random.default_rng(3)
    demo["target_pos"], demo["goal_pos"] = rng.normal(size=(5, 3)), rng.normal(size=(5, 3))
    path = write_libero_demos(tmp_path / "pts_demo.hdf5", [demo, _demo(3, 4)], language_instruction="x")
    with h5py.File(path) as f:
        assert f["data/demo_0/obs/target_pos"].dtype == np.float32 and "target_pos" not in f["data/demo_1/obs"]
    loaded = load_demos(path, cameras=("agentview_rgb",))
    assert loaded[0].points.shape == (5, 2, 3) and loaded[1].points is None
    np.testing.assert_allclose(loaded[0].points[:, 0], demo["target_pos"], rtol=1e-6)
    np.testing.assert_allclose(loaded[0].points[:, 1], demo["goal_pos"], rtol=1e-6)
    one = {k: v for k, v in demo.items() if k != "goal_pos"}
    with pytest.raises(ValueError, match="both or neither"):
        write_libero_demos(tmp_path / "one.hdf5", [one], language_instruction="x")
    with pytest.raises(ValueError, match=r"demos\[0\]\['goal_pos'\]: expected shape \[5, 3\]"):
        write_libero_demos(tmp_path / "bad.hdf5", [{**demo, "goal_pos": demo["goal_pos"][:4]}], language_instruction="x")


def test_open01_gripper_is_converted(tmp_path):
    demo = _demo(6, 2, gripper01=True)
    path = write_libero_demos(tmp_path / "g01.hdf5", [demo], language_instruction="x")
    with LiberoDemoFile(path) as f:
        d = f[0]
    assert d.file_gripper_convention == "open01"
    np.testing.assert_array_equal(d.actions[:, -1], [-1, -1, -1, 1, 1, 1])  # first half open
    with LiberoDemoFile(path, gripper="env") as f:  # declared explicitly: taken as is
        np.testing.assert_array_equal(f[0].actions[:, -1], demo["actions"][:, -1])


def test_bad_files_give_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        LiberoDemoFile(tmp_path / "missing.hdf5")
    bad = tmp_path / "bad.hdf5"
    with h5py.File(bad, "w") as f:
        f.create_group("other")
    with pytest.raises(ValueError, match="'data'"):
        LiberoDemoFile(bad)
    path = write_libero_demos(tmp_path / "ok.hdf5", [_demo(3, 3)], language_instruction="x")
    with h5py.File(path, "a") as f:
        del f["data/demo_0/obs/ee_ori"]
        f["data"].attrs["problem_info"] = json.dumps({"language_instruction": "x"})
    with LiberoDemoFile(path) as f:
        with pytest.raises(ValueError, match="ee_ori"):
            f[0]
        with pytest.raises(KeyError, match="demo_5"):
            f[5]
    with pytest.raises(ValueError, match="gripper"):
        LiberoDemoFile(path, gripper="closed01")
