"""Simulated robot on ROS: a tabletop env that speaks the bridge's topics, for closed-loop checks.

Publishes what a real arm would: one ``sensor_msgs/Image`` per configured camera (the camera
``key`` names the env observation, e.g. ``agentview_rgb``), the end-effector pose
(``geometry_msgs/PoseStamped``), the gripper joints (``sensor_msgs/JointState``, named by
``gripper_joint_names``) and the instruction (``std_msgs/String``). It steps the env once per
command the bridge sends (``TwistStamped`` + gripper ``Float64`` -> the 7-D delta action), so
sim time advances with the control loop however slow rendering is, and reports success per
episode like ``vla eval``. Episodes start from the task's fixed initial states.

``python -m scripts.ros_sim_robot`` is the same command with ``--serve-expert PORT``: it also
serves the task's scripted expert (which reads privileged sim state, hence it must live in this
process) as a policy server on 127.0.0.1:PORT, so the whole chain sim -> ROS -> bridge ->
websocket -> server -> bridge -> ROS -> sim runs there::

    python -m scripts.ros_sim_robot --ros 1 --config sim_bridge.json --task PickCube \\
        --episodes 0 1 --serve-expert 8000 --out results.json

This module never imports the policy stack: :func:`main` takes the expert server from its
caller (``serve_expert``). Needs the simulator (envs: robosuite + MuJoCo), so it runs under the
main environment's Python.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from collections.abc import Callable  # noqa: F401  (named by the ExpertServer alias)
from pathlib import Path
from typing import Any

import numpy as np

from hardware import ros_convert
from hardware.bridge_config import BridgeConfig
from hardware.ros_transport import Transport, make_transport

#: ``(env, task, env_lock, port) -> (server, reset_policy)``: starts a policy server for the task's
#: expert on 127.0.0.1:port (``server.stop()`` ends it) and returns the callable that resets the
#: expert for an instruction. A string alias: subscripting collections.abc.Callable at runtime
#: fails on Python 3.8.
ExpertServer = "Callable[[Any, str, threading.Lock, int], tuple[Any, Callable[[str], None]]]"


class SimRobotNode:
    """Publishes env observations, applies the bridge's commands one env step at a time."""

    def __init__(self, transport: Transport, cfg: BridgeConfig, env: Any, env_lock: threading.Lock) -> None:
        if cfg.action_mode != "eef_delta" or cfg.action_dim != 7:
            raise ValueError("the simulated robot needs action_mode eef_delta with action_dim 7")
        self.t, self.cfg, self.env, self.lock = transport, cfg, env, env_lock
        self.cam_pubs = {c.key: transport.publisher(c.topic, "sensor_msgs/Image") for c in cfg.cameras if not c.compressed}
        self.pose_pub = transport.publisher(cfg.eef_pose_topic, "geometry_msgs/PoseStamped") if cfg.eef_pose_topic else None
        self.joint_pub = transport.publisher(cfg.joint_state_topic, "sensor_msgs/JointState") if cfg.joint_state_topic else None
        self.instr_pub = transport.publisher(cfg.instruction_topic, "std_msgs/String")
        self._cmd = threading.Condition()
        self._twist = np.zeros(6)
        self._seq = 0
        transport.subscribe(cfg.twist_topic, "geometry_msgs/TwistStamped", self._on_twist)
        transport.subscribe(cfg.gripper_topic, "std_msgs/Float64", self._on_gripper)

    def _on_twist(self, msg: Any) -> None:
        with self._cmd:
            self._twist = np.asarray(ros_convert.twist_to_list(msg), dtype=np.float64)

    def _on_gripper(self, msg: Any) -> None:  # the bridge publishes the gripper right after the twist
        with self._cmd:
            scale = np.array([self.cfg.linear_scale] * 3 + [self.cfg.angular_scale] * 3)
            self._action = np.concatenate([self._twist / scale, [float(msg.data)]])
            self._seq += 1
            self._cmd.notify_all()

    def publish_obs(self, obs: dict[str, Any]) -> None:
        for key, pub in self.cam_pubs.items():
            msg = self.t.msg("sensor_msgs/Image")()
            self.t.stamp(msg.header)
            pub.publish(ros_convert.fill_image(msg, obs[key]))
        p = np.asarray(obs["proprio"], dtype=np.float64)
        if self.pose_pub is not None:
            msg = self.t.msg("geometry_msgs/PoseStamped")()
            self.t.stamp(msg.header)
            msg.pose.position.x, msg.pose.position.y, msg.pose.position.z = (float(v) for v in p[0:3])
            q = ros_convert.axis_angle_to_quat(p[3:6])
            o = msg.pose.orientation
            o.x, o.y, o.z, o.w = (float(v) for v in q)
            self.pose_pub.publish(msg)
        if self.joint_pub is not None:
            msg = self.t.msg("sensor_msgs/JointState")()
            self.t.stamp(msg.header)
            msg.name = list(self.cfg.gripper_joint_names) or ["gripper_left", "gripper_right"]
            msg.position = [float(v) for v in p[6 : 6 + len(msg.name)]]
            self.joint_pub.publish(msg)
        self.instr_pub.publish(self.t.msg("std_msgs/String")(data=str(obs.get("instruction", ""))))

    def run_episode(self, init_state_index: int, reset_policy: Any = None, command_timeout_s: float = 10.0) -> dict[str, Any]:
        """One episode from a fixed initial state; returns success, steps and wall time."""
        with self.lock:
            obs, info = self.env.reset(options={"init_state_index": int(init_state_index)})
            if reset_policy is not None:
                reset_policy(obs["instruction"])
        t0 = time.monotonic()
        self.publish_obs(obs)
        with self._cmd:
            seq = self._seq
        ok, message = self.t.call_trigger(self.cfg.service("start"), timeout_s=30.0)
        if not ok:
            raise RuntimeError(f"bridge refused to start: {message}")
        steps, success, truncated = 0, False, False
        republish = time.monotonic()
        while not (success or truncated):
            with self._cmd:
                if not self._cmd.wait_for(lambda s=seq: self._seq != s, timeout=min(0.2, command_timeout_s)):
                    if time.monotonic() - republish > command_timeout_s:
                        raise TimeoutError(f"no command from the bridge for {command_timeout_s} s")
                    action = None
                else:
                    seq, action = self._seq, self._action.copy()
            if action is None:  # keep the watchdog fed while waiting (e.g. bridge still starting)
                self.publish_obs(obs)
                continue
            with self.lock:
                obs, _, success, truncated, info = self.env.step(np.clip(action, -1.0, 1.0))
            steps += 1
            republish = time.monotonic()
            self.publish_obs(obs)
        self.t.call_trigger(self.cfg.service("reset"))  # stop + clear: the next episode starts fresh
        return {"init_state_index": int(init_state_index), "success": bool(info["success"]), "steps": steps,
                "wall_s": time.monotonic() - t0}


def build_parser(prog: str = "python -m hardware.ros_sim_robot", serve_expert: bool = False) -> argparse.ArgumentParser:
    """The command's options; ``--serve-expert`` only where the caller can serve the expert."""
    p = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ros", default="auto", choices=["1", "2", "auto"])
    p.add_argument("--config", required=True, help="the bridge's config (topics, services, gripper joint names)")
    p.add_argument("--task", default="PickCube", help="tabletop task (default PickCube)")
    p.add_argument("--episodes", type=int, nargs="+", default=[0], help="fixed initial-state indices to run")
    p.add_argument("--image-size", type=int, default=64)
    if serve_expert:
        p.add_argument("--serve-expert", type=int, default=None, metavar="PORT", help="serve the task's scripted expert on 127.0.0.1:PORT")
    p.add_argument("--out", default=None, help="write results as JSON here")
    return p


def main(argv: list[str] | None = None, serve_expert: ExpertServer | None = None,
         prog: str = "python -m hardware.ros_sim_robot") -> int:
    """Run the episodes on the simulated robot; ``serve_expert`` enables ``--serve-expert PORT``."""
    args = build_parser(prog, serve_expert is not None).parse_args(argv)
    try:
        cfg = BridgeConfig.load(args.config)
    except (ValueError, FileNotFoundError) as e:
        print(f"ros_sim_robot: {e}", file=sys.stderr)
        return 2
    from envs.tabletop.env import TabletopEnv

    cams = tuple(c.key[: -len("_rgb")] for c in cfg.cameras if c.key.endswith("_rgb"))
    env = TabletopEnv(args.task, cameras=cams, image_size=args.image_size)
    lock = threading.Lock()
    server, reset_policy = None, None
    port = getattr(args, "serve_expert", None)
    if serve_expert is not None and port is not None:
        server, reset_policy = serve_expert(env, args.task, lock, port)
    transport = make_transport(args.ros, cfg.node_name + "_sim_robot")
    try:
        node = SimRobotNode(transport, cfg, env, lock)
        episodes = [node.run_episode(i, reset_policy) for i in args.episodes]
    finally:
        transport.shutdown()
        if server is not None:
            server.stop()
        env.close()
    result = {"task": args.task, "transport": transport.name, "episodes": episodes,
              "success_rate": float(np.mean([e["success"] for e in episodes]))}
    print(json.dumps(result))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
