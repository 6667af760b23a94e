"""ManiSkill3 suite (``envs/maniskill``) in the real ManiSkill / SAPIEN simulator, no mocks.

Small images (32 px) and one shared env keep the file fast; the first camera frame of an env
costs several seconds on software Vulkan (lavapipe compiles its pipelines), so the tests share
one env with both cameras and the CLI test runs a single task.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from envs.maniskill.tasks import (
    INSTRUCTIONS,
    MANISKILL_MAX_STEPS,
    MANISKILL_SUITE,
    MANISKILL_TASKS,
    maniskill_init_seeds,
)

ROOT = Path(__file__).resolve().parents[1]
SIZE = 32
_ENVS: dict[tuple[str, bool], object] = {}


def get_env(task: str, cameras: bool = True):
    """One env per (task, with cameras) shared by the tests of this module."""
    from envs.maniskill.env import ManiSkillEnv

    key = (task, cameras)
    if key not in _ENVS:
        _ENVS[key] = ManiSkillEnv(task, cameras=("agentview", "eye_in_hand") if cameras else (), image_size=SIZE)
    return _ENVS[key]


@pytest.fixture(scope="module", autouse=True)
def _close_envs():
    yield
    for env in _ENVS.values():
        env.close()
    _ENVS.clear()


def _run(args: list[str], timeout: int = 240, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def test_suite_registered_without_loading_the_simulator():
    code = ("import sys, envs\n"
            "from policies.suites import get_suite\n"
            "specs = envs.get_suite('maniskill')\n"
            "print([s.name for s in specs], [s.max_steps for s in specs], specs[0].num_init_states)\n"
            "print(get_suite('maniskill').protocol().tasks)\n"
            "print('mani_skill' in sys.modules, 'torch' in sys.modules, 'sapien' in sys.modules)\n")
    r = _run(["-c", code], timeout=120)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert lines[0] == "['PickCube', 'StackCube', 'PushCube'] [120, 160, 80] 50"
    assert lines[1] == "('PickCube', 'StackCube', 'PushCube')"
    assert lines[2] == "False False False"  # import envs stays light


def test_init_seeds_are_fixed_and_disjoint():
    seeds = [set(maniskill_init_seeds(t)) for t in MANISKILL_TASKS]
    assert all(len(s) == 50 for s in seeds)
    assert not (seeds[0] & seeds[1]) and not (seeds[1] & seeds[2])
    assert min(min(s) for s in seeds) >= 3_000_000  # away from tabletop / robosuite / collection seeds
    assert maniskill_init_seeds("PickCube") == maniskill_init_seeds("PickCube")


def test_bad_names_give_clear_errors():
    import envs
    from envs.maniskill.env import ManiSkillEnv
    from policies.suites import get_suite

    with pytest.raises(ValueError, match=r"suite: expected one of .*'maniskill'.*got 'maniskil'"):
        envs.get_suite("maniskil")
    with pytest.raises(ValueError, match=r"unknown suite 'maniskil'; expected one of .*'maniskill'"):
        get_suite("maniskil")
    with pytest.raises(ValueError, match=r"task: expected one of .*'PickCube'.*got 'PickCube-v1'"):
        envs.get_task_spec("maniskill", "PickCube-v1")
    with pytest.raises(ValueError, match=r"task: expected one of \('PickCube', 'StackCube', 'PushCube'\), got 'Lift'"):
        ManiSkillEnv("Lift")
    with pytest.raises(ValueError, match=r"cameras: expected a subset of \('agentview', 'eye_in_hand'\), got 'top'"):
        ManiSkillEnv("PickCube", cameras=("top",))
    with pytest.raises(ValueError, match=r"image_size: expected a positive int, got 0"):
        ManiSkillEnv("PickCube", image_size=0)


def test_cli_rejects_unknown_suite_and_task(tmp_path):
    r = _run(["-m", "vla.cli", "eval", "--suite", "maniskil", "--policy", "random", "--out", str(tmp_path / "a")],
             timeout=180)
    assert r.returncode == 2
    assert "unknown suite 'maniskil'" in r.stderr and "maniskill" in r.stderr
    r = _run(["-m", "vla.cli", "eval", "--suite", "maniskill", "--tasks", "Lift", "--policy", "random",
              "--out", str(tmp_path / "b")], timeout=180)
    assert r.returncode == 2
    assert "Lift" in r.stderr and "PickCube" in r.stderr


def test_observation_layout_and_fixed_initial_state():
    env = get_env("PickCube")
    obs, info = env.reset(options={"init_state_index": 3})
    assert set(obs) == {"agentview_rgb", "eye_in_hand_rgb", "proprio", "instruction"}
    for key in ("agentview_rgb", "eye_in_hand_rgb"):
        assert obs[key].shape == (SIZE, SIZE, 3) and obs[key].dtype == np.uint8
        assert obs[key].std() > 5  # a real picture, not a blank frame
    assert obs["proprio"].shape == (8,) and obs["proprio"].dtype == np.float32
    assert obs["instruction"] == INSTRUCTIONS["PickCube"]
    assert info["init_state_index"] == 3 and info["episode_seed"] == maniskill_init_seeds("PickCube")[3]
    # finger qpos as robosuite reports it: open Panda fingers at +0.04 / -0.04
    np.testing.assert_allclose(obs["proprio"][6:], [0.04, -0.04], atol=2e-3)
    np.testing.assert_allclose(obs["proprio"][:3], env.tcp_pose()[0], atol=1e-6)
    state, cube = env.get_state(), env.object_positions()["cube"]
    img = obs["agentview_rgb"].copy()

    for _ in range(3):  # move away, then reset to the same fixed state
        env.step(np.array([0.5, -0.5, 0.3, 0.0, 0.0, 0.2, 1.0]))
    assert not np.allclose(env.get_state(), state)
    obs2, _ = env.reset(options={"init_state_index": 3})
    np.testing.assert_array_equal(env.get_state(), state)
    np.testing.assert_array_equal(env.object_positions()["cube"], cube)
    np.testing.assert_array_equal(obs2["proprio"], obs["proprio"])
    np.testing.assert_array_equal(obs2["agentview_rgb"], img)
    env.reset(options={"init_state_index": 4})
    assert not np.allclose(env.object_positions()["cube"], cube)  # another init state, another layout
    with pytest.raises(ValueError, match=r"init_state_index: expected 0\.\.49, got 50"):
        env.reset(options={"init_state_index": 50})


def test_action_convention():
    """+x moves the TCP along +x (base frame), +yaw turns it right-handed, +1 closes the gripper."""
    from envs.maniskill.experts import _quat_to_mat

    env = get_env("PickCube")
    env.reset(options={"init_state_index": 0})
    p0, q0 = env.tcp_pose()
    yaw0 = np.arctan2(*_quat_to_mat(q0)[[1, 0], 0])
    for _ in range(4):
        obs, *_ = env.step(np.array([1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0]))
    p1, q1 = env.tcp_pose()
    yaw1 = np.arctan2(*_quat_to_mat(q1)[[1, 0], 0])
    assert p1[0] - p0[0] > 0.05 and abs(p1[1] - p0[1]) < 0.02
    assert 0.05 < yaw1 - yaw0 < 0.5
    assert obs["proprio"][6] < 0.03  # fingers closing
    with pytest.raises(ValueError, match=r"action: expected shape \(7,\), got \(6,\)"):
        env.step(np.zeros(6))


@pytest.mark.parametrize("task", ["PickCube"])
def test_expert_episode_succeeds(task):
    from envs.experts import make_expert

    env = get_env(task)
    expert = make_expert(env, seed=0)
    obs, _ = env.reset(seed=7_000_001)  # a seed outside the evaluation and collection ranges
    info = {"success": False}
    for _ in range(env.max_steps):
        obs, reward, terminated, truncated, info = env.step(expert.act(obs))
        if terminated or truncated:
            break
    assert info["success"] and terminated and reward == 1.0
    assert info["steps"] < MANISKILL_MAX_STEPS[task]
    assert env.check_success()  # the task's own evaluate()
    labels = env.privileged_positions()
    np.testing.assert_allclose(labels["target_pos"], labels["goal_pos"], atol=0.025)


def test_eval_cli_random_policy_writes_episodes(tmp_path):
    out = tmp_path / "eval"
    r = _run(["-m", "vla.cli", "eval", "--suite", MANISKILL_SUITE, "--policy", "random", "--tasks", "PushCube",
              "--episodes-per-task", "2", "--max-steps", "4", "--videos-per-task", "0", "--no-progress",
              "--out", str(out)])
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    episodes = [json.loads(line) for line in (out / "episodes.jsonl").read_text().splitlines()]
    assert len(episodes) == 2
    for i, ep in enumerate(episodes):
        assert ep["task"] == "PushCube" and ep["error"] is None, ep.get("traceback")
        assert ep["steps"] == 4 and ep["success"] is False
        assert ep["init_state_index"] == i
        assert ep["instruction"] == INSTRUCTIONS["PushCube"]


@pytest.mark.parametrize("cameras", [("agentview",), ()])
def test_missing_vulkan_is_one_clear_line(cameras):
    """No Vulkan driver: building an env (cameras or not) fails at once, saying what is missing."""
    code = ("from envs.maniskill.env import ManiSkillEnv\n"
            "try:\n"
            f"    ManiSkillEnv('PushCube', cameras={cameras!r}, image_size=16)\n"
            "except RuntimeError as e:\n"
            "    print(type(e).__name__ + ': ' + str(e))\n")
    r = _run(["-c", code], timeout=120, env={"VK_ICD_FILENAMES": "/nonexistent/icd.json",
                                             "VK_DRIVER_FILES": "/nonexistent/icd.json"})
    assert r.returncode == 0, r.stderr
    line = r.stdout.strip()
    assert "\n" not in line
    assert line.startswith("VulkanUnavailable: ManiSkill (SAPIEN) needs Vulkan: SAPIEN found no Vulkan rendering device")
    assert "lavapipe" in line and "60-maniskill.sh" in line


@pytest.mark.slow
@pytest.mark.parametrize("task", MANISKILL_TASKS)
def test_expert_success_rate(task):
    from envs.experts import make_expert

    env = get_env(task, cameras=False)
    expert = make_expert(env, seed=0)
    wins = 0
    for seed in range(8_000_000, 8_000_020):
        obs, _ = env.reset(seed=seed)
        expert.reset()
        for _ in range(env.max_steps):
            obs, _, terminated, truncated, info = env.step(expert.act(obs))
            if terminated or truncated:
                break
        wins += info["success"]
    assert wins >= 19


@pytest.mark.slow
def test_collect_writes_tabletop_layout(tmp_path):
    from envs.hdf5_demos import read_demos

    r = _run(["-m", "vla.cli", "collect", "--suite", "maniskill", "--tasks", "PushCube", "--episodes-per-task", "2",
              "--image-size", "32", "--no-progress", "--out", str(tmp_path)])
    assert r.returncode == 0, r.stderr[-2000:]
    demos = read_demos(tmp_path / "PushCube_demo.hdf5")
    assert len(demos) == 2
    for d in demos:
        n = len(d["actions"])
        assert d["actions"].shape == (n, 7) and d["rewards"][-1] == 1.0 and d["dones"][-1] == 1
        assert d["agentview_rgb"].shape == (n, 32, 32, 3) and d["eye_in_hand_rgb"].dtype == np.uint8
        assert d["proprio"].shape == (n, 8) and d["joint_states"].shape == (n, 7)
        assert d["target_pos"].shape == (n, 3) and d["goal_pos"].shape == (n, 3)
        np.testing.assert_array_equal(d["proprio"][:, :3], d["ee_pos"])
        assert d["env_args"]["controller"] == "pd_ee_delta_pose"
