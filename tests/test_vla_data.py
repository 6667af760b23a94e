"""Reading demonstrations (our tabletop layout and official LIBERO's) and building action chunks."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from vla.data import action_chunks
from vla.hdf5_demos import load_demos
from vla.synthetic import write_synthetic_demos


def test_chunks_repeat_the_last_action() -> None:
    a = np.arange(5 * 2, dtype=np.float32).reshape(5, 2)
    c = action_chunks(a, 3)
    assert c.shape == (5, 3, 2)
    np.testing.assert_array_equal(c[0], a[0:3])
    np.testing.assert_array_equal(c[3], a[[3, 4, 4]])
    np.testing.assert_array_equal(c[4], a[[4, 4, 4]])


def write_libero_style(path: Path, with_instruction: bool = True) -> np.ndarray:
    img = np.zeros((3, 16, 16, 3), np.uint8)
    img[:, 0, 0] = 255  # top-left pixel; LIBERO stores images upside down
    with h5py.File(path, "w") as f:
        data = f.create_group("data")
        if with_instruction:
            data.attrs["problem_info"] = json.dumps({"language_instruction": "put the bowl on the plate"})
        g = data.create_group("demo_0")
        g.create_dataset("actions", data=np.ones((3, 7), np.float32))
        obs = g.create_group("obs")
        obs.create_dataset("agentview_rgb", data=img)
        obs.create_dataset("eye_in_hand_rgb", data=img)
        obs.create_dataset("ee_pos", data=np.full((3, 3), 1.0, np.float32))
        obs.create_dataset("ee_ori", data=np.full((3, 3), 2.0, np.float32))
        obs.create_dataset("gripper_states", data=np.full((3, 2), 3.0, np.float32))
    return img


def test_official_libero_layout(tmp_path: Path) -> None:
    write_libero_style(tmp_path / "libero.hdf5")
    (demo,) = load_demos(tmp_path)
    assert demo.instruction == "put the bowl on the plate"
    np.testing.assert_array_equal(demo.proprio[0], [1, 1, 1, 2, 2, 2, 3, 3])
    assert demo.images["agentview_rgb"][0, -1, -1, 0] == 255  # rotated 180 degrees (auto)
    (raw,) = load_demos(tmp_path / "libero.hdf5", flip=False)
    assert raw.images["agentview_rgb"][0, 0, 0, 0] == 255


def test_tabletop_layout_and_errors(tmp_path: Path) -> None:
    write_synthetic_demos(tmp_path / "a.hdf5", n_demos=3, steps=4, image_size=16)
    demos = load_demos([tmp_path / "a.hdf5"])
    assert [d.instruction for d in demos] == ["pick up the red cube", "pick up the green cube", "pick up the blue cube"]
    assert demos[0].proprio.shape == (4, 8) and demos[0].images["eye_in_hand_rgb"].shape == (4, 16, 16, 3)
    write_libero_style(tmp_path / "b.hdf5", with_instruction=False)
    with pytest.raises(ValueError, match="no instruction"):
        load_demos(tmp_path / "b.hdf5")
    with pytest.raises(FileNotFoundError, match="no \\*.hdf5"):
        load_demos(tmp_path / "empty") if (tmp_path / "empty").mkdir() is None else None
