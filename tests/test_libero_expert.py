"""Scripted LIBERO-Object expert: object boxes, grasp planning next to tall neighbours (fast);
collected demos succeed, replaying them reproduces success, and the flat-box / tall-bottle tasks
are solved (slow: full pick-and-place episodes, run with ``-m slow``).
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
    assert json.loads((tmp_path / "summary.json").read_text()) == report  # what scripts check for
    path = report["tasks"][0]["file"]
    with LiberoDemoFile(path) as f:
        assert f.instruction == "pick up the alphabet soup and place it in the basket"
        demo = f[0]
    assert demo.file_gripper_convention == "env" and demo.agentview_rgb.shape[1:] == (64, 64, 3)
    assert set(np.unique(demo.actions[:, -1])) == {-1.0, 1.0}  # opens, closes, opens
    # grounding labels: the object where the expert found it, and in the basket at the end
    from vla.hdf5_demos import load_demos

    points = load_demos(path, cameras=("agentview_rgb",))[0].points  # [T, 2, 3]: object, basket
    assert points.shape == (len(demo), 2, 3)
    assert np.linalg.norm(points[-1, 0, :2] - points[-1, 1, :2]) < 0.08
    assert np.linalg.norm(points[0, 0, :2] - points[0, 1, :2]) > 0.08
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


def test_box_gap_separation_and_overlap():
    from envs.libero.expert import _box_gap

    a_lo, a_hi = np.array([0.0, 0.0]), np.array([1.0, 1.0])
    assert _box_gap(a_lo, a_hi, np.array([1.5, 0.0]), np.array([2.0, 1.0])) == pytest.approx(0.5)
    assert _box_gap(a_lo, a_hi, np.array([2.0, 2.0]), np.array([3.0, 3.0])) == pytest.approx(np.sqrt(2))
    assert _box_gap(a_lo, a_hi, np.array([0.8, 0.5]), np.array([2.0, 2.0])) == pytest.approx(-0.2)


@pytest.fixture(scope="module")
def cream_cheese_scene():
    """libero_object task 1 (cream cheese) in a sampled layout where a tall can stands 10 cm away in y."""
    env = LiberoSuite("libero_object").make_env(1, image_size=32, cameras=())
    env.reset(seed=123, options={"sample_init": True})
    for _ in range(10):
        env.step(env.protocol.dummy_action)
    yield env
    env.close()


def test_object_bounds_fit_each_object(cream_cheese_scene):
    env = cream_cheese_scene
    heights = {}
    for name in env.object_names():
        lo, hi = env.object_bounds(name)
        p = env.object_position(name)
        assert np.all(lo <= p + 0.01) and np.all(p <= hi + 0.01), name  # body origin inside (the basket's is 5 mm low)
        assert abs(lo[2]) < 0.01, f"{name} rests on the table, its bottom is at {lo[2]:.3f}"
        heights[name] = hi[2] - lo[2]
    assert heights["cream_cheese_1"] < 0.03  # a flat box
    assert max(heights.values()) > 0.1  # the basket's rim / tall bottles
    with pytest.raises(ValueError, match="object must be one of"):
        env.object_bounds("no_such_object")


def test_grasp_point_moves_the_hand_clear_of_a_tall_neighbour(cream_cheese_scene):
    """At the cream cheese's centre the 20 cm hand would land on the tomato sauce can (this layout:
    the expert stalled above the box); the planned grasp slides along the box until it clears."""
    from envs.libero.expert import HAND_BOTTOM, HAND_HI_XY, HAND_LO_XY, PickPlaceExpert, _box_gap

    env = cream_cheese_scene
    expert = PickPlaceExpert(env)
    centre = env.object_position("cream_cheese_1")
    lo, hi = env.object_bounds("cream_cheese_1")
    _, grasp = expert._heights()
    assert grasp == pytest.approx(lo[2] + expert.grasp_floor)  # flat box: grasp near the table

    def clearance(xy):
        gaps = []
        for name in env.object_names():
            olo, ohi = env.object_bounds(name)
            if name != "cream_cheese_1" and ohi[2] > grasp + HAND_BOTTOM:
                gaps.append(_box_gap(xy + HAND_LO_XY, xy + HAND_HI_XY, olo[:2], ohi[:2]))
        return min(gaps)

    assert clearance(centre[:2]) < 0.0, "the layout must block the centred grasp for this test to mean anything"
    offset = expert._grasp_offset()
    assert clearance(centre[:2] + offset) > 0.005
    x = centre[0] + offset[0]
    assert lo[0] + 0.014 <= x <= hi[0] - 0.014, "both finger pads must stay on the box"


@pytest.mark.slow
@pytest.mark.parametrize("task", [1, 2, 4, 5])
def test_expert_solves_flat_box_and_tall_bottle_tasks(task):
    """Cream cheese (flat, next to a can), salad dressing / ketchup (15 cm bottles), tomato sauce."""
    from envs.libero.expert import PickPlaceExpert

    suite = LiberoSuite("libero_object")
    env = suite.make_env(task, image_size=32, cameras=())
    try:
        env.reset(seed=123, options={"sample_init": True})
        for _ in range(suite.protocol.wait_steps):
            env.step(suite.protocol.dummy_action)
        expert = PickPlaceExpert(env)
        success = False
        for _ in range(suite.protocol.max_steps):
            if env.step(expert.act())[4]["success"]:
                success = True
                break
        assert success, f"task {task} ended in phase {expert.phase}"
    finally:
        env.close()
