"""The ROS transport interface: :class:`Transport` and the ``TriggerHandler`` alias.

The abstract API the bridge, the probe and the simulated robot are written against, with no
ROS import. The two implementations (:mod:`hardware.ros1` with rospy, :mod:`hardware.ros2`
with rclpy) subclass it from here, and :mod:`hardware.ros_transport` (which picks one of them)
re-exports it, so neither implementation imports the module that imports it.

Runs under the robot's Python (3.8+).
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

__all__ = ["Transport", "TriggerHandler"]

#: a Trigger service handler: () -> (success, message). A string alias: subscripting
#: collections.abc.Callable at runtime fails on Python 3.8.
TriggerHandler = "Callable[[], tuple[bool, str]]"


class Transport(ABC):
    """Minimal publish / subscribe / service API over rospy or rclpy."""

    #: "ros1" or "ros2"
    name: str = ""

    @abstractmethod
    def msg(self, type_name: str) -> type:
        """Message class for ``"pkg/Type"``."""

    @abstractmethod
    def subscribe(self, topic: str, type_name: str, callback: Callable[[Any], None], sensor: bool = False) -> Any:
        """Subscribe; ``sensor=True`` for high-rate streams (keep only the latest, best effort on ROS 2)."""

    @abstractmethod
    def publisher(self, topic: str, type_name: str) -> Any:
        """Advertise a topic; returns an object with ``publish(msg)``."""

    @abstractmethod
    def subscriber_count(self, pub: Any) -> int:
        """How many subscribers a publisher currently has."""

    @abstractmethod
    def serve_trigger(self, name: str, handler: TriggerHandler) -> Any:
        """Offer a ``std_srvs/Trigger`` service answering ``handler() -> (success, message)``."""

    @abstractmethod
    def call_trigger(self, name: str, timeout_s: float = 5.0) -> tuple[bool, str]:
        """Call a ``std_srvs/Trigger`` service (waits for it up to ``timeout_s``)."""

    @abstractmethod
    def stamp(self, header: Any) -> None:
        """Set ``header.stamp`` to now."""

    @abstractmethod
    def duration(self, seconds: float) -> Any:
        """A duration value for message fields such as ``time_from_start``."""

    @abstractmethod
    def shutdown(self) -> None:
        """Leave the ROS graph."""

    def wait_for_subscribers(self, pub: Any, n: int = 1, timeout_s: float = 5.0) -> bool:
        """Block until ``pub`` has ``n`` subscribers (so the first messages are not lost)."""
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            if self.subscriber_count(pub) >= n:
                return True
            time.sleep(0.02)
        return False
