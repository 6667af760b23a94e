"""ROS bridge in joint mode (trajectory_msgs/JointTrajectory) with an in-process policy, on ROS 1
and ROS 2: JointState in -> rate-limited joint targets out -> hold at the measured positions when
the joint states stop."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
from test_ros_bridge import ROOT, _ros_env

JOINTS = ["j1", "j2", "j3"]
TARGET = [0.1, -0.2, 0.3]
MEASURED = [0.0, 0.0, 0.0]
MAX_DELTA = 0.05


@pytest.mark.parametrize("ros", ["1", "2"])
def test_ros_joint_trajectory(ros: str, tmp_path: Path) -> None:
    env, python, master = _ros_env(ros)
    cfg = {
        "node_name": "vla_bridge_joint",
        "control_rate_hz": 20,
        "action_mode": "joint",
        "action_dim": 3,
        "joint_names": JOINTS,
        "joint_state_topic": "/joint_states",
        "obs_timeout_s": 0.25,
        "status_rate_hz": 0,
        "policy": {"local": f"constant:value={json.dumps(TARGET)},action_dim=3"},
        "safety": {"max_delta": MAX_DELTA},
    }
    steps = [
        {"op": "stream", "kind": "joint_state", "names": [*JOINTS, "finger"], "position": [*MEASURED, 0.04], "rate_hz": 50},
        {"op": "call", "name": "stop", "timeout_s": 30},
        {"op": "sleep", "s": 1.0},  # let the trajectory subscription connect before the ramp starts
        {"op": "call", "name": "start"},
        {"op": "wait_for", "count": 20, "topic_kind": "trajectory"},  # the 6-period ramp completes with slack
        {"op": "mark", "name": "joints_stop"},
        {"op": "stop_stream", "topic": "/joint_states"},
        {"op": "sleep", "s": 0.6},
        {"op": "call", "name": "stop"},
    ]
    (tmp_path / "cfg.json").write_text(json.dumps(cfg))
    (tmp_path / "sc.json").write_text(json.dumps({"steps": steps}))
    bridge = subprocess.Popen(
        [python, "-m", "policies.ros_bridge_cli", "--ros", ros, "--config", str(tmp_path / "cfg.json")],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        probe = subprocess.run(
            [python, "-m", "hardware.ros_probe", "--ros", ros, "--config", str(tmp_path / "cfg.json"),
             "--scenario", str(tmp_path / "sc.json"), "--out", str(tmp_path / "rec.json")],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=90,
        )
    finally:
        bridge.terminate()
        try:
            bridge_out = bridge.communicate(timeout=10)[0]
        except subprocess.TimeoutExpired:
            bridge.kill()
            bridge_out = bridge.communicate()[0]
        if master is not None:
            master.terminate()
            master.wait(timeout=10)
    assert probe.returncode == 0, f"{probe.stdout}\n{probe.stderr}\nbridge:\n{bridge_out}"
    rec = json.loads((tmp_path / "rec.json").read_text())
    traj = [(t, np.asarray(q)) for t, q in rec["trajectory"]]
    mark = rec["marks"]["joints_stop"]
    moving = [q for t, q in traj if t < mark and np.any(q != 0)]
    # ramps from the measured positions at most MAX_DELTA per period, then reaches the target
    np.testing.assert_allclose(moving[0], [0.05, -0.05, 0.05], atol=1e-6)
    np.testing.assert_allclose(moving[-1], TARGET, atol=1e-6)
    # joint states stop: hold at the last measured positions
    held = [q for t, q in traj if t > mark + 0.25 + 0.05 + 0.15]
    assert held and all(np.allclose(q, MEASURED) for q in held)
    steps_taken = np.diff(np.stack([np.zeros(3), *moving]), axis=0)
    assert np.abs(steps_taken).max() <= MAX_DELTA + 1e-6
