"""The shipped tiny DD-VLA checkpoint: loads, rejects bad observations, beats a random policy.

The seed set is fixed (the first init states of one task, see ``SEED_SET``): both policies run
the same episodes through the real closed loop and the checkpoint must succeed more often.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from policies.evaluation import run_evaluation
from policies.executor import InProcessExecutor
from policies.observation import ObservationError
from policies.runner import RolloutSetup
from policies.suites import get_suite

REPO = Path(__file__).resolve().parent.parent
SHIPPED = REPO / "checkpoints" / "tabletop-tiny-dd"
#: (task, episodes): the fixed seed set - episode i starts from the task's init state i
SEED_SET = ("PickCube", 4)


def test_shipped_checkpoint_is_small_and_documented():
    assert (SHIPPED / "config.json").exists(), "run scripts/train_shipped_checkpoint.sh"
    size = sum(f.stat().st_size for f in SHIPPED.iterdir() if f.is_file())
    assert size < 30 * 2**20, f"shipped checkpoint is {size / 2**20:.1f} MB; keep it under 30 MB"
    readme = (SHIPPED / "README.md").read_text()
    assert "scripts/train_shipped_checkpoint.sh" in readme and "commit" in readme and "SEED=" in readme


def test_vla_policy_rejects_bad_observations_by_field():
    from policies.vla_policy import VLAPolicy

    pol = VLAPolicy(str(SHIPPED))
    img = np.zeros((128, 128, 3), np.uint8)
    good = {"agentview_rgb": img, "eye_in_hand_rgb": img, "proprio": np.zeros(8, np.float32), "instruction": "lift the red cube"}
    pol.reset("lift the red cube")
    assert pol.infer(good).shape == (pol.horizon, 7)
    with pytest.raises(ObservationError, match="'proprio'.*shape \\[8\\]"):
        pol.infer({**good, "proprio": np.zeros(6, np.float32)})
    with pytest.raises(ObservationError, match="'eye_in_hand_rgb'.*uint8"):
        pol.infer({**good, "eye_in_hand_rgb": img.astype(np.float64)})
    with pytest.raises(ObservationError, match="'agentview_rgb' is missing"):
        pol.infer({k: v for k, v in good.items() if k != "agentview_rgb"})


def _sr(spec: str, out: Path) -> float:
    task, n = SEED_SET
    protocol = replace(get_suite("tabletop").protocol(), episodes_per_task=n)
    setup = RolloutSetup(
        "policies.factories:make_suite_env", "policies.factories:make_policy", protocol,
        policy_kwargs={"spec": spec}, torch_threads=1,
    )
    summary = run_evaluation(setup, str(out), {"spec": spec}, tasks=[task], executor=InProcessExecutor(),
                             videos_per_task=0, progress=False)
    assert summary["overall"]["episodes"] == n and summary["overall"]["errored"] == 0
    return summary["overall"]["sr"]


def test_shipped_checkpoint_beats_random_on_a_fixed_seed_set(tmp_path):
    sr_random = _sr("random", tmp_path / "random")
    sr_vla = _sr(str(SHIPPED), tmp_path / "vla")
    assert sr_vla > sr_random, f"shipped checkpoint SR {sr_vla:.2f} vs random {sr_random:.2f} on {SEED_SET}"
