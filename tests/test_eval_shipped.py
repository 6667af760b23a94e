"""The shipped tiny DD-VLA checkpoint: loads, rejects bad observations, holds its measured level.

The seed set is fixed (the first init states of one task, see ``SEED_SET``): the checkpoint runs
those episodes through the real closed loop. Measured when it was shipped (its README, eval.json):
PickCube init states 0-5 succeed 6/6 (1 1 1 1 1 1) under its default decoder (decoder.json: cosine
T=1, expected-bin readout), in line with its 45/50 on that task; the test allows one episode less (decoding is argmax,
but a float rounding on another CPU may flip one close decision), and the random policy must stay
below it.
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
SEED_SET = ("PickCube", 6)
#: successes measured on SEED_SET when the checkpoint was shipped, and the floor the test allows
MEASURED, FLOOR = 6, 5


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


def test_shipped_checkpoint_holds_its_measured_level_on_a_fixed_seed_set(tmp_path):
    n = SEED_SET[1]
    wins_vla = round(_sr(str(SHIPPED), tmp_path / "vla") * n)
    wins_random = round(_sr("random", tmp_path / "random") * n)
    assert wins_vla >= FLOOR, f"shipped checkpoint {wins_vla}/{n} on {SEED_SET}; measured {MEASURED}/{n} when shipped"
    assert wins_random < FLOOR, f"random policy {wins_random}/{n} on {SEED_SET}"
