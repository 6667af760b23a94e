"""ROS 2 transport (rclpy) for the bridge and the probe.

One node, spun by a single-threaded executor in a background thread, so subscriptions and
services are served while the bridge's own threads publish. Not rclpy's MultiThreadedExecutor:
up to rclpy 7.1.x (Jazzy) its spin loop re-yields tasks that sit queued in its thread pool and
spins holding the GIL until they start (ros2/rclpy#1452, fixed by #1547), which starved the
bridge's control-loop thread: commands went out in bursts with 0.3-1 s gaps. The callbacks here
are short (copy a frame, flip a flag), so one thread serves them all. High-rate streams subscribe with
the sensor-data QoS (best effort, keep last), which matches both reliable and best-effort
camera drivers; commands, services and the instruction / e-stop topics are reliable.
For loopback-only tests set ``ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST`` and a ``ROS_DOMAIN_ID``.

Runs under the robot's Python (Humble 3.10, Jazzy 3.12).
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from typing import Any

from hardware.ros_api import Transport, TriggerHandler


class Ros2Transport(Transport):
    """rclpy-backed transport."""

    name = "ros2"

    def __init__(self, node_name: str) -> None:
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.qos import QoSProfile, qos_profile_sensor_data

        self.rclpy = rclpy
        if not rclpy.ok():
            rclpy.init()
        self.node = rclpy.create_node(node_name)
        self._sensor_qos = qos_profile_sensor_data
        self._reliable_qos = QoSProfile(depth=10)
        self._executor = SingleThreadedExecutor()
        self._executor.add_node(self.node)
        self._thread = threading.Thread(target=self._spin, name="rclpy-spin", daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        try:
            self._executor.spin()
        except Exception:  # noqa: BLE001 - raised on shutdown
            pass

    def msg(self, type_name: str) -> type:
        pkg, _, cls = type_name.partition("/")
        return getattr(importlib.import_module(f"{pkg}.msg"), cls)

    def subscribe(self, topic: str, type_name: str, callback: Callable[[Any], None], sensor: bool = False) -> Any:
        qos = self._sensor_qos if sensor else self._reliable_qos
        return self.node.create_subscription(self.msg(type_name), topic, callback, qos)

    def publisher(self, topic: str, type_name: str) -> Any:
        return self.node.create_publisher(self.msg(type_name), topic, self._reliable_qos)

    def subscriber_count(self, pub: Any) -> int:
        return int(pub.get_subscription_count())

    def serve_trigger(self, name: str, handler: TriggerHandler) -> Any:
        from std_srvs.srv import Trigger

        def _cb(_req: Any, resp: Any) -> Any:
            ok, message = handler()
            resp.success, resp.message = bool(ok), str(message)
            return resp

        return self.node.create_service(Trigger, name, _cb)

    def call_trigger(self, name: str, timeout_s: float = 5.0) -> tuple[bool, str]:
        from std_srvs.srv import Trigger

        client = self.node.create_client(Trigger, name)
        try:
            if not client.wait_for_service(timeout_sec=timeout_s):
                raise TimeoutError(f"service {name} not available within {timeout_s} s")
            done = threading.Event()
            future = client.call_async(Trigger.Request())
            future.add_done_callback(lambda _f: done.set())
            if not done.wait(timeout_s):
                raise TimeoutError(f"service {name} did not answer within {timeout_s} s")
            resp = future.result()
            return bool(resp.success), str(resp.message)
        finally:
            self.node.destroy_client(client)

    def stamp(self, header: Any) -> None:
        header.stamp = self.node.get_clock().now().to_msg()

    def duration(self, seconds: float) -> Any:
        from builtin_interfaces.msg import Duration

        sec = int(seconds)
        return Duration(sec=sec, nanosec=int(round((seconds - sec) * 1e9)))

    def shutdown(self) -> None:
        try:
            self._executor.shutdown(timeout_sec=2.0)
            # the spin thread must have left rclpy before the context goes, or a C++ thread is
            # destroyed while joinable at exit ("terminate called without an active exception")
            self._thread.join(timeout=2.0)
            self.node.destroy_node()
        finally:
            if self.rclpy.ok():
                self.rclpy.shutdown()
