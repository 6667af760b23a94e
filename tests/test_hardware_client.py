"""Our policy client against a real server on 127.0.0.1: timeouts, reconnects, bridge action sources."""

from __future__ import annotations

import socket
import time
from typing import Any

import numpy as np
import pytest

from hardware.action_source import LocalSource, RemoteSource, make_source
from hardware.bridge_config import PolicySourceConfig
from hardware.client import PolicyClient
from policies.base import Policy
from policies.load import load_policy
from policies.server import PolicyServer
from policies.simple import SinePolicy


class SleepyPolicy(Policy):
    horizon, action_dim = 1, 2

    def infer(self, obs: dict[str, Any]) -> np.ndarray:
        time.sleep(float(obs.get("sleep", 0.0)))
        return np.array([[float(obs.get("x", 0.0)), 1.0]], np.float32)


def test_timeout_drops_the_link_and_next_request_reconnects() -> None:
    with PolicyServer(SleepyPolicy(), port=0) as server:
        client = PolicyClient(server.url, timeout_s=0.2)
        with pytest.raises(TimeoutError):
            client.infer({"sleep": 0.5, "x": 1.0})
        assert not client.connected
        time.sleep(0.4)  # the slow request finishes on the server
        # the late answer to the slow request must not be taken for this one
        np.testing.assert_array_equal(client.infer_chunk({"x": 2.0}), [[2.0, 1.0]])
        assert client.last_rtt_ms > 0 and "infer_ms" in client.last_server_timing
        client.close()


def test_reconnects_after_server_restart() -> None:
    policy = SleepyPolicy()
    server = PolicyServer(policy, port=0).start()
    port = server.port
    client = PolicyClient(server.url, timeout_s=2)
    assert client.infer_chunk({"x": 1.0})[0, 0] == 1.0
    server.stop()
    server2 = PolicyServer(policy, port=port).start()
    try:
        assert client.infer_chunk({"x": 3.0})[0, 0] == 3.0  # link dropped: reconnect once, transparently
    finally:
        client.close()
        server2.stop()


def test_connect_refused_is_a_clear_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(OSError):
        PolicyClient(f"127.0.0.1:{port}", timeout_s=1)


def test_action_sources() -> None:
    with PolicyServer(SinePolicy(period=4, horizon=2), port=0) as server:
        remote = make_source(PolicySourceConfig(server=server.url))
        assert isinstance(remote, RemoteSource) and "server ws://127.0.0.1" in remote.describe()
        first = remote.infer({"x": 1})
        remote.reset("again")  # our server resets the policy
        np.testing.assert_allclose(remote.infer({"x": 1}), first)
        remote.close()
    local = make_source(PolicySourceConfig(local="constant:value=0.5,horizon=2"), load_policy=load_policy)
    assert isinstance(local, LocalSource) and local.infer({}).shape == (2, 7)
    with pytest.raises(ValueError, match="in-process policy needs the policy stack"):
        make_source(PolicySourceConfig(local="constant:value=0.5,horizon=2"))  # hardware/ alone: no loader
    with pytest.raises(ValueError, match="VLA_TEST_UNSET_KEY"):
        make_source(PolicySourceConfig(server="ws://127.0.0.1:1", api_key_env="VLA_TEST_UNSET_KEY"))
