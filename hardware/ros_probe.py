"""ROS probe: plays the robot's side of a bridge from a JSON scenario and records what comes back.

Used to check a bridge deployment (and by the tests): it streams synthetic camera frames,
joint states and poses, publishes instructions and e-stops, calls the bridge's services, and
records every command the bridge publishes with its receipt time (``time.monotonic``, which
is shared by all processes of the machine). Same code on ROS 1 and ROS 2::

    python -m hardware.ros_probe --ros 1 --config bridge.json --scenario s.json --out rec.json

Scenario: ``{"steps": [...]}`` run in order; each step is a map with ``op``:

* ``stream``: start (or replace) a periodic publisher; ``kind`` is ``image`` / ``compressed``
  (``topic``, ``fill`` [r, g, b] or int, ``shape`` [h, w]), ``joint_state`` (``names``,
  ``position``) or ``pose`` (``position``, ``orientation`` xyzw); ``rate_hz``;
* ``stop_stream``: stop the stream on ``topic``;
* ``publish``: one message: ``kind`` ``instruction`` (``data`` str) or ``estop`` (``data`` bool);
* ``call``: call service ``<prefix>/<name>``; the answer is recorded;
* ``sleep``: wait ``s`` seconds; ``mark``: record the time under ``name``;
* ``wait_for``: wait (at most ``timeout_s``) until ``count`` commands were received.

Runs under the robot's Python (3.8+).
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from hardware import ros_convert
from hardware.bridge_config import BridgeConfig
from hardware.ros_transport import Transport, make_transport


class Probe:
    """Runs scenario steps against a bridge and records its output."""

    def __init__(self, transport: Transport, config: BridgeConfig) -> None:
        self.t = transport
        self.cfg = config
        self.rec: dict[str, Any] = {"twist": [], "twist_stamp": [], "gripper": [], "trajectory": [], "status": [], "marks": {}, "calls": []}
        self._lock = threading.Lock()
        self._streams: dict[str, threading.Event] = {}
        self._pubs: dict[str, Any] = {}
        transport.subscribe(config.twist_topic, "geometry_msgs/TwistStamped", self._on_twist)
        transport.subscribe(config.gripper_topic, "std_msgs/Float64", self._rec_cb("gripper", lambda m: float(m.data)))
        transport.subscribe(
            config.trajectory_topic, "trajectory_msgs/JointTrajectory", self._rec_cb("trajectory", lambda m: list(m.points[0].positions))
        )
        transport.subscribe(config.status_topic, "std_msgs/String", self._rec_cb("status", lambda m: json.loads(m.data)))

    def _on_twist(self, msg: Any) -> None:
        with self._lock:
            self.rec["twist"].append([time.monotonic(), ros_convert.twist_to_list(msg)])
            # the bridge's own publish time: the control rate without the probe's receive jitter
            st = msg.header.stamp
            self.rec["twist_stamp"].append(float(getattr(st, "secs", getattr(st, "sec", 0))) + 1e-9 * float(getattr(st, "nsecs", getattr(st, "nanosec", 0))))

    def _rec_cb(self, key: str, conv: Any) -> Any:
        def _cb(msg: Any) -> None:
            value = conv(msg)
            with self._lock:
                self.rec[key].append([time.monotonic(), value])

        return _cb

    def _pub(self, topic: str, type_name: str) -> Any:
        if topic not in self._pubs:
            self._pubs[topic] = self.t.publisher(topic, type_name)
        return self._pubs[topic]

    def _make_msg(self, step: dict[str, Any]) -> tuple[str, str, Any]:
        kind = step["kind"]
        if kind in ("image", "compressed"):
            h, w = step.get("shape", [64, 64])
            img = np.empty((h, w, 3), np.uint8)
            img[...] = np.asarray(step.get("fill", 0), dtype=np.uint8)
            type_name = "sensor_msgs/Image" if kind == "image" else "sensor_msgs/CompressedImage"
            msg = self.t.msg(type_name)()
            (ros_convert.fill_image if kind == "image" else ros_convert.fill_compressed)(msg, img)
            return step["topic"], type_name, msg
        if kind == "joint_state":
            msg = self.t.msg("sensor_msgs/JointState")()
            msg.name = list(step["names"])
            msg.position = [float(v) for v in step["position"]]
            return step.get("topic", self.cfg.joint_state_topic), "sensor_msgs/JointState", msg
        if kind == "pose":
            msg = self.t.msg("geometry_msgs/PoseStamped")()
            p, o = step.get("position", [0, 0, 0]), step.get("orientation", [0, 0, 0, 1])
            msg.pose.position.x, msg.pose.position.y, msg.pose.position.z = (float(v) for v in p)
            msg.pose.orientation.x, msg.pose.orientation.y, msg.pose.orientation.z, msg.pose.orientation.w = (float(v) for v in o)
            return step.get("topic", self.cfg.eef_pose_topic), "geometry_msgs/PoseStamped", msg
        raise ValueError(f"stream kind must be image, compressed, joint_state or pose, got {kind!r}")

    def _stream(self, step: dict[str, Any]) -> None:
        topic, type_name, msg = self._make_msg(step)
        pub = self._pub(topic, type_name)
        if topic in self._streams:
            self._streams[topic].set()
        stop = threading.Event()
        self._streams[topic] = stop
        period = 1.0 / float(step.get("rate_hz", 30))

        def _run() -> None:
            while not stop.is_set():
                if hasattr(msg, "header"):
                    self.t.stamp(msg.header)
                pub.publish(msg)
                stop.wait(period)

        threading.Thread(target=_run, daemon=True).start()

    def run(self, steps: list[dict[str, Any]]) -> dict[str, Any]:
        for i, step in enumerate(steps):
            op = step.get("op")
            if op == "stream":
                self._stream(step)
            elif op == "stop_stream":
                ev = self._streams.pop(step["topic"], None)
                if ev is not None:
                    ev.set()
            elif op == "publish":
                kind = step["kind"]
                topic, type_name = {
                    "instruction": (self.cfg.instruction_topic, "std_msgs/String"),
                    "estop": (self.cfg.estop_topic, "std_msgs/Bool"),
                }[kind]
                pub = self._pub(topic, type_name)
                self.t.wait_for_subscribers(pub, 1, timeout_s=5.0)
                pub.publish(self.t.msg(type_name)(data=step["data"]))
            elif op == "call":
                t0 = time.monotonic()
                ok, message = self.t.call_trigger(self.cfg.service(step["name"]), timeout_s=float(step.get("timeout_s", 10)))
                self.rec["calls"].append([t0, step["name"], ok, message])
            elif op == "sleep":
                time.sleep(float(step["s"]))
            elif op == "mark":
                self.rec["marks"][step["name"]] = time.monotonic()
            elif op == "wait_for":
                end = time.monotonic() + float(step.get("timeout_s", 10))
                key = step.get("topic_kind", "twist")
                while time.monotonic() < end and len(self.rec[key]) < int(step["count"]):
                    time.sleep(0.01)
            else:
                raise ValueError(f"scenario step {i}: unknown op {op!r}")
        for ev in self._streams.values():
            ev.set()
        with self._lock:
            return json.loads(json.dumps(self.rec))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m hardware.ros_probe", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ros", default="auto", choices=["1", "2", "auto"])
    p.add_argument("--config", required=True, help="the bridge's config (for its topic and service names)")
    p.add_argument("--scenario", required=True, help="JSON file with {'steps': [...]}")
    p.add_argument("--out", required=True, help="where to write the recording (JSON)")
    args = p.parse_args(argv)
    try:
        cfg = BridgeConfig.load(args.config)
        steps = json.loads(Path(args.scenario).read_text())["steps"]
    except (ValueError, FileNotFoundError, KeyError) as e:
        print(f"ros_probe: {e}", file=sys.stderr)
        return 2
    transport = make_transport(args.ros, cfg.node_name + "_probe")
    try:
        rec = Probe(transport, cfg).run(steps)
    finally:
        transport.shutdown()
    Path(args.out).write_text(json.dumps(rec))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
