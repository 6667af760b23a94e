"""Chunk execution: open-loop K of H, ACT temporal ensembling weights, async latency, clipping."""

from __future__ import annotations

import math

import numpy as np
import pytest

from policies.base import Policy
from policies.chunking import (
    ActionClipper,
    AsyncScheduler,
    ChunkingConfig,
    OpenLoopScheduler,
    TemporalEnsembleScheduler,
    ensemble_weights,
)


class StepCodePolicy(Policy):
    """Chunk queried with the observation of step ``s``: ``chunk[i] = 100 * s + i`` in every dim."""

    def __init__(self, horizon: int, action_dim: int = 2, latency_s: float | None = None) -> None:
        self.horizon, self.action_dim = horizon, action_dim
        self.calls: list[int] = []
        self.latency_s = latency_s

    def infer(self, obs):
        s = obs["step"]
        self.calls.append(s)
        return np.repeat((100.0 * s + np.arange(self.horizon))[:, None], self.action_dim, axis=1)

    def last_infer_stats(self):
        return {} if self.latency_s is None else {"latency_s": self.latency_s, "nfe": 3}


def rollout(sched, steps: int) -> list[float]:
    sched.reset()
    return [float(sched.act({"step": t})[0]) for t in range(steps)]


def decode(value: float) -> tuple[int, int]:
    """(observation step, chunk index) of an executed action."""
    s, i = divmod(int(round(value)), 100)
    return s, i


def test_ensemble_weights_are_act_exponential_oldest_first():
    w = ensemble_weights(4, 0.5)
    expected = np.exp(-0.5 * np.arange(4))
    np.testing.assert_allclose(w, expected / expected.sum())
    assert w[0] > w[1] > w[2] > w[3]  # oldest prediction weighs most for m > 0
    np.testing.assert_allclose(ensemble_weights(3, 0.0), [1 / 3] * 3)
    assert math.isclose(ensemble_weights(5, 0.01).sum(), 1.0)


def test_temporal_ensemble_averages_every_prediction_for_the_step():
    pol = StepCodePolicy(horizon=4)
    sched = TemporalEnsembleScheduler(pol, m=0.5)
    out = rollout(sched, 8)
    assert pol.calls == list(range(8))  # queried every step
    for t in range(8):
        starts = [s for s in range(max(0, t - 3), t + 1)]  # chunks still covering t, oldest first
        preds = np.array([100.0 * s + (t - s) for s in starts])
        w = np.exp(-0.5 * np.arange(len(preds)))
        assert out[t] == pytest.approx(float((w * preds).sum() / w.sum()))


def test_temporal_ensemble_query_every():
    pol = StepCodePolicy(horizon=4)
    sched = TemporalEnsembleScheduler(pol, m=0.0, query_every=2)
    out = rollout(sched, 6)
    assert pol.calls == [0, 2, 4]
    # step 3: chunks from 0 (index 3) and 2 (index 1), equal weights
    assert out[3] == pytest.approx((3 + 201) / 2)


def test_open_loop_k_of_h():
    pol = StepCodePolicy(horizon=5)
    sched = OpenLoopScheduler(pol, execute_steps=2)
    out = rollout(sched, 7)
    assert pol.calls == [0, 2, 4, 6]
    assert [decode(v) for v in out] == [(0, 0), (0, 1), (2, 0), (2, 1), (4, 0), (4, 1), (6, 0)]
    assert sched.stats.n_infer == 4


@pytest.mark.parametrize("d", [1, 2, 3])
def test_async_chunk_arrives_after_latency_and_skips_stale_actions(d: int):
    horizon, k = 8, 4
    pol = StepCodePolicy(horizon=horizon)
    sched = AsyncScheduler(pol, execute_steps=k, latency_steps=d)
    out = rollout(sched, 20)
    # first chunk blocking at 0, then one request d steps before each K-step boundary
    assert pol.calls == [0] + [k * j - d for j in range(1, 6)]
    for t, v in enumerate(out):
        s, i = decode(v)
        assert i == t - s, "an action must be the chunk's prediction for the step it executes at"
        if t < k:
            assert s == 0
        else:
            assert i >= d, "the first d actions of a late chunk are in the past and must be skipped"
            assert s == (t // k) * k - d, "the newest chunk is used as soon as it arrives"
    assert all(c.latency_steps == d for c in sched.stats.calls[1:])


def test_async_zero_latency_is_open_loop():
    a = rollout(AsyncScheduler(StepCodePolicy(6), execute_steps=3, latency_steps=0), 13)
    b = rollout(OpenLoopScheduler(StepCodePolicy(6), execute_steps=3), 13)
    assert a == b


def test_async_measured_latency_in_control_steps():
    # 0.12 s at 20 Hz = 2.4 control steps -> 3 steps late
    pol = StepCodePolicy(horizon=10, latency_s=0.12)
    sched = AsyncScheduler(pol, execute_steps=5, latency_steps="measured", control_hz=20.0)
    out = rollout(sched, 16)
    assert [c.latency_steps for c in sched.stats.calls[1:]] == [3, 3, 3]
    assert pol.calls == [0, 2, 7, 12]
    for t, v in enumerate(out):
        s, i = decode(v)
        assert i == t - s
    assert sched.stats.mean_nfe() == 3.0
    assert sched.stats.mean_latency_s() == pytest.approx(0.12)


def test_async_rejects_latency_that_outruns_the_chunk():
    with pytest.raises(ValueError, match="exceeds the horizon"):
        AsyncScheduler(StepCodePolicy(horizon=4), execute_steps=4, latency_steps=2)
    with pytest.raises(ValueError, match="execute_steps"):
        AsyncScheduler(StepCodePolicy(horizon=4), execute_steps=5)


def test_bad_policy_output_is_a_clear_error():
    class NaNPolicy(StepCodePolicy):
        def infer(self, obs):
            out = super().infer(obs)
            out[1, 0] = np.nan
            return out

    with pytest.raises(ValueError, match="non-finite"):
        rollout(OpenLoopScheduler(NaNPolicy(3)), 2)

    class WrongDim(StepCodePolicy):
        def infer(self, obs):
            return np.zeros((self.horizon, 5))

    with pytest.raises(ValueError, match="action_dim 5; expected 2"):
        rollout(OpenLoopScheduler(WrongDim(3)), 1)


def test_clipper_clips_to_limits_and_counts():
    clip = ActionClipper(low=[-1, -1, 0], high=[1, 1, 0.5])
    np.testing.assert_array_equal(clip(np.array([0.5, -2.0, 0.7])), [0.5, -1.0, 0.5])
    np.testing.assert_array_equal(clip(np.array([0.1, 0.2, 0.3])), [0.1, 0.2, 0.3])
    assert clip.clipped_steps == 1


def test_chunking_config_builds_each_mode():
    pol = StepCodePolicy(horizon=4)
    assert isinstance(ChunkingConfig("open_loop", 2).build(pol), OpenLoopScheduler)
    assert isinstance(ChunkingConfig("ensemble").build(pol), TemporalEnsembleScheduler)
    assert isinstance(ChunkingConfig("async", 2, latency_steps=1).build(pol), AsyncScheduler)
    with pytest.raises(ValueError, match="chunking mode"):
        ChunkingConfig("bogus").build(pol)
