"""robosuite classic tasks (Lift, Stack, PickPlaceCan) in real MuJoCo behind the project's env API."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from envs.robosuite.tasks import (
    INSTRUCTIONS,
    ROBOSUITE_MAX_STEPS,
    ROBOSUITE_SUITE,
    ROBOSUITE_TASKS,
    RobosuiteTaskEnv,
    robosuite_env_id,
)

SIZE = 64
_ENVS: dict[tuple[str, bool], RobosuiteTaskEnv] = {}


def get_env(task: str, cameras: bool = True) -> RobosuiteTaskEnv:
    """One env per (task, with cameras) shared by the tests of this module."""
    key = (task, cameras)
    if key not in _ENVS:
        cams = ("agentview", "eye_in_hand") if cameras else ()
        _ENVS[key] = RobosuiteTaskEnv(task, cameras=cams, image_size=SIZE)
    return _ENVS[key]


@pytest.fixture(scope="module", autouse=True)
def _close_envs():
    yield
    for env in _ENVS.values():
        env.close()
    _ENVS.clear()


def _poses(env: RobosuiteTaskEnv) -> np.ndarray:
    scene = env.scene
    return np.concatenate([np.r_[scene.object_pos(n), scene.object_quat(n)] for n in scene.objects])


@pytest.mark.parametrize("task", ROBOSUITE_TASKS)
def test_observation_spec_and_random_steps(task):
    env = get_env(task)
    obs, info = env.reset(options={"init_state_index": 0})
    assert set(obs) == {"agentview_rgb", "eye_in_hand_rgb", "proprio", "instruction"}
    for k in ("agentview_rgb", "eye_in_hand_rgb"):
        assert obs[k].dtype == np.uint8 and obs[k].shape == (SIZE, SIZE, 3)
        assert obs[k].std() > 5, f"{k} looks blank"
    assert obs["proprio"].dtype == np.float32 and obs["proprio"].shape == (8,)
    np.testing.assert_allclose(obs["proprio"][:3], env.scene.eef_pos(), atol=1e-5)
    np.testing.assert_allclose(obs["proprio"][6:], env.scene.gripper_qpos(), atol=1e-5)
    assert obs["instruction"] == info["instruction"] == INSTRUCTIONS[task]
    assert env.observation_space.contains(obs)
    assert info["success"] is False and info["task"] == task and info["steps"] == 0
    assert env.image_flip_applied and env.cameras == ("agentview", "eye_in_hand")
    rng = np.random.default_rng(0)
    for _ in range(3):
        obs, reward, terminated, truncated, info = env.step(rng.uniform(-1, 1, 7).astype(np.float32))
        assert reward == 0.0 and not terminated and not truncated and not info["success"]
        assert env.observation_space.contains(obs)
    assert info["steps"] == 3
    assert np.isfinite(env.get_state()).all()
    meta = env.metadata_dict()
    assert meta["env_name"] == task and meta["action_dim"] == 7
    assert meta["max_steps"] == ROBOSUITE_MAX_STEPS[task]
    with pytest.raises(ValueError, match="action"):
        env.step(np.zeros(6))
    with pytest.raises(ValueError, match="init_state_index"):
        env.reset(options={"init_state_index": 50})


@pytest.mark.parametrize("task", ROBOSUITE_TASKS)
def test_init_states_are_fixed_and_distinct(task):
    env = get_env(task, cameras=False)
    actions = np.random.default_rng(1).uniform(-1, 1, (4, 7))

    def rollout(**reset_kwargs):
        obs, info = env.reset(**reset_kwargs)
        out = [(_poses(env), obs["proprio"])]
        for a in actions:
            out.append((_poses(env), env.step(a)[0]["proprio"]))
        return out, info

    first, info = rollout(options={"init_state_index": 3})
    assert info["episode_seed"] == env.init_seeds[3] and info["init_state_index"] == 3
    env.reset(seed=123)
    env.step(np.ones(7))  # leave the gripper closed: must not leak into the next episode
    other, _ = rollout(options={"init_state_index": 4})
    again, _ = rollout(options={"init_state_index": 3})
    for (p1, q1), (p2, q2) in zip(first, again):
        np.testing.assert_array_equal(p1, p2)
        np.testing.assert_array_equal(q1, q2)
    assert not np.allclose(first[0][0], other[0][0], atol=1e-3), "init states 3 and 4 should differ"
    a = env.reset(seed=7)[0]["proprio"], _poses(env)
    b = env.reset(seed=7)[0]["proprio"], _poses(env)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    # robosuite's randomness comes from numpy's global generator: the caller's state is untouched
    np.random.seed(5)
    expected = np.random.random()
    np.random.seed(5)
    env.reset(options={"init_state_index": 1})
    assert np.random.random() == expected


def test_fresh_env_has_the_same_init_state_and_seed_ranges_are_disjoint():
    from envs.registry import tabletop_init_seeds

    env = get_env("Lift", cameras=False)
    env.reset(options={"init_state_index": 2})
    fresh = RobosuiteTaskEnv("Lift", cameras=())
    try:
        fresh.reset(options={"init_state_index": 2})
        np.testing.assert_array_equal(env.get_state(), fresh.get_state())
    finally:
        fresh.close()
    seeds = [set(get_env(t, cameras=False).init_seeds) for t in ROBOSUITE_TASKS]
    seeds.append(set(tabletop_init_seeds("PickCube")))
    assert sum(len(s) for s in seeds) == len(set().union(*seeds))


def _upright(img: np.ndarray) -> bool:
    """agentview: the (bright) table fills the bottom of the frame, robot/back wall the top."""
    rows = img.astype(float).mean(axis=(1, 2))
    return rows[-SIZE // 4:].mean() > rows[: SIZE // 4].mean() + 30


def test_images_upright():
    env = get_env("Lift")
    obs, _ = env.reset(options={"init_state_index": 0})
    img = obs["agentview_rgb"]
    assert _upright(img) and not _upright(img[::-1]), "agentview should be upright (table at the bottom)"
    # wrist camera: the dark fingertips are at the bottom of the upright frame, the table above
    wrist = obs["eye_in_hand_rgb"].astype(int).sum(-1)
    assert (wrist[-SIZE // 10:] < 120).mean() > 0.2 and (wrist[: SIZE // 10] < 120).mean() < 0.05
    # world -y is image-left: a cube moved to -y appears left of one moved to +y
    scene, joint = env.scene, env.rs_env.cube.joints[0]
    cols = []
    for y in (-0.15, 0.15):
        env.rs_env.sim.data.set_joint_qpos(joint, np.array([0.0, y, 0.83, 1.0, 0.0, 0.0, 0.0]))
        env.rs_env.sim.forward()
        frame = env.render().astype(int)
        red = frame[..., 0] - frame[..., 1:].max(-1) > 60  # the red-wood cube
        assert red.sum() > 2, "red cube not visible"
        cols.append(np.nonzero(red)[1].mean())
        assert np.allclose(scene.object_pos("cube")[:2], [0.0, y])
    assert cols[0] < SIZE / 2 < cols[1]


def test_truncation_at_max_steps_and_success_predicate():
    env = RobosuiteTaskEnv("Lift", cameras=(), max_steps=5)
    try:
        env.reset(options={"init_state_index": 0})
        for t in range(1, 6):
            _, reward, terminated, truncated, info = env.step(np.zeros(7))
            assert not terminated and truncated == (t == 5) and info["steps"] == t
        # success is robosuite's _check_success(): the cube's centre 4 cm above the table top (0.8)
        joint = env.rs_env.cube.joints[0]
        pos = env.scene.object_pos("cube")
        env.rs_env.sim.data.set_joint_qpos(joint, np.r_[pos[:2], 0.83, 1.0, 0, 0, 0])  # resting: 0.821
        env.rs_env.sim.forward()
        assert not env.check_success()
        env.rs_env.sim.data.set_joint_qpos(joint, np.r_[pos[:2], 0.85, 1.0, 0, 0, 0])
        env.rs_env.sim.forward()
        assert env.check_success()
    finally:
        env.close()


def test_lift_expert_succeeds():
    from envs.robosuite.experts import make_robosuite_expert

    env = get_env("Lift", cameras=False)
    expert = make_robosuite_expert(env)
    wins = 0
    for i in range(5):
        obs, info = env.reset(options={"init_state_index": i})
        for _ in range(env.max_steps):
            obs, reward, terminated, truncated, info = env.step(expert.act(obs))
            if terminated or truncated:
                break
        wins += bool(info["success"] and terminated and reward == 1.0)
    assert wins >= 4, f"Lift expert: {wins}/5"


def test_registry_gym_ids_and_runner_suite():
    import envs
    from policies.suites import get_suite as runner_suite

    specs = envs.get_suite(ROBOSUITE_SUITE)
    assert [s.name for s in specs] == list(ROBOSUITE_TASKS) == ["Lift", "Stack", "PickPlaceCan"]
    assert all(s.num_init_states == 50 and s.env_id == robosuite_env_id(s.name) for s in specs)
    assert [s.max_steps for s in specs] == [200, 300, 400]
    for name in ("robosuite", "robosuite-classic"):
        suite = runner_suite(name)
        p = suite.protocol()
        assert p.tasks == ROBOSUITE_TASKS and p.episodes_per_task == 50 and p.wait_steps == 0
        assert p.image_flip == "none" and p.max_steps == 400
    env = suite.make_env("Stack", p, cameras=())
    try:
        assert isinstance(env, RobosuiteTaskEnv) and env.max_steps == 300
        obs, info = env.reset(options={"init_state_index": 0})
        assert obs["instruction"] == "stack the red cube on the green cube" and info["task"] == "Stack"
    finally:
        env.close()


def test_import_envs_does_not_import_robosuite():
    code = "import sys, envs; envs.get_suite('robosuite-classic'); assert 'robosuite' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_collect_and_expert_eval_through_the_suite_interfaces(tmp_path):
    """`vla collect --suite robosuite-classic` writes demos; the runner's expert policy solves Lift."""
    from dataclasses import replace

    from envs.collect import collect
    from policies.evaluation import run_evaluation
    from policies.executor import InProcessExecutor
    from policies.runner import RolloutSetup
    from policies.suites import get_suite as get_runner_suite

    summary = collect("robosuite-classic", 1, tmp_path / "demos", tasks=["Lift"], cameras=("agentview",),
                      image_size=32, progress=False)
    assert summary["kept"] == 1 and (tmp_path / "demos" / "Lift_demo.hdf5").exists()
    protocol = replace(get_runner_suite("robosuite").protocol(), episodes_per_task=2)
    setup = RolloutSetup("policies.factories:make_suite_env", "policies.factories:make_policy", protocol,
                         env_kwargs={"suite": "robosuite"}, policy_kwargs={"spec": "expert"})
    res = run_evaluation(setup, str(tmp_path / "eval"), {"spec": "expert"}, tasks=["Lift"],
                         executor=InProcessExecutor(), videos_per_task=0, progress=False)
    assert res["overall"]["episodes"] == 2 and res["overall"]["errored"] == 0
    assert res["overall"]["successes"] == 2
