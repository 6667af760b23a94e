"""ROS 1 transport (rospy) for the bridge and the probe.

Needs a reachable master (``ROS_MASTER_URI``) and, on loopback, ``ROS_HOSTNAME=127.0.0.1``.
When rospy is not importable from this interpreter (a virtualenv next to Debian's or Noetic's
ROS), the system ROS Python paths are *appended* to ``sys.path``, so they never shadow the
interpreter's own numpy / msgpack. rospy allows one node per process.

Runs under the robot's Python (3.8+).
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable
from typing import Any

from hardware.ros_api import Transport, TriggerHandler

#: where Debian (python3-rospy) and ROS Noetic put rospy; appended only when needed
ROS1_PYTHON_PATHS = ("/opt/ros/noetic/lib/python3/dist-packages", "/usr/lib/python3/dist-packages")


def import_rospy() -> Any:
    """Import rospy, appending the system ROS 1 Python paths to ``sys.path`` if needed."""
    try:
        import rospy
    except ImportError:
        extra = [p for p in os.environ.get("VLA_ROS1_PYTHONPATH", "").split(os.pathsep) if p]
        for path in extra + list(ROS1_PYTHON_PATHS):
            if os.path.isdir(path) and path not in sys.path:
                sys.path.append(path)
        try:
            import rospy
        except ImportError as e:
            raise ImportError(
                "rospy not found: install ROS 1 (Debian: apt install ros-core python3-rospy ...) "
                "or set VLA_ROS1_PYTHONPATH to its dist-packages"
            ) from e
    return rospy


class Ros1Transport(Transport):
    """rospy-backed transport; callbacks run on rospy's threads."""

    name = "ros1"

    def __init__(self, node_name: str) -> None:
        self.rospy = import_rospy()
        self.rospy.init_node(node_name, anonymous=False, disable_signals=True)
        self._keep: list[Any] = []

    def msg(self, type_name: str) -> type:
        pkg, _, cls = type_name.partition("/")
        return getattr(importlib.import_module(f"{pkg}.msg"), cls)

    def subscribe(self, topic: str, type_name: str, callback: Callable[[Any], None], sensor: bool = False) -> Any:
        kwargs = {"queue_size": 1, "buff_size": 1 << 24} if sensor else {"queue_size": 10}
        sub = self.rospy.Subscriber(topic, self.msg(type_name), callback, tcp_nodelay=True, **kwargs)
        self._keep.append(sub)
        return sub

    def publisher(self, topic: str, type_name: str) -> Any:
        pub = self.rospy.Publisher(topic, self.msg(type_name), queue_size=10, tcp_nodelay=True)
        self._keep.append(pub)
        return pub

    def subscriber_count(self, pub: Any) -> int:
        return int(pub.get_num_connections())

    def serve_trigger(self, name: str, handler: TriggerHandler) -> Any:
        from std_srvs.srv import Trigger, TriggerResponse

        def _cb(_req: Any) -> Any:
            ok, message = handler()
            return TriggerResponse(success=bool(ok), message=str(message))

        srv = self.rospy.Service(name, Trigger, _cb)
        self._keep.append(srv)
        return srv

    def call_trigger(self, name: str, timeout_s: float = 5.0) -> tuple[bool, str]:
        from std_srvs.srv import Trigger

        self.rospy.wait_for_service(name, timeout=timeout_s)
        resp = self.rospy.ServiceProxy(name, Trigger)()
        return bool(resp.success), str(resp.message)

    def stamp(self, header: Any) -> None:
        header.stamp = self.rospy.Time.now()

    def duration(self, seconds: float) -> Any:
        return self.rospy.Duration.from_sec(seconds)

    def shutdown(self) -> None:
        self.rospy.signal_shutdown("vla bridge shutdown")
