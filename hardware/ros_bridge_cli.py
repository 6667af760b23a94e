"""``vla ros-bridge``: run the ROS 1 / ROS 2 bridge node between a robot and a policy.

Examples::

    vla ros-bridge --config bridge.yaml                        # policy server from the config
    vla ros-bridge --ros 1 --config bridge.json --server ws://gpu-box:8000
    vla ros-bridge --ros 2 --config bridge.yaml --policy sine  # in-process scripted policy
    python -m policies.ros_bridge_cli ...                      # same, under the robot's Python
    python -m hardware.ros_bridge_cli ...                      # policy server only: hardware/ alone

This module is the robot side: ``main(argv, load_policy)`` takes the loader of in-process
policies from its caller (``policies.ros_bridge_cli``, the ``vla ros-bridge`` entry point,
passes ``policies.load.load_policy``) and never imports the policy stack itself.

The node holds the robot until the ``<prefix>/start`` service is called (or ``autostart``),
and whenever observations go stale, the policy is late or sends garbage, or the e-stop topic
latched. Ctrl-C / SIGTERM stops it cleanly.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

from hardware.action_source import PolicyLoader, make_source
from hardware.bridge_config import BridgeConfig, PolicySourceConfig


def build_parser() -> argparse.ArgumentParser:
    """The command's options (``vla ros-bridge --help``)."""
    p = argparse.ArgumentParser(prog="vla ros-bridge", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", required=True, help="bridge config (.yaml/.yml or .json): topics, rates, limits, policy")
    p.add_argument("--ros", default="auto", choices=["1", "2", "auto"], help="ROS version (default: auto: 2 if rclpy imports, else 1)")
    p.add_argument("--server", default=None, help="policy server URL (overrides policy.server in the config)")
    p.add_argument("--policy", default=None, help="in-process policy spec, e.g. 'sine' (overrides the config)")
    p.add_argument("--api-key-env", default=None, help="environment variable holding the server's API key")
    p.add_argument("--autostart", action="store_true", help="act without waiting for the start service")
    p.add_argument("-v", "--verbose", action="store_true", help="log every intervention")
    return p


def main(argv: list[str] | None = None, load_policy: PolicyLoader | None = None) -> int:
    """Run the bridge until SIGINT / SIGTERM; ``load_policy`` builds in-process policies (else server only)."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.ERROR, format="%(asctime)s %(name)s: %(message)s")
    try:
        cfg = BridgeConfig.load(args.config)
        if args.server or args.policy:
            if args.server and args.policy:
                raise ValueError("give --server or --policy, not both")
            cfg.policy = PolicySourceConfig(
                server=args.server, local=args.policy, api_key_env=args.api_key_env or cfg.policy.api_key_env, timeout_s=cfg.policy.timeout_s
            )
        elif args.api_key_env:
            cfg.policy.api_key_env = args.api_key_env
        if args.autostart:
            cfg.autostart = True
        cfg.validate()
        source = make_source(cfg.policy, load_policy)
    except (ValueError, FileNotFoundError) as e:
        print(f"vla ros-bridge: {e}", file=sys.stderr)
        return 2
    from hardware.bridge_node import BridgeNode
    from hardware.ros_transport import make_transport

    try:
        transport = make_transport(args.ros, cfg.node_name)
    except ImportError as e:
        print(f"vla ros-bridge: {e}", file=sys.stderr)
        return 2
    node = BridgeNode(transport, cfg, source)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    node.start()
    print(f"vla ros-bridge: {transport.name} node {cfg.node_name!r} up; actions from {source.describe()}", flush=True)
    done.wait()
    node.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
