"""LIBERO through the evaluation runner: a 2-episode run records the protocol it followed."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np

from policies.evaluation import run_evaluation
from policies.executor import InProcessExecutor
from policies.runner import RolloutSetup
from policies.suites import get_suite


def test_two_episode_libero_run_records_protocol(tmp_path):
    suite = get_suite("libero_object")
    protocol = replace(suite.protocol(), episodes_per_task=2, max_steps=3, wait_steps=2)
    task = protocol.tasks[0]
    setup = RolloutSetup(
        "policies.factories:make_suite_env", "policies.factories:make_policy", protocol,
        policy_kwargs={"spec": "zero"}, torch_threads=1,
    )
    summary = run_evaluation(setup, str(tmp_path), {"spec": "zero"}, tasks=[task], executor=InProcessExecutor(),
                             videos_per_task=0, progress=False)
    assert summary["overall"]["episodes"] == 2 and summary["overall"]["errored"] == 0
    p = summary["protocol"]
    assert p["suite"] == "libero_object" and p["episodes_per_task"] == 2
    assert p["wait_steps"] == 2 and p["max_steps"] == 3
    assert p["image_flip"] == "rot180" and p["image_size"] == 256
    assert np.allclose(p["dummy_action"], [0, 0, 0, 0, 0, 0, -1])
    lines = [json.loads(x) for x in next(tmp_path.glob("*.jsonl")).read_text().splitlines()]
    assert sorted(r["episode"] for r in lines) == [0, 1]
    assert all(r["task"] == task and r["steps"] == 3 and not r["success"] for r in lines)
    assert lines[0]["seed"] != lines[1]["seed"]
