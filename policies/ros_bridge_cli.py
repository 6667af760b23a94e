"""``vla ros-bridge`` entry point: the robot-side bridge (:mod:`hardware.ros_bridge_cli`) wired to the policy stack.

:mod:`hardware` never imports ``policies``; this CLI layer injects the loader of in-process
policies (``--policy SPEC`` / ``policy.local``), :func:`policies.load.load_policy`, imported only
when such a policy is asked for (a bridge talking to a policy server stays torch-free).
Options and behaviour are those of :mod:`hardware.ros_bridge_cli`::

    vla ros-bridge --config bridge.yaml --policy sine
    python -m policies.ros_bridge_cli --config bridge.yaml --policy sine   # same
"""

from __future__ import annotations

from typing import Any


def load_policy(spec: str) -> Any:
    """Build the in-process policy named by ``spec`` (:func:`policies.load.load_policy`)."""
    from policies.load import load_policy as _load_policy

    return _load_policy(spec)


def main(argv: list[str] | None = None) -> int:
    """Run the ROS bridge node with in-process policies available."""
    from hardware.ros_bridge_cli import main as bridge_main

    return bridge_main(argv, load_policy=load_policy)


if __name__ == "__main__":
    raise SystemExit(main())
