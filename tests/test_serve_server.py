"""Policy server over a real websocket on 127.0.0.1: openpi-client compatibility, concurrency,
error frames, size bound, API key, health endpoint, bind address, the `vla serve` CLI."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from typing import Any

import msgpack
import numpy as np
import pytest
from openpi_client import msgpack_numpy as openpi_msgpack
from openpi_client.websocket_client_policy import WebsocketClientPolicy
from websockets.exceptions import ConnectionClosedError, InvalidStatus
from websockets.sync.client import connect

from hardware import wire
from hardware.client import PolicyClient, PolicyServerError
from policies.base import Policy
from policies.server import PolicyServer
from policies.simple import SinePolicy


class EchoPolicy(Policy):
    """Action = obs["x"] (a float) in every dimension, after an optional delay; records resets."""

    horizon, action_dim = 2, 3

    def __init__(self, delay_s: float = 0.0) -> None:
        self.delay_s = delay_s
        self.instructions: list[str] = []
        self.last_obs: dict[str, Any] = {}

    def reset(self, instruction: str = "") -> None:
        self.instructions.append(instruction)

    def infer(self, obs: dict[str, Any]) -> np.ndarray:
        self.last_obs = obs
        if "boom" in obs:
            raise RuntimeError("policy exploded on purpose")
        time.sleep(self.delay_s)
        return np.full((self.horizon, self.action_dim), float(obs["x"]), dtype=np.float32)


@pytest.fixture
def echo_server():
    policy = EchoPolicy()
    with PolicyServer(policy, port=0, max_message_bytes=256 * 1024) as server:
        yield server, policy


def test_openpi_client_gets_actions_unchanged() -> None:
    policy = SinePolicy(amplitude=0.3, period=10, horizon=4)
    expected = SinePolicy(amplitude=0.3, period=10, horizon=4)
    with PolicyServer(policy, port=0) as server:
        client = WebsocketClientPolicy(host="127.0.0.1", port=server.port)
        meta = client.get_server_metadata()
        assert meta["horizon"] == 4 and meta["action_dim"] == 7 and meta["policy"] == "SinePolicy"
        obs = {
            "observation/image": np.zeros((224, 224, 3), np.uint8),
            "observation/state": np.arange(8, dtype=np.float32),
            "prompt": "pick up the cube",
        }
        for step in range(3):
            out = client.infer(obs)
            assert out["actions"].dtype == np.float32 and out["actions"].shape == (4, 7)
            np.testing.assert_allclose(out["actions"], expected.action_at(np.arange(4 * step, 4 * step + 4)), atol=1e-6)
            assert out["server_timing"]["infer_ms"] >= 0
            if step:
                assert out["server_timing"]["prev_total_ms"] > 0
        client._ws.close()


def test_openpi_prompt_and_arrays_reach_the_policy(echo_server) -> None:
    server, policy = echo_server
    client = WebsocketClientPolicy(host=f"ws://127.0.0.1:{server.port}")
    img = np.arange(12, dtype=np.uint8).reshape(2, 2, 3)
    out = client.infer({"x": np.float32(0.25), "img": img, "prompt": "open the drawer"})
    np.testing.assert_array_equal(out["actions"], np.full((2, 3), 0.25, np.float32))
    assert policy.last_obs["instruction"] == "open the drawer"
    np.testing.assert_array_equal(policy.last_obs["img"], img)
    assert isinstance(policy.last_obs["x"], np.float32)
    client._ws.close()


def test_wire_roundtrip_and_openpi_packer_compat() -> None:
    obs = {"a": np.random.default_rng(0).random((3, 4)).astype(np.float64), "b": np.int16(7), "s": "x", "l": [1, 2.5]}
    for data in (wire.packb(obs), openpi_msgpack.packb(obs)):
        back = wire.unpackb(data)
        np.testing.assert_array_equal(back["a"], obs["a"])
        assert back["b"] == 7 and back["b"].dtype == np.int16 and back["s"] == "x" and back["l"] == [1, 2.5]
    theirs = openpi_msgpack.unpackb(wire.packb(obs))
    np.testing.assert_array_equal(theirs["a"], obs["a"])
    with pytest.raises(wire.WireError, match="object"):
        wire.packb({"o": np.array([object()], dtype=object)})


@pytest.mark.parametrize(
    "payload, reason",
    [
        (b"\xc1\xc1\xc1 not msgpack", "malformed msgpack"),
        (wire.packb({"x": np.zeros(100, np.float32)})[:-7], "malformed msgpack"),
        (msgpack.packb([1, 2, 3]), "must be a msgpack map"),
        (msgpack.packb({b"__ndarray__": True, b"data": b"\x00" * 8, b"dtype": "|O", b"shape": [1]}), "refused"),
        (msgpack.packb({"x": {b"__ndarray__": True, b"data": b"\x00" * 7, b"dtype": "<f4", b"shape": [2]}}), "expected 8"),
        (msgpack.packb({"x": {b"__ndarray__": True, b"data": b"", b"dtype": "<f4", b"shape": [-1]}}), "non-negative"),
        (msgpack.packb({"x": {b"__npgeneric__": True, b"data": 1, b"dtype": "<c8"}}), "refused"),
        (msgpack.packb({1: 2}), "keys must be strings"),
        (msgpack.packb({"boom": 1, "x": 1.0}), "policy exploded"),
        (msgpack.packb({"y": 1.0}), "KeyError"),
    ],
)
def test_bad_request_gets_error_frame_and_connection_keeps_serving(echo_server, payload: bytes, reason: str) -> None:
    server, _ = echo_server
    with connect(server.url, compression=None) as ws:
        wire.unpackb(ws.recv(timeout=5))  # metadata
        ws.send(payload)
        reply = ws.recv(timeout=5)
        assert isinstance(reply, str) and reply.startswith("error:") and reason in reply, reply
        ws.send(wire.packb({"x": 1.5}))
        out = wire.unpackb(ws.recv(timeout=5))
        np.testing.assert_array_equal(out["actions"], np.full((2, 3), 1.5, np.float32))


def test_text_frame_error_and_openpi_client_raises(echo_server) -> None:
    server, _ = echo_server
    client = WebsocketClientPolicy(host="127.0.0.1", port=server.port)
    with pytest.raises(RuntimeError, match="Error in inference server"):
        client.infer({"boom": 1})
    assert client.infer({"x": 2.0})["actions"][0, 0] == 2.0
    client._ws.send("hello")
    assert "expected a binary msgpack frame" in client._ws.recv(timeout=5)
    client._ws.close()
    assert server.stats["errors"] == 2


def test_oversize_message_is_refused_and_others_keep_being_served(echo_server) -> None:
    server, _ = echo_server
    good = PolicyClient(server.url)
    big = connect(server.url, compression=None, max_size=None)
    big.recv(timeout=5)
    big.send(wire.packb({"x": 1.0, "img": np.zeros(300 * 1024, np.uint8)}))  # > 256 KiB bound
    with pytest.raises(ConnectionClosedError) as exc:
        big.recv(timeout=5)
    assert exc.value.rcvd is not None and exc.value.rcvd.code == 1009  # "message too big"
    np.testing.assert_array_equal(good.infer_chunk({"x": 3.0}), np.full((2, 3), 3.0, np.float32))
    with PolicyClient(server.url) as fresh:
        assert fresh.infer_chunk({"x": 4.0})[0, 0] == 4.0
    good.close()
    # our own client refuses to send a message over its bound before touching the network
    small = PolicyClient(server.url, max_message_bytes=10_000)
    with pytest.raises(wire.WireError, match="exceeds max_message_bytes"):
        small.infer({"img": np.zeros(20_000, np.uint8)})
    small.close()


def test_concurrent_clients_get_their_own_answers(echo_server) -> None:
    server, _ = echo_server
    errors: list[str] = []

    def worker(k: int) -> None:
        try:
            with PolicyClient(server.url) as client:
                for i in range(25):
                    value = k * 100 + i
                    chunk = client.infer_chunk({"x": float(value), "img": np.full((32, 32, 3), k, np.uint8)})
                    if not np.all(chunk == value):
                        errors.append(f"client {k} request {i}: got {chunk[0, 0]} expected {value}")
        except Exception as e:  # noqa: BLE001
            errors.append(f"client {k}: {e!r}")

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors, errors
    assert server.stats["requests"] == 150 and server.stats["connections"] == 6
    deadline = time.monotonic() + 5
    while server.stats["active"] and time.monotonic() < deadline:  # closes are processed asynchronously
        time.sleep(0.01)
    assert server.stats["active"] == 0


def test_slow_and_broken_clients_do_not_stall_others(echo_server) -> None:
    server, _ = echo_server
    # 1) a client that sends half a frame and then goes silent
    stuck = socket.create_connection(("127.0.0.1", server.port))
    stuck.sendall(
        b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    time.sleep(0.1)
    stuck.sendall(b"\x82\x7e\x10\x00" + b"\x00\x00\x00\x00" + b"\x00" * 100)  # masked 4096-byte frame, 100 sent
    # 2) a client that floods requests and never reads a reply
    flood = connect(server.url, compression=None, close_timeout=0.1)
    flood.recv(timeout=5)
    for _ in range(200):
        flood.send(wire.packb({"x": 1.0, "pad": np.zeros(20_000, np.uint8)}))
    # 3) a well-behaved client is still answered promptly
    with PolicyClient(server.url, timeout_s=5) as client:
        t0 = time.perf_counter()
        for i in range(20):
            assert client.infer_chunk({"x": float(i)})[0, 0] == i
        elapsed = time.perf_counter() - t0
    assert elapsed < 3.0, f"20 requests took {elapsed:.2f} s next to a stuck and a flooding client"
    stuck.close()
    flood.close()


class RecordingPolicy(EchoPolicy):
    """EchoPolicy that records which client (obs["who"]) each call served, in order."""

    def __init__(self, delay_s: float) -> None:
        super().__init__(delay_s)
        self.order: list[str] = []

    def infer(self, obs: dict[str, Any]) -> np.ndarray:
        self.order.append(str(obs.get("who", "")))
        return super().infer(obs)


def test_clients_are_served_in_turn_next_to_a_flooding_client() -> None:
    """Fairness: one request in flight per connection, served in arrival order, so between two
    requests of a well-behaved client the server runs at most one request of a client that
    floods without reading."""
    policy = RecordingPolicy(delay_s=0.02)
    with PolicyServer(policy, port=0) as server:
        flood = connect(server.url, compression=None, close_timeout=0.1)
        flood.recv(timeout=5)
        stop = threading.Event()

        def flooding() -> None:
            while not stop.is_set():
                flood.send(wire.packb({"x": 0.0, "who": "flood", "pad": np.zeros(10_000, np.uint8)}))

        t = threading.Thread(target=flooding, daemon=True)
        t.start()
        time.sleep(0.2)
        with PolicyClient(server.url, timeout_s=10) as client:
            for i in range(15):
                assert client.infer_chunk({"x": float(i), "who": "fair"})[0, 0] == i
        stop.set()
        order = list(policy.order)
        first = order.index("fair")
        fair_at = [k for k, w in enumerate(order) if w == "fair"]
        assert len(fair_at) == 15
        gaps = [b - a - 1 for a, b in zip(fair_at, fair_at[1:])]
        assert max(gaps) <= 2, f"flood requests served between two fair ones: {gaps}"
        assert first <= len([w for w in order[:first] if w == "flood"]) + 1
        flood.close()
        t.join(timeout=5)


def test_api_key(echo_server) -> None:
    policy = EchoPolicy()
    with PolicyServer(policy, port=0, api_key="s3cret") as server:
        with pytest.raises(InvalidStatus) as exc:
            WebsocketClientPolicy(host="127.0.0.1", port=server.port)
        assert exc.value.response.status_code == 401
        with pytest.raises(InvalidStatus):
            WebsocketClientPolicy(host="127.0.0.1", port=server.port, api_key="wrong")
        ok = WebsocketClientPolicy(host="127.0.0.1", port=server.port, api_key="s3cret")
        assert ok.infer({"x": 1.0})["actions"][0, 0] == 1.0
        ok._ws.close()
        with PolicyClient(server.url, api_key="s3cret") as ours:
            assert ours.infer_chunk({"x": 2.0})[0, 0] == 2.0
        # health stays open (load balancers); stats need the key
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/healthz", timeout=5) as resp:
            assert resp.status == 200
        with pytest.raises(urllib.error.HTTPError) as http_exc:
            urllib.request.urlopen(f"http://127.0.0.1:{server.port}/stats", timeout=5)
        assert http_exc.value.code == 401
        assert server.stats["refused"] == 3


def test_healthz_reset_and_default_bind(echo_server) -> None:
    server, policy = echo_server
    with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/healthz", timeout=5) as resp:
        assert resp.status == 200 and resp.read() == b"OK\n"
    with PolicyClient(server.url) as client:
        client.reset("stack the blocks")
        assert policy.instructions == ["stack the blocks"]
        with pytest.raises(PolicyServerError, match="unknown __control__"):
            client.request({"__control__": "explode"})
    assert PolicyServer(policy).host == "127.0.0.1"
    assert server._server is not None
    assert {s.getsockname()[0] for s in server._server.sockets} == {"127.0.0.1"}


def test_serve_cli_subprocess() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "policies.serve_cli", "--policy", "constant:value=0.5,horizon=3", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        assert line.startswith("serving ConstantPolicy on ws://127.0.0.1:"), line + proc.stderr.read()
        url = line.split()[3]
        client = WebsocketClientPolicy(host=url)
        np.testing.assert_array_equal(client.infer({"a": 1})["actions"], np.full((3, 7), 0.5, np.float32))
        client._ws.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    bad = subprocess.run([sys.executable, "-m", "policies.serve_cli", "--policy", "nope"], capture_output=True, text=True)
    assert bad.returncode == 2 and "unknown policy 'nope'" in bad.stderr


def test_max_clients_refuses_extra_connections() -> None:
    with PolicyServer(EchoPolicy(), port=0, max_clients=1) as server:
        first = PolicyClient(server.url)
        with pytest.raises(InvalidStatus) as exc:
            PolicyClient(server.url)
        assert exc.value.response.status_code == 503
        assert first.infer_chunk({"x": 1.0})[0, 0] == 1.0
        first.close()
        deadline = time.monotonic() + 5
        while server.stats["active"] and time.monotonic() < deadline:
            time.sleep(0.01)
        with PolicyClient(server.url) as second:  # the slot is free again
            assert second.infer_chunk({"x": 2.0})[0, 0] == 2.0


def test_non_loopback_bind_without_api_key_warns() -> None:
    import warnings

    policy = SinePolicy()
    with pytest.warns(UserWarning, match="without an API key"):
        PolicyServer(policy, host="0.0.0.0")  # constructed only: nothing binds or listens
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        PolicyServer(policy, host="127.0.0.1")
        PolicyServer(policy, host="localhost")
        PolicyServer(policy, host="0.0.0.0", api_key="secret")


def test_default_frame_limit_follows_the_policys_cameras() -> None:
    """`vla serve` sizes its frame limit from the cameras the policy reads; bigger frames are refused unread."""
    from policies.serve_cli import MAX_CAMERA_SIDE, default_message_limit

    class TwoCameras(EchoPolicy):
        image_keys = ("agentview_rgb", "eye_in_hand_rgb")

    limit = default_message_limit(TwoCameras())
    one_frame = 3 * MAX_CAMERA_SIDE**2
    assert 2 * one_frame < limit < 8 * one_frame and limit < wire.DEFAULT_MAX_MESSAGE_BYTES // 8
    assert default_message_limit(EchoPolicy()) == wire.DEFAULT_MAX_MESSAGE_BYTES  # names no cameras
    with PolicyServer(TwoCameras(), port=0, max_message_bytes=limit) as server:
        ok = PolicyClient(server.url)
        img = np.zeros((MAX_CAMERA_SIDE, MAX_CAMERA_SIDE, 3), np.uint8)
        assert ok.infer_chunk({"x": 1.0, "agentview_rgb": img, "eye_in_hand_rgb": img})[0, 0] == 1.0
        big = connect(server.url, compression=None, max_size=None)
        big.recv(timeout=5)
        big.send(wire.packb({"x": 1.0, "img": np.zeros(limit + 1, np.uint8)}))
        with pytest.raises(ConnectionClosedError) as exc:
            big.recv(timeout=5)
        assert exc.value.rcvd is not None and exc.value.rcvd.code == 1009
        ok.close()
