"""The ROS bridge node: ROS topics and services <-> :class:`hardware.bridge_core.BridgeCore`.

Subscribes to the configured cameras (``sensor_msgs/Image`` or ``CompressedImage``), robot state
(``sensor_msgs/JointState`` and/or ``geometry_msgs/PoseStamped``), the instruction
(``std_msgs/String``) and the e-stop (``std_msgs/Bool``, latches until reset); publishes at the
control rate either ``geometry_msgs/TwistStamped`` + gripper ``std_msgs/Float64`` (eef_delta)
or ``trajectory_msgs/JointTrajectory`` (joint), and a JSON status (``std_msgs/String``);
offers ``<prefix>/start``, ``<prefix>/stop``, ``<prefix>/reset`` as ``std_srvs/Trigger``.

Written once against :class:`hardware.ros_transport.Transport`: the same code runs on ROS 1
and ROS 2. Observations given to the policy: one RGB uint8 image per camera key,
``joint_positions``, ``eef_pose`` (position + axis-angle), ``proprio`` (eef pose + gripper joint
positions), ``instruction`` / ``prompt``.

Runs under the robot's Python (3.8+): numpy, msgpack, websockets.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

import numpy as np

from hardware import ros_convert
from hardware.bridge_config import BridgeConfig, CameraConfig
from hardware.bridge_core import BridgeCore, Command
from hardware.ros_transport import Transport

log = logging.getLogger("vla.bridge")


class BridgeNode:
    """Wires a transport to a bridge core; ``start()`` runs it, ``shutdown()`` ends it."""

    def __init__(self, transport: Transport, config: BridgeConfig, source: Any) -> None:
        self.t = transport
        self.cfg = config
        self.core = BridgeCore(config, source, self._publish)
        self._gripper_q: np.ndarray | None = None
        self._stop_status = threading.Event()
        cfg = config
        for cam in cfg.cameras:
            type_name = "sensor_msgs/CompressedImage" if cam.compressed else "sensor_msgs/Image"
            transport.subscribe(cam.topic, type_name, self._image_callback(cam), sensor=True)
        if cfg.joint_state_topic:
            transport.subscribe(cfg.joint_state_topic, "sensor_msgs/JointState", self._on_joint_state, sensor=True)
        if cfg.eef_pose_topic:
            transport.subscribe(cfg.eef_pose_topic, "geometry_msgs/PoseStamped", self._on_pose, sensor=True)
        transport.subscribe(cfg.instruction_topic, "std_msgs/String", lambda m: self.core.set_instruction(str(m.data)))
        transport.subscribe(cfg.estop_topic, "std_msgs/Bool", self._on_estop)
        if cfg.action_mode == "eef_delta":
            self._twist_cls = transport.msg("geometry_msgs/TwistStamped")
            self._float_cls = transport.msg("std_msgs/Float64")
            self.twist_pub = transport.publisher(cfg.twist_topic, "geometry_msgs/TwistStamped")
            self.gripper_pub = transport.publisher(cfg.gripper_topic, "std_msgs/Float64") if cfg.action_dim == 7 else None
        else:
            self._traj_cls = transport.msg("trajectory_msgs/JointTrajectory")
            self._point_cls = transport.msg("trajectory_msgs/JointTrajectoryPoint")
            self.traj_pub = transport.publisher(cfg.trajectory_topic, "trajectory_msgs/JointTrajectory")
        self._string_cls = transport.msg("std_msgs/String")
        self.status_pub = transport.publisher(cfg.status_topic, "std_msgs/String")
        transport.serve_trigger(cfg.service("start"), self.core.start)
        transport.serve_trigger(cfg.service("stop"), self.core.stop)
        transport.serve_trigger(cfg.service("reset"), self.core.reset)

    # -- inputs --------------------------------------------------------------------------
    def _image_callback(self, cam: CameraConfig) -> Any:
        def _cb(msg: Any) -> None:
            try:
                img = ros_convert.compressed_to_array(msg) if cam.compressed else ros_convert.image_to_array(msg)
            except ValueError as e:  # a broken frame does not count as fresh data
                self.core.interventions.record("bad_observation", f"{cam.topic}: {e}")
                return
            if cam.rotate_180:
                img = np.ascontiguousarray(img[::-1, ::-1])
            self.core.observe(cam.key, img)

        return _cb

    def _on_joint_state(self, msg: Any) -> None:
        try:
            q = ros_convert.joint_positions(msg, self.cfg.joint_names)
            g = ros_convert.joint_positions(msg, self.cfg.gripper_joint_names) if self.cfg.gripper_joint_names else None
        except ValueError as e:
            self.core.interventions.record("bad_observation", f"{self.cfg.joint_state_topic}: {e}")
            return
        self._gripper_q = g
        self.core.observe("joint_positions", q, stream="joint_state")

    def _on_pose(self, msg: Any) -> None:
        try:
            v = ros_convert.pose_to_vector(msg)
        except ValueError as e:
            self.core.interventions.record("bad_observation", f"{self.cfg.eef_pose_topic}: {e}")
            return
        if not np.all(np.isfinite(v)):
            self.core.interventions.record("bad_observation", f"{self.cfg.eef_pose_topic}: non-finite pose")
            return
        proprio = v if self._gripper_q is None else np.concatenate([v, self._gripper_q]).astype(np.float32)
        self.core.observe("proprio", proprio, stream="eef_pose")
        self.core.observe("eef_pose", v, stream="eef_pose")

    def _on_estop(self, msg: Any) -> None:
        if bool(msg.data):
            self.core.estop("estop topic")

    # -- outputs -------------------------------------------------------------------------
    def _publish(self, cmd: Command) -> None:
        if cmd.action is None:
            return
        a = cmd.action
        if self.cfg.action_mode == "eef_delta":
            msg = self._twist_cls()
            self.t.stamp(msg.header)
            msg.header.frame_id = self.cfg.twist_frame_id
            ros_convert.fill_twist(msg, a, self.cfg.linear_scale, self.cfg.angular_scale)
            self.twist_pub.publish(msg)
            if self.gripper_pub is not None:
                self.gripper_pub.publish(self._float_cls(data=float(a[6])))
            return
        if self.cfg.joint_action == "delta":
            q = self.core._obs.get("joint_positions")
            if q is None:
                return
            a = np.asarray(q, dtype=np.float64) + a
        msg = self._traj_cls()
        self.t.stamp(msg.header)
        msg.joint_names = list(self.cfg.joint_names)
        point = self._point_cls()
        point.positions = [float(v) for v in a]
        point.time_from_start = self.t.duration(self.cfg.period_s)
        msg.points = [point]
        self.traj_pub.publish(msg)

    def _status_loop(self) -> None:
        period = 1.0 / self.cfg.status_rate_hz
        while not self._stop_status.wait(period):
            try:
                self.status_pub.publish(self._string_cls(data=json.dumps(self.core.status())))
            except Exception:  # noqa: BLE001 - status is best effort
                log.exception("status publish failed")

    # -- lifecycle -----------------------------------------------------------------------
    def start(self) -> None:
        self.core.start_threads()
        if self.cfg.status_rate_hz > 0:
            threading.Thread(target=self._status_loop, name="vla-status", daemon=True).start()

    def shutdown(self) -> None:
        self._stop_status.set()
        self.core.shutdown()
        self.t.shutdown()
