"""The small ROS surface the bridge and the probe use, implemented once for ROS 1 and once for ROS 2.

A :class:`Transport` resolves message types by name (``"sensor_msgs/Image"``), subscribes,
publishes, serves and calls ``std_srvs/Trigger`` services, and stamps headers. The bridge logic
(:mod:`hardware.bridge_node`) is written against this interface only: one code path, two
transports (:mod:`hardware.ros1` with rospy, :mod:`hardware.ros2` with rclpy).
:func:`make_transport` picks one; the interface itself lives in :mod:`hardware.ros_api` (which
both implementations import) and is re-exported here.

Runs under the robot's Python (3.8+).
"""

from __future__ import annotations

from hardware.ros_api import Transport, TriggerHandler

__all__ = ["Transport", "TriggerHandler", "make_transport"]


def make_transport(ros: str, node_name: str) -> Transport:
    """``ros`` is "1", "2" or "auto" (ROS 2 if rclpy imports, else ROS 1)."""
    if ros not in ("1", "2", "auto"):
        raise ValueError(f"--ros must be 1, 2 or auto, got {ros!r}")
    if ros == "auto":
        try:
            import rclpy  # noqa: F401

            ros = "2"
        except ImportError:
            ros = "1"
    if ros == "2":
        from hardware.ros2 import Ros2Transport

        return Ros2Transport(node_name)
    from hardware.ros1 import Ros1Transport

    return Ros1Transport(node_name)
