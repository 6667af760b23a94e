"""``vla serve``: serve a policy over websocket + msgpack (openpi wire protocol).

Examples::

    vla serve --policy random --port 8000
    vla serve --policy "sine:amplitude=0.2,period=40,horizon=8" --api-key-env VLA_API_KEY
    VLA_API_KEY=... vla serve --policy "replay:actions=demo.npy" --host 0.0.0.0 --api-key-env VLA_API_KEY
        # reachable from the robot: on a non-loopback address always require a key

Any policy :func:`policies.load.load_policy` knows can be served (``vla serve --list``).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

from hardware import wire
from policies.load import load_policy, registered_policies
from policies.server import PolicyServer
from vla.cli_help import HelpFormatter

#: the largest camera side (pixels) a default frame limit allows for; robots send 128-512 px frames
MAX_CAMERA_SIDE = 512


def default_message_limit(policy: Any) -> int:
    """Frame limit (bytes) from the observation the policy reads: one uint8 RGB image of
    ``MAX_CAMERA_SIDE`` px per camera it reads, plus 64 KiB for proprio and text, times 2; at
    least 1 MiB. A policy that names no cameras gets the wire default."""
    keys = getattr(policy, "image_keys", None)
    if not keys:
        return wire.DEFAULT_MAX_MESSAGE_BYTES
    expected = len(keys) * 3 * MAX_CAMERA_SIDE * MAX_CAMERA_SIDE + 64 * 1024
    return max(1024 * 1024, 2 * expected)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vla serve", description=__doc__, formatter_class=HelpFormatter)
    p.add_argument("--policy", default="random", help="policy spec: NAME[:key=value,...] or package.module:Class (default: random)")
    p.add_argument("--checkpoint", default=None, help="serve a trained VLA checkpoint directory (same as --policy checkpoint:path=DIR)")
    p.add_argument("--device", default=None, help="device for --checkpoint (e.g. cpu, cuda)")
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1; 0.0.0.0 exposes it on the network)")
    p.add_argument("--port", type=int, default=8000, help="TCP port (0: pick a free one; default 8000)")
    p.add_argument("--api-key", default=None, help="require 'Authorization: Api-Key <key>' (prefer --api-key-env)")
    p.add_argument("--api-key-env", default=None, help="read the required API key from this environment variable")
    p.add_argument("--max-message-mb", type=float, default=None,
                   help="largest accepted message in MiB; larger frames are refused before they are read "
                        "(default: from the policy's cameras, MAX_CAMERA_SIDE px RGB each, x2 margin, >= 1 MiB)")
    p.add_argument("--max-clients", type=int, default=64, help="most simultaneous clients (default 64)")
    p.add_argument("--list", action="store_true", help="list the policy names and exit")
    p.add_argument("-v", "--verbose", action="store_true", help="log every connection and error")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.list:
        print("\n".join(registered_policies()))
        return 0
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    api_key = args.api_key
    if args.api_key_env:
        api_key = os.environ.get(args.api_key_env)
        if not api_key:
            print(f"vla serve: --api-key-env {args.api_key_env}: variable is unset or empty", file=sys.stderr)
            return 2
    if not 0 <= args.port <= 65535:
        print(f"vla serve: --port must be in 0..65535, got {args.port}", file=sys.stderr)
        return 2
    if args.max_message_mb is not None and args.max_message_mb <= 0:
        print(f"vla serve: --max-message-mb must be > 0, got {args.max_message_mb}", file=sys.stderr)
        return 2
    spec, overrides = args.policy, {}
    if args.checkpoint:
        if not Path(args.checkpoint).is_dir():
            print(f"vla serve: --checkpoint: directory not found: {args.checkpoint}", file=sys.stderr)
            return 2
        spec = "checkpoint"
        overrides = {"path": args.checkpoint, **({"device": args.device} if args.device else {})}
    try:
        policy = load_policy(spec, **overrides)
    except (ValueError, FileNotFoundError) as e:
        print(f"vla serve: --{'checkpoint' if args.checkpoint else 'policy'}: {e}", file=sys.stderr)
        return 2
    server = PolicyServer(
        policy,
        host=args.host,
        port=args.port,
        api_key=api_key,
        max_message_bytes=(max(1024, int(args.max_message_mb * 1024 * 1024)) if args.max_message_mb is not None
                           else default_message_limit(policy)),
        max_clients=args.max_clients,
    )
    server.start()
    signal.signal(signal.SIGTERM, lambda *_: server.stop())
    print(f"serving {type(policy).__name__} on {server.url} (health: http://{server.host}:{server.port}/healthz; "
          f"frames up to {server.max_message_bytes / 2**20:.1f} MiB)", flush=True)
    try:
        assert server._thread is not None
        while server._thread.is_alive():
            server._thread.join(timeout=0.5)
    except KeyboardInterrupt:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
