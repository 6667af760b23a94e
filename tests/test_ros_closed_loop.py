"""Closed loop through ROS 1: simulated tabletop robot -> rosmaster -> bridge -> websocket ->
policy server (scripted expert) -> bridge -> ROS -> simulated robot, on fixed initial states;
success must match the same expert evaluated in-process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from test_ros_bridge import ROOT, _free_port, _ros_env

TASK = "PickCube"
EPISODES = [0, 1]


def _in_process_success(image_size: int) -> list[bool]:
    from envs.tabletop.env import TabletopEnv
    from policies.expert_policy import ExpertPolicy

    env = TabletopEnv(TASK, image_size=image_size)
    out = []
    try:
        for i in EPISODES:
            obs, info = env.reset(options={"init_state_index": i})
            policy = ExpertPolicy(env, TASK)
            policy.reset(obs["instruction"])
            done = False
            while not done:
                obs, _, term, trunc, info = env.step(policy.infer(obs)[0])
                done = term or trunc
            out.append(bool(info["success"]))
    finally:
        env.close()
    return out


def test_closed_loop_through_ros1_matches_in_process(tmp_path: Path) -> None:
    env, python, master = _ros_env("1")
    port = _free_port()
    cfg = {
        "node_name": "vla_bridge_sim",
        "control_rate_hz": 20,
        "cameras": [{"key": "agentview_rgb", "topic": "/sim/agentview"}, {"key": "eye_in_hand_rgb", "topic": "/sim/wrist"}],
        "eef_pose_topic": "/sim/eef_pose",
        "joint_state_topic": "/sim/gripper_joints",
        "gripper_joint_names": ["gripper_left", "gripper_right"],
        "obs_timeout_s": 3.0,
        "max_chunk_age_s": 5.0,
        "status_rate_hz": 0,
        "policy": {"server": f"ws://127.0.0.1:{port}", "timeout_s": 5.0},
        "safety": {"low": -1.0, "high": 1.0},
    }
    (tmp_path / "cfg.json").write_text(json.dumps(cfg))
    bridge = subprocess.Popen(
        [python, "-m", "hardware.ros_bridge_cli", "--ros", "1", "--config", str(tmp_path / "cfg.json")],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        sim = subprocess.run(
            [sys.executable, "-m", "scripts.ros_sim_robot", "--ros", "1", "--config", str(tmp_path / "cfg.json"),
             "--task", TASK, "--episodes", *map(str, EPISODES), "--image-size", "64", "--serve-expert", str(port),
             "--out", str(tmp_path / "result.json")],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=240,
        )
    finally:
        bridge.terminate()
        try:
            bridge_out = bridge.communicate(timeout=10)[0]
        except subprocess.TimeoutExpired:
            bridge.kill()
            bridge_out = bridge.communicate()[0]
        master.terminate()
        master.wait(timeout=10)
    assert sim.returncode == 0, f"{sim.stdout}\n{sim.stderr[-3000:]}\nbridge:\n{bridge_out}"
    result = json.loads((tmp_path / "result.json").read_text())
    through_ros = [e["success"] for e in result["episodes"]]
    assert result["transport"] == "ros1" and all(e["steps"] > 5 for e in result["episodes"])
    assert through_ros == _in_process_success(64), result
    print(json.dumps(result))
    assert any(through_ros), "the expert must succeed somewhere for the comparison to mean anything"
