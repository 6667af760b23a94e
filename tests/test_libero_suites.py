"""LIBERO suites: published protocol defaults, and every suite's task 0 builds offline and steps."""

from __future__ import annotations

import numpy as np
import pytest

from envs.libero import LIBERO_SUITES, LiberoSuite, libero_protocol, task_names

EXPECTED = {
    "libero_spatial": (220, 10),
    "libero_object": (280, 10),
    "libero_goal": (300, 10),
    "libero_10": (520, 10),
    "libero_90": (400, 90),
}


@pytest.mark.parametrize("suite", LIBERO_SUITES)
def test_protocol_defaults(suite):
    p = libero_protocol(suite)
    max_steps, n_tasks = EXPECTED[suite]
    assert p.suite == suite and len(p.tasks) == n_tasks and p.tasks == task_names(suite)
    assert p.episodes_per_task == 50 and p.max_steps == max_steps
    assert p.wait_steps == 10 and tuple(p.dummy_action) == (0, 0, 0, 0, 0, 0, -1)
    assert p.image_size == 256 and p.image_flip == "rot180"
    d = p.to_dict()
    assert d["notes"]["versions"]["robosuite"] == "1.4.0" and "gripper_env" in d["notes"]
    # per-episode seeds are distinct and do not depend on run order
    seeds = {p.episode_seed(t, i) for t in range(n_tasks) for i in range(50)}
    assert len(seeds) == 50 * n_tasks


def test_protocol_task_order_and_bad_input():
    assert task_names("libero_spatial")[0] == (
        "pick_up_the_black_bowl_between_the_plate_and_the_ramekin_and_place_it_on_the_plate"
    )
    assert task_names("libero_10")[0] == "LIVING_ROOM_SCENE2_put_both_the_alphabet_soup_and_the_tomato_sauce_in_the_basket"
    with pytest.raises(ValueError, match="suite"):
        libero_protocol("libero_100")
    with pytest.raises(ValueError, match="image_flip"):
        libero_protocol("libero_goal", image_flip="flip")
    with pytest.raises(ValueError, match="initial states"):
        libero_protocol("libero_goal", episodes_per_task=51)
    suite = LiberoSuite("libero_goal", episodes_per_task=2, image_flip="vflip")
    assert suite.protocol.episodes_per_task == 2 and suite.protocol.image_flip == "vflip"
    assert suite.with_protocol(max_steps=5).protocol.max_steps == 5
    with pytest.raises(ValueError, match="task_index"):
        suite.instruction(10)


# libero_spatial task 0 is built, waited and stepped in test_libero_env.py
@pytest.mark.parametrize("suite", [s for s in LIBERO_SUITES if s != "libero_spatial"])
def test_task0_builds_offline_waits_and_steps(suite):
    s = LiberoSuite(suite)
    env = s.make_env(0, image_size=64, cameras=("agentview",))
    try:
        obs, info = env.reset(options={"episode_index": 0})
        np.testing.assert_array_equal(env.sim_state(), env.init_states[0])
        assert obs["agentview_rgb"].shape == (64, 64, 3) and obs["instruction"] == s.instruction(0)
        for _ in range(s.protocol.wait_steps):
            obs, _, terminated, truncated, info = env.step(s.protocol.dummy_action)
        assert not terminated and not truncated
        for _ in range(3):
            obs, _, terminated, truncated, info = env.step([0.1, 0.0, 0.0, 0.0, 0.0, 0.0, -1.0])
        assert info["steps"] == s.protocol.wait_steps + 3
        assert np.all(np.isfinite(obs["proprio"])) and not info["success"]
    finally:
        env.close()


def test_registered_like_the_tabletop_suite():
    import envs
    from envs.libero.registry import LIBERO_ENV_ID, register_libero

    register_libero()
    register_libero()  # idempotent
    assert set(LIBERO_SUITES) <= set(envs.list_suites())
    specs = envs.get_suite("libero_goal")
    assert len(specs) == 10 and specs[0].env_id == LIBERO_ENV_ID and specs[0].max_steps == 300
    assert specs[0].num_init_states == 50 and specs[0].kwargs == {"suite": "libero_goal", "task_index": 0}
    assert specs[0].name == task_names("libero_goal")[0]
