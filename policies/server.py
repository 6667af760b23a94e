"""Policy server: serves any :class:`policies.base.Policy` over websocket + msgpack (openpi protocol).

Wire-compatible with the PyPI ``openpi-client`` (``WebsocketClientPolicy``): on connect the
server sends a msgpack map of metadata; each binary frame from the client is an observation map
and the reply is a map with ``"actions"`` (float32 ``[H, D]``) and ``"server_timing"``
(``infer_ms``, ``prev_total_ms``), plus ``"policy_timing"``: the policy's
``last_infer_stats()`` (scalars and maps of scalars, e.g. a VLA checkpoint's ``nfe`` and
``timing_s``, the seconds of each pipeline step). Plain ``GET /healthz`` on the same port answers 200 ``OK``;
``GET /stats`` answers JSON counters.

Beyond openpi's server: several clients are served at once and none can stall another (each
connection is its own coroutine; inference runs in a worker thread, one call at a time since a
policy is not assumed thread-safe); a bad request (garbage, truncated msgpack, wrong types,
refused dtypes, a policy exception) gets a text error frame and the connection keeps serving;
messages are bounded (``max_message_bytes``: a larger frame is refused by the websocket layer
with close code 1009 before it is read); an optional API key is checked against the client's
``Authorization: Api-Key <key>`` header; binds 127.0.0.1 unless told otherwise.

Our extension (ignored by openpi clients, which never send it): a map with ``"__control__":
"reset"`` (and ``"instruction"``) resets the policy and answers ``{"ok": True}``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hmac
import http
import json
import logging
import threading
import time
import warnings
from typing import Any

import numpy as np
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from hardware import wire
from policies.base import Policy

log = logging.getLogger("vla.serve")


_SCALARS = (int, float, str, bool)


def _plain(value: Any) -> bool:
    """A scalar, or a map of scalars: what ``policy_timing`` carries of a policy's stats."""
    if isinstance(value, dict):
        return all(isinstance(v, _SCALARS) for v in value.values())
    return isinstance(value, _SCALARS)


def _is_loopback(host: str) -> bool:
    """True for loopback hosts (127.0.0.0/8, ::1, localhost)."""
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class PolicyServer:
    """Websocket policy server around one policy. Use :meth:`serve_forever` or :meth:`start`."""

    def __init__(
        self,
        policy: Policy,
        host: str = "127.0.0.1",
        port: int = 8000,
        api_key: str | None = None,
        max_message_bytes: int = wire.DEFAULT_MAX_MESSAGE_BYTES,
        max_clients: int = 64,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        if max_message_bytes < 1024:
            raise ValueError(f"max_message_bytes must be >= 1024, got {max_message_bytes}")
        if not api_key and not _is_loopback(host):
            warnings.warn(f"serving on {host!r} without an API key: anyone who can reach this address can drive the "
                          "robot's policy; pass api_key (vla serve --api-key-env VAR)", UserWarning, stacklevel=2)
        self.policy = policy
        self.host = host
        self.port = int(port)
        self.api_key = api_key or None
        self.max_message_bytes = int(max_message_bytes)
        self.max_clients = int(max_clients)
        self.extra_metadata = dict(metadata or {})
        self.stats: dict[str, int] = {"connections": 0, "active": 0, "requests": 0, "errors": 0, "refused": 0}
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="policy")
        self._server: Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._start_error: BaseException | None = None

    # -- metadata -----------------------------------------------------------------------
    def metadata(self) -> dict[str, Any]:
        meta = dict(self.policy.metadata())
        meta.update(self.extra_metadata)
        meta.update({"server": "vla", "protocol": "openpi-websocket-msgpack", "max_message_bytes": self.max_message_bytes})
        return meta

    @property
    def url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    # -- HTTP side: health, stats, auth ---------------------------------------------------
    def _authorized(self, request: Request) -> bool:
        if self.api_key is None:
            return True
        header = request.headers.get("Authorization", "")
        scheme, _, key = header.partition(" ")
        return scheme.lower() == "api-key" and hmac.compare_digest(key.strip().encode(), self.api_key.encode())

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        path = request.path.split("?", 1)[0]
        if path == "/healthz":
            return connection.respond(http.HTTPStatus.OK, "OK\n")
        if not self._authorized(request):
            self.stats["refused"] += 1
            log.warning("refused connection from %s: missing or wrong API key", connection.remote_address)
            return connection.respond(http.HTTPStatus.UNAUTHORIZED, "missing or wrong API key (Authorization: Api-Key <key>)\n")
        if path == "/stats":
            return connection.respond(http.HTTPStatus.OK, json.dumps(self.stats) + "\n")
        if self.stats["active"] >= self.max_clients:
            self.stats["refused"] += 1
            return connection.respond(http.HTTPStatus.SERVICE_UNAVAILABLE, f"server full ({self.max_clients} clients)\n")
        return None

    # -- websocket side -----------------------------------------------------------------
    def _infer(self, obs: dict[str, Any]) -> dict[str, Any]:
        """Runs in the worker thread."""
        control = obs.get("__control__")
        if control is not None:
            if control == "reset":
                instruction = obs.get("instruction", obs.get("prompt", ""))
                self.policy.reset(str(instruction))
                return {"ok": True}
            if control == "metadata":
                return self.metadata()
            raise wire.WireError(f"unknown __control__ {control!r}; expected 'reset' or 'metadata'")
        if "instruction" not in obs and isinstance(obs.get("prompt"), str):
            obs["instruction"] = obs["prompt"]  # openpi clients name it "prompt"
        t0 = time.perf_counter()
        actions = self.policy.infer(obs)
        infer_ms = (time.perf_counter() - t0) * 1000.0
        try:
            arr = np.asarray(actions, dtype=np.float32)
        except (TypeError, ValueError) as e:
            raise TypeError(f"policy returned actions that are not numeric: {type(actions).__name__}") from e
        if arr.ndim != 2:
            raise TypeError(f"policy returned actions of shape {arr.shape}, expected [horizon, action_dim]")
        out: dict[str, Any] = {"actions": arr, "server_timing": {"infer_ms": infer_ms}}
        stats = self.policy.last_infer_stats()
        if stats:
            out["policy_timing"] = {k: v for k, v in stats.items() if _plain(v)}
        return out

    async def _send_error(self, ws: ServerConnection, message: str) -> None:
        self.stats["errors"] += 1
        log.info("error for %s: %s", ws.remote_address, message)
        await ws.send(f"error: {message}")

    async def _handler(self, ws: ServerConnection) -> None:
        self.stats["connections"] += 1
        self.stats["active"] += 1
        loop = asyncio.get_running_loop()
        log.info("client connected: %s", ws.remote_address)
        try:
            await ws.send(wire.packb(self.metadata()))
            prev_total_ms: float | None = None
            while True:
                frame = await ws.recv()
                t_start = time.perf_counter()
                if isinstance(frame, str):
                    await self._send_error(ws, "expected a binary msgpack frame, got a text frame")
                    continue
                try:
                    obs = wire.decode_observation(frame, max_bytes=self.max_message_bytes)
                except wire.WireError as e:
                    await self._send_error(ws, f"bad request: {e}")
                    continue
                try:
                    reply = await loop.run_in_executor(self._executor, self._infer, obs)
                except Exception as e:  # noqa: BLE001 - a failing request must not end the connection
                    log.exception("inference failed")
                    await self._send_error(ws, f"inference failed: {type(e).__name__}: {e}")
                    continue
                self.stats["requests"] += 1
                if "server_timing" in reply:
                    if prev_total_ms is not None:
                        reply["server_timing"]["prev_total_ms"] = prev_total_ms
                try:
                    data = wire.packb(reply)
                except (TypeError, ValueError) as e:
                    await self._send_error(ws, f"reply not serializable: {e}")
                    continue
                await ws.send(data)
                prev_total_ms = (time.perf_counter() - t_start) * 1000.0
        except ConnectionClosed as e:
            log.info("client %s disconnected (%s)", ws.remote_address, e)
        finally:
            self.stats["active"] -= 1

    # -- lifecycle ----------------------------------------------------------------------
    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        async with serve(
            self._handler,
            self.host,
            self.port,
            compression=None,
            max_size=self.max_message_bytes,
            max_queue=1,  # read one frame ahead per connection: a flooding client waits in TCP, not in our memory
            process_request=self._process_request,
            ping_interval=20,
            ping_timeout=20,
            close_timeout=1,
        ) as server:
            self._server = server
            self.port = server.sockets[0].getsockname()[1] if self.port == 0 else self.port
            log.info("serving %s on %s", type(self.policy).__name__, self.url)
            self._ready.set()
            await self._stop.wait()

    def serve_forever(self) -> None:
        """Serve in the calling thread until :meth:`stop` (or Ctrl-C)."""
        self._loop = asyncio.new_event_loop()
        try:
            self._loop.run_until_complete(self._serve())
        except BaseException as e:
            self._start_error = e
            self._ready.set()
            raise
        finally:
            self._loop.close()

    def start(self, timeout_s: float = 10.0) -> PolicyServer:
        """Serve in a background thread; returns once listening (``self.port`` holds the port)."""
        self._thread = threading.Thread(target=self._run_quietly, name="policy-server", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout_s):
            raise TimeoutError(f"policy server did not start within {timeout_s} s")
        if self._start_error is not None:
            raise RuntimeError(f"policy server failed to start: {self._start_error}") from self._start_error
        return self

    def _run_quietly(self) -> None:
        try:
            self.serve_forever()
        except BaseException:  # noqa: BLE001 - reported through start()
            pass

    def stop(self) -> None:
        """Stop serving (from any thread) and wait for the server thread."""
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._executor.shutdown(wait=False)

    def __enter__(self) -> PolicyServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
