"""Policy client: talks to a policy server (ours or openpi's) over websocket + msgpack.

Same wire protocol as the PyPI ``openpi-client``: connect (optional ``Authorization: Api-Key``
header), receive the server's metadata map, then send one observation map per ``infer`` and
receive a map with ``"actions"`` and ``"server_timing"``. A text frame from the server is an
error report: it raises :class:`PolicyServerError` and the connection stays usable (our server
keeps serving after errors). Adds what a robot needs: connect / receive timeouts, a bound on
message size, reconnect after a dropped connection, and round-trip timing.

Runs under the robot's Python (3.8+): numpy, msgpack and websockets only.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from hardware import wire


class PolicyServerError(RuntimeError):
    """The server answered with an error frame (the request was refused or inference failed)."""


class PolicyClient:
    """Synchronous websocket client for a policy server.

    ``uri`` is ``ws://host:port`` (or ``host:port``). ``timeout_s`` bounds connecting and each
    ``infer`` round trip; ``api_key`` is sent as ``Authorization: Api-Key <key>``.
    """

    def __init__(
        self,
        uri: str = "ws://127.0.0.1:8000",
        api_key: str | None = None,
        timeout_s: float = 10.0,
        max_message_bytes: int = wire.DEFAULT_MAX_MESSAGE_BYTES,
        connect_now: bool = True,
    ) -> None:
        self.uri = uri if uri.startswith(("ws://", "wss://")) else "ws://" + uri
        self.api_key = api_key
        self.timeout_s = float(timeout_s)
        self.max_message_bytes = int(max_message_bytes)
        self._ws: ClientConnection | None = None
        self._metadata: dict[str, Any] = {}
        #: round-trip time of the last ``infer`` in milliseconds
        self.last_rtt_ms: float = float("nan")
        #: the server's timing of the last ``infer`` (``infer_ms``, ``prev_total_ms``)
        self.last_server_timing: dict[str, Any] = {}
        if connect_now:
            self.connect()

    # -- connection ---------------------------------------------------------------------
    def connect(self) -> dict[str, Any]:
        """(Re)connect and return the server metadata."""
        self.close()
        headers = {"Authorization": f"Api-Key {self.api_key}"} if self.api_key else None
        self._ws = connect(
            self.uri,
            compression=None,
            max_size=self.max_message_bytes,
            additional_headers=headers,
            open_timeout=self.timeout_s,
            close_timeout=1.0,
        )
        first = self._ws.recv(timeout=self.timeout_s)
        if isinstance(first, str):
            raise PolicyServerError(f"server refused the connection: {first}")
        meta = wire.unpackb(first, max_bytes=self.max_message_bytes)
        if not isinstance(meta, dict):
            raise wire.WireError(f"server metadata must be a map, got {type(meta).__name__}")
        self._metadata = meta
        return meta

    @property
    def connected(self) -> bool:
        return self._ws is not None

    def get_server_metadata(self) -> dict[str, Any]:
        """The metadata map the server sent on connect (same name as openpi-client)."""
        return dict(self._metadata)

    def close(self) -> None:
        if self._ws is not None:
            try:
                self._ws.close()
            except Exception:  # noqa: BLE001 - closing a dead socket is not an error
                pass
            self._ws = None

    def __enter__(self) -> PolicyClient:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- requests -----------------------------------------------------------------------
    def request(self, message: dict[str, Any], timeout_s: float | None = None) -> dict[str, Any]:
        """Send one map and return the server's reply map; reconnects once if the link dropped."""
        data = wire.packb(message)
        if len(data) > self.max_message_bytes:
            raise wire.WireError(f"request of {len(data)} bytes exceeds max_message_bytes={self.max_message_bytes}")
        timeout = self.timeout_s if timeout_s is None else float(timeout_s)
        for attempt in (0, 1):
            if self._ws is None:
                self.connect()
            assert self._ws is not None
            try:
                self._ws.send(data)
                reply = self._ws.recv(timeout=timeout)
                break
            except ConnectionClosed:
                self._ws = None
                if attempt:
                    raise
            except TimeoutError:
                # the late reply would be taken as the answer to the next request: drop the link
                self.close()
                raise
        if isinstance(reply, str):
            raise PolicyServerError(reply)
        out = wire.unpackb(reply, max_bytes=self.max_message_bytes)
        if not isinstance(out, dict):
            raise wire.WireError(f"server reply must be a map, got {type(out).__name__}")
        return out

    def infer(self, obs: dict[str, Any], timeout_s: float | None = None) -> dict[str, Any]:
        """Send an observation, return the reply map (``actions``, ``server_timing``, ...)."""
        t0 = time.perf_counter()
        out = self.request(obs, timeout_s=timeout_s)
        self.last_rtt_ms = (time.perf_counter() - t0) * 1000.0
        timing = out.get("server_timing")
        self.last_server_timing = dict(timing) if isinstance(timing, dict) else {}
        return out

    def infer_chunk(self, obs: dict[str, Any], timeout_s: float | None = None) -> np.ndarray:
        """Send an observation, return the action chunk as float32 ``[H, D]``."""
        out = self.infer(obs, timeout_s=timeout_s)
        if "actions" not in out:
            raise wire.WireError(f"server reply has no 'actions' (keys: {sorted(out)})")
        actions = np.asarray(out["actions"], dtype=np.float32)
        if actions.ndim == 1:
            actions = actions[None, :]
        if actions.ndim != 2:
            raise wire.WireError(f"'actions' must be [H, D], got shape {actions.shape}")
        return actions

    def reset(self, instruction: str = "") -> None:
        """Ask the server to reset the policy for a new episode (our extension; openpi ignores it)."""
        self.request({"__control__": "reset", "instruction": instruction})
