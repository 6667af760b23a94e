"""Tabletop suite registry, task sampling and gymnasium registration (no simulation)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import envs
from envs.registry import TABLETOP_MAX_STEPS, tabletop_init_seeds
from envs.tabletop.objects import OBJECTS
from envs.tabletop.tasks import TASKS, get_task


def test_suite_lists_ten_tasks_with_specs():
    specs = envs.get_suite("tabletop-10")
    assert [s.name for s in specs] == list(TASKS) == list(envs.TABLETOP_TASKS)
    assert len(specs) == 10
    for s in specs:
        assert s.env_id == f"vla/Tabletop-{s.name}-v0"
        assert s.env_id in gym.registry
        assert s.max_steps == TASKS[s.name].max_steps == TABLETOP_MAX_STEPS[s.name]
        assert 100 <= s.max_steps <= 250
        assert s.num_init_states == 50
    assert envs.make_suite("tabletop") == specs  # alias


def test_init_states_fixed_and_disjoint():
    seen: set[int] = set()
    for t in TASKS:
        seeds = tabletop_init_seeds(t)
        assert seeds == tabletop_init_seeds(t)
        assert not seen & set(seeds)
        seen |= set(seeds)


def test_unknown_names_raise_clear_errors():
    with pytest.raises(ValueError, match="suite"):
        envs.get_suite("nope")
    with pytest.raises(ValueError, match="task"):
        get_task("Nope")


@pytest.mark.parametrize("task", list(TASKS))
def test_sampling_deterministic_and_instruction_names_target(task):
    t = get_task(task)
    a, b = t.sample(7), t.sample(7)
    assert (a.instruction, a.target, a.goal, a.layout.poses) == (b.instruction, b.target, b.goal, b.layout.poses)
    np.testing.assert_array_equal(a.layout.robot_qpos_noise, b.layout.robot_qpos_noise)
    phrasings = set()
    for seed in range(30):
        ep = t.sample(seed)
        assert OBJECTS[ep.target].phrase in ep.instruction
        assert ep.target in ep.layout.poses
        phrasings.add(ep.instruction.split(" the ")[0])
    assert len(phrasings) >= 2, "several phrasings per task"
    assert t.sample(1).layout.poses != t.sample(2).layout.poses


def test_choose_tasks_share_the_scene_only_instruction_differs():
    for seed in range(10):
        a, b = get_task("ChooseBowl").sample(seed), get_task("ChoosePlate").sample(seed)
        assert a.layout.poses == b.layout.poses and a.target == b.target
        assert "bowl" in a.instruction and "plate" in b.instruction
        assert a.goal == "bowl" and b.goal == "plate"


def test_eval_protocol_matches_suite():
    from envs.tabletop.suite import tabletop_protocol

    p = tabletop_protocol(episodes_per_task=10)
    assert p.tasks == envs.TABLETOP_TASKS and p.episodes_per_task == 10
    assert p.max_steps == max(TABLETOP_MAX_STEPS.values()) and p.image_flip == "none"
