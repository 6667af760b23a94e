"""LIBERO env adapter on a real scene (libero_spatial task 0, real MuJoCo, offline assets).

One env is built for the module (a LIBERO scene takes seconds to build and to hard-reset).
"""

from __future__ import annotations

import numpy as np
import pytest

from envs.libero import LiberoSuite
from envs.libero.conventions import apply_image_convention, quat2axisangle
from envs.libero.demos import LiberoDemoFile, record_step, write_libero_demos

SIZE = 96


@pytest.fixture(scope="module")
def suite():
    return LiberoSuite("libero_spatial")


@pytest.fixture(scope="module")
def env(suite):
    e = suite.make_env(0, image_size=SIZE)
    yield e
    e.close()


def test_reset_loads_init_state_exactly_and_deterministically(env):
    obs_a, info = env.reset(options={"init_state_index": 3})
    assert info["init_state_index"] == 3 and info["seed"] == env.protocol.episode_seed(0, 3)
    assert not info["success"]
    # the env holds exactly the task's fixed initial state 3 (time, qpos, qvel)
    np.testing.assert_array_equal(env.sim_state(), env.init_states[3])
    obs_b, _ = env.reset(options={"init_state_index": 3})
    for key in ("agentview_rgb", "eye_in_hand_rgb", "proprio"):
        np.testing.assert_array_equal(obs_a[key], obs_b[key])
    # another init state is another scene (loaded without a rebuild, compared by image)
    other = env.set_sim_state(env.init_states[7])
    assert not np.array_equal(obs_a["agentview_rgb"], other["agentview_rgb"])


def test_observation_keys_proprio_and_image_convention(env):
    obs, _ = env.reset(options={"init_state_index": 0})
    assert set(obs) == {"agentview_rgb", "eye_in_hand_rgb", "proprio", "instruction"}
    assert obs["instruction"] == "pick up the black bowl between the plate and the ramekin and place it on the plate"
    assert env.observation_space.contains(obs)
    for key, cam in (("agentview_rgb", "agentview"), ("eye_in_hand_rgb", "eye_in_hand")):
        assert obs[key].dtype == np.uint8 and obs[key].shape == (SIZE, SIZE, 3)
        raw = env.raw_image(cam)
        np.testing.assert_array_equal(obs[key], raw[::-1, ::-1])  # default: 180-degree rotation
        assert not np.array_equal(obs[key], raw)
    p = obs["proprio"]
    assert p.dtype == np.float32 and p.shape == (8,)
    raw = env.raw_obs
    np.testing.assert_allclose(p[:3], raw["robot0_eef_pos"], rtol=0, atol=1e-6)
    np.testing.assert_allclose(p[3:6], quat2axisangle(raw["robot0_eef_quat"]), atol=1e-6)
    np.testing.assert_allclose(p[6:], raw["robot0_gripper_qpos"], atol=1e-6)
    assert p[6] > 0.02 and p[7] < -0.02  # fingers open at the initial state
    assert 0.5 < p[2] < 1.5  # eef above the table (world frame, metres)


def _pixel_of(env, world_point):
    from robosuite.utils import camera_utils

    mat = camera_utils.get_camera_transform_matrix(env.sim, "agentview", SIZE, SIZE)
    row, col = camera_utils.project_points_from_world_to_camera(np.asarray(world_point)[None], mat, SIZE, SIZE)[0]
    return int(row), int(col)  # upright image (row 0 = top)


def test_known_pixel_region_follows_convention(env):
    """Remove the plate from view; the changed pixels must sit where each convention puts the plate."""
    env.reset(options={"init_state_index": 0})
    before = env.raw_image("agentview").astype(np.int16)
    plate = env.object_position("plate_1")
    row, col = _pixel_of(env, plate)  # upright (vflip) coordinates
    env.set_sim_state(env.state_with_object_at("plate_1", plate + np.array([0.0, 0.0, -5.0])))
    after = env.raw_image("agentview").astype(np.int16)
    diff_raw = np.abs(after - before).sum(-1)
    expected = {
        "vflip": (row, col),
        "rot180": (row, SIZE - 1 - col),
        "hflip": (SIZE - 1 - row, SIZE - 1 - col),
        "none": (SIZE - 1 - row, col),
    }
    for convention, expect in expected.items():
        diff = apply_image_convention(diff_raw[..., None], convention)[..., 0]
        rows, cols = np.nonzero(diff > 30)
        assert rows.size > 20, "plate removal changed too few pixels"
        got = (rows.mean(), cols.mean())
        assert abs(got[0] - expect[0]) < SIZE * 0.08 and abs(got[1] - expect[1]) < SIZE * 0.08, (convention, got, expect)
    # the plate is off-centre, so the conventions really differ
    assert abs(col - (SIZE - 1 - col)) > SIZE * 0.1 or abs(row - (SIZE - 1 - row)) > SIZE * 0.1


def test_wait_steps_and_policy_steps_run(env):
    obs, _ = env.reset(options={"episode_index": 1})
    np.testing.assert_array_equal(env.sim_state(), env.init_states[1])
    proto = env.protocol
    assert proto.wait_steps == 10 and proto.max_steps == 220 and env.max_episode_steps == 230
    for _ in range(proto.wait_steps):
        obs, reward, terminated, truncated, info = env.step(proto.dummy_action)
        assert not terminated and not truncated and reward == 0.0
    start = obs["proprio"][:3].copy()
    for _ in range(5):  # move up, close the gripper
        obs, reward, terminated, truncated, info = env.step([0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0])
    assert info["steps"] == proto.wait_steps + 5 and not info["success"]
    assert obs["proprio"][2] > start[2] + 0.02  # +z action moved the eef up
    assert obs["proprio"][6] < 0.035  # +1 closes the gripper (fingers move in)
    with pytest.raises(ValueError, match="shape"):
        env.step([0.0] * 6)
    with pytest.raises(ValueError, match="init_state_index"):
        env.reset(options={"init_state_index": 10_000})


def test_success_predicate_and_replay_reproduce_success(env, tmp_path):
    """Bowl placed just above the plate falls onto it: goal holds; replaying the recording reproduces it."""
    env.reset(options={"init_state_index": 0})
    assert not env.check_success()
    plate = env.object_position("plate_1")
    start = env.state_with_object_at("akita_black_bowl_1", plate + np.array([0.0, 0.0, 0.05]))
    env.set_sim_state(start)
    rng = np.random.default_rng(0)
    buf: dict[str, list] = {}
    actions, success_step = [], None
    for t in range(25):
        record_step(env, buf, points=("akita_black_bowl_1", "plate_1"))
        np.testing.assert_allclose(buf["target_pos"][-1], env.object_position("akita_black_bowl_1"), atol=1e-6)
        np.testing.assert_allclose(buf["goal_pos"][-1], env.object_position("plate_1"), atol=1e-6)
        assert np.linalg.norm(buf["goal_pos"][-1][:2] - plate[:2]) < 0.01  # the plate stays put
        a = np.concatenate([rng.uniform(-0.2, 0.2, 6), [-1.0]])  # arm jiggles, gripper open
        actions.append(a)
        _, _, terminated, _, info = env.step(a)
        if terminated:
            assert info["success"] and env.check_success()
            success_step = t
            break
    assert success_step is not None, "bowl dropped onto the plate should satisfy the goal"
    path = write_libero_demos(
        tmp_path / "drop.hdf5",
        [{**{k: np.stack(v) for k, v in buf.items()}, "actions": np.stack(actions)}],
        language_instruction=env.instruction,
    )
    with LiberoDemoFile(path) as f:
        demo = f[0]
    # replay: fresh reset (robosuite's gripper keeps hidden action state across steps), then the
    # recorded first state, then the recorded actions
    env.reset(options={"init_state_index": 0})
    obs = env.set_sim_state(demo.states[0])
    np.testing.assert_array_equal(obs["agentview_rgb"], demo.agentview_rgb[0])
    for t, a in enumerate(demo.actions):
        np.testing.assert_allclose(env.sim_state(), demo.states[t], atol=1e-12)
        _, _, terminated, _, _ = env.step(a)
        assert terminated == (t == success_step)
