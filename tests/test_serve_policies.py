"""Scripted policies (constant / random / replay / sine) and the load_policy(spec) hook."""

from __future__ import annotations

import json

import numpy as np
import pytest

from policies.base import Policy
from policies.load import load_policy, parse_kwargs, register_policy, registered_policies
from policies.simple import ConstantPolicy, RandomPolicy, ReplayPolicy, SinePolicy


def test_constant_and_sine_values() -> None:
    c = ConstantPolicy(value=[0.1, 0, 0, 0, 0, 0, -1], horizon=3)
    out = c.infer({})
    assert out.shape == (3, 7) and out.dtype == np.float32
    np.testing.assert_allclose(out[2], [0.1, 0, 0, 0, 0, 0, -1])
    s = SinePolicy(amplitude=2.0, period=4, phase=0.0, offset=1.0, horizon=2, action_dim=2)
    np.testing.assert_allclose(s.infer({}), [[1.0, 1.0], [3.0, 3.0]], atol=1e-6)  # t = 0, 1
    np.testing.assert_allclose(s.infer({}), [[1.0, 1.0], [-1.0, -1.0]], atol=1e-6)  # t = 2, 3
    s.reset()
    np.testing.assert_allclose(s.infer({})[0], [1.0, 1.0], atol=1e-6)


def test_random_is_bounded_and_reproducible() -> None:
    r = RandomPolicy(low=[-1, -2, 0], high=[1, 2, 0.5], horizon=50, action_dim=3, seed=3)
    a = r.infer({})
    assert np.all(a >= [-1, -2, 0]) and np.all(a <= [1, 2, 0.5]) and a.std(axis=0).min() > 0.1
    r.reset()
    np.testing.assert_array_equal(r.infer({}), a)
    with pytest.raises(ValueError, match="high must be >= low"):
        RandomPolicy(low=1, high=0)


def test_replay_from_files(tmp_path) -> None:
    actions = np.arange(15, dtype=np.float32).reshape(5, 3)
    np.save(tmp_path / "a.npy", actions)
    np.savez(tmp_path / "a.npz", actions=actions)
    (tmp_path / "a.json").write_text(json.dumps({"actions": actions.tolist()}))
    for name in ("a.npy", "a.npz", "a.json"):
        p = ReplayPolicy(tmp_path / name, horizon=2)
        np.testing.assert_array_equal(p.infer({}), actions[0:2])
        np.testing.assert_array_equal(p.infer({}), actions[2:4])
        np.testing.assert_array_equal(p.infer({}), actions[[4, 4]])  # holds the last action
    loop = ReplayPolicy(actions, horizon=4, loop=True)
    loop.infer({})
    np.testing.assert_array_equal(loop.infer({}), actions[[4, 0, 1, 2]])
    with pytest.raises(FileNotFoundError):
        ReplayPolicy(tmp_path / "missing.npy")
    with pytest.raises(ValueError, match=r"\[T, D\]"):
        ReplayPolicy(np.zeros(4))


def test_load_policy_specs(tmp_path) -> None:
    assert {"constant", "random", "replay", "sine", "zero"} <= set(registered_policies())
    p = load_policy("constant:value=[0.1,0,0,0,0,0,1],horizon=4")
    assert isinstance(p, ConstantPolicy) and p.infer({}).shape == (4, 7) and p.value[6] == 1
    np.save(tmp_path / "demo.npy", np.ones((3, 7), np.float32))
    assert isinstance(load_policy(f"replay:actions={tmp_path / 'demo.npy'}"), ReplayPolicy)
    assert isinstance(load_policy("policies.simple:SinePolicy:period=8"), SinePolicy)
    assert load_policy("random", seed=5).seed == 5
    assert parse_kwargs("a=1,b=[1, 2],c=x y") == {"a": 1, "b": [1, 2], "c": "x y"}
    with pytest.raises(ValueError, match="unknown policy 'nope'"):
        load_policy("nope")
    with pytest.raises(ValueError, match="bad arguments"):
        load_policy("constant:colour=1")
    with pytest.raises(ValueError, match="key=value"):
        load_policy("constant:0.5")

    class Marker(ConstantPolicy):
        pass

    register_policy("test-marker", lambda path="": Marker(value=len(path)))
    try:
        got = load_policy("test-marker:path=abc")
        assert isinstance(got, Marker) and isinstance(got, Policy) and got.value[0] == 3
        assert "test-marker" in registered_policies()
    finally:
        from policies import load

        load._REGISTRY.pop("test-marker")
