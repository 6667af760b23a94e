"""Action tokenizer: round trip within half a bin, binary gripper, statistics saved, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from vla.action_tokenizer import ActionTokenizer


@pytest.fixture
def actions() -> np.ndarray:
    rng = np.random.default_rng(0)
    a = rng.normal(0, [0.1, 0.2, 0.3, 0.05, 0.05, 0.5, 1.0], size=(2000, 7))
    a[:, 6] = np.sign(a[:, 6])
    return a


@pytest.mark.parametrize("normalization", ["q99", "mean_std"])
@pytest.mark.parametrize("n_bins", [256, 32])
def test_round_trip_within_half_a_bin(actions: np.ndarray, normalization: str, n_bins: int) -> None:
    tok = ActionTokenizer.fit(actions, n_bins=n_bins, normalization=normalization)
    z = tok.normalize(actions)
    inside = np.abs((actions - tok._center) / tok._scale) <= 1.0  # values inside the normalization bounds
    assert inside.mean() > 0.9
    back = tok.from_bins(tok.to_bins(actions))
    err_norm = np.abs(tok.normalize(back) - z)[inside]
    assert err_norm.max() <= tok.bin_width / 2 + 1e-9
    half_bin_env = tok.bin_width / 2 * np.asarray(tok._scale)
    assert np.all((np.abs(back - actions) <= half_bin_env + 1e-9)[inside])
    # outside the bounds values clip to the edge bins
    bins = tok.to_bins(actions)
    assert bins.min() >= 0 and bins.max() <= n_bins - 1


def test_q99_bounds_map_to_edges(actions: np.ndarray) -> None:
    tok = ActionTokenizer.fit(actions)
    z = tok.normalize(np.array([tok.stats["q01"], tok.stats["q99"]]))
    np.testing.assert_allclose(z, [[-1] * 7, [1] * 7], atol=1e-12)


@pytest.mark.parametrize("normalization", ["q99", "mean_std"])
@pytest.mark.parametrize("n_bins", [256, 32])
def test_constant_dimension_decodes_to_its_constant(actions: np.ndarray, normalization: str, n_bins: int) -> None:
    # LIBERO demos hold the orientation: rotation actions are always 0. Every bin must decode to 0
    # there (the bin holding 0 has centre 1/n_bins: a steady rotation command if passed through)
    a = actions.copy()
    a[:, 3:6] = [0.0, 0.0, 0.25]
    tok = ActionTokenizer.fit(a, n_bins=n_bins, normalization=normalization)
    np.testing.assert_array_equal(tok.normalize(a)[:, 3:6], 0.0)
    for bins in (tok.to_bins(a), np.zeros((5, 7), np.int64), np.full((5, 7), n_bins - 1)):
        np.testing.assert_array_equal(tok.from_bins(bins)[:, 3:6], np.broadcast_to([0.0, 0.0, 0.25], (len(bins), 3)))
    z = np.random.default_rng(1).uniform(-1, 1, size=(50, 7))
    back = tok.denormalize(z)
    np.testing.assert_array_equal(back[:, 3:6], np.broadcast_to([0.0, 0.0, 0.25], (50, 3)))
    np.testing.assert_allclose(back[:, :3], z[:, :3] * tok._scale[:3] + tok._center[:3])  # the others as before


def test_binary_gripper(actions: np.ndarray) -> None:
    tok = ActionTokenizer.fit(actions, n_bins=64, binary_gripper=True)
    bins = tok.to_bins(actions)
    assert set(np.unique(bins[:, -1]).tolist()) <= {0, 63}
    back = tok.from_bins(bins)
    np.testing.assert_array_equal(back[:, -1], np.where(actions[:, -1] > 0, 1.0, -1.0))


def test_save_load(tmp_path, actions: np.ndarray) -> None:
    proprio = np.random.default_rng(1).normal(size=(2000, 8))
    tok = ActionTokenizer.fit(actions, proprio, n_bins=100, normalization="mean_std")
    tok.save(tmp_path / "norm_stats.json")
    tok2 = ActionTokenizer.load(tmp_path / "norm_stats.json")
    np.testing.assert_array_equal(tok.to_bins(actions), tok2.to_bins(actions))
    np.testing.assert_allclose(tok2.normalize_proprio(proprio).mean(0), 0, atol=1e-9)


def test_bad_input(actions: np.ndarray) -> None:
    tok = ActionTokenizer.fit(actions)
    with pytest.raises(ValueError, match="actions: expected last dimension 7"):
        tok.to_bins(np.zeros((3, 6)))
    with pytest.raises(ValueError, match="bins: expected indices in"):
        tok.from_bins(np.full((1, 7), 256))
    with pytest.raises(ValueError, match="actions: expected a non-empty"):
        ActionTokenizer.fit(np.zeros((0, 7)))


def test_expected_bins_window_keep_and_fractional_values() -> None:
    import torch

    from vla.readout import expected_bins, split_readout

    probs = torch.tensor([[[0.0, 0.5, 0.5, 0.0], [0.4, 0.0, 0.0, 0.6], [0.0, 0.0, 1.0, 0.0]]])
    bins = torch.tensor([[1, 3, 2]])
    torch.testing.assert_close(expected_bins(probs, bins), torch.tensor([[1.5, 1.8, 2.0]]))
    # window 1: the far mode of the two-mode position does not count
    torch.testing.assert_close(expected_bins(probs, bins, window=1), torch.tensor([[1.5, 3.0, 2.0]]))
    keep = torch.tensor([True, False, False])  # e.g. a binary gripper position
    torch.testing.assert_close(expected_bins(probs, bins, keep=keep), torch.tensor([[1.0, 1.8, 2.0]]))
    tok = ActionTokenizer.fit(np.random.default_rng(0).normal(size=(100, 2)), n_bins=4)
    np.testing.assert_allclose(tok.fractional_bin_values(np.array([0.0, 1.5, 3.0])), [-0.75, 0.0, 0.75])
    np.testing.assert_allclose(tok.fractional_bin_values(np.arange(4.0)), tok.bin_values(np.arange(4)))
    with pytest.raises(ValueError, match="bins"):
        tok.fractional_bin_values(np.array([3.5]))
    assert split_readout({"steps": 1, "readout": "mean", "readout_window": 2})[0] == {"steps": 1}


def test_head_values_per_head_and_output_kind() -> None:
    tok = ActionTokenizer.fit(np.random.default_rng(0).normal(size=(100, 2)), n_bins=4)
    np.testing.assert_allclose(tok.head_values(np.array([[0, 3]]), "diffusion"), [[-0.75, 0.75]])
    np.testing.assert_allclose(tok.head_values(np.array([[1.5, 3.0]]), "diffusion"), [[0.0, 0.75]])
    np.testing.assert_allclose(tok.head_values(np.array([[0.3, -0.2]], dtype=np.float32), "l1"), [[0.3, -0.2]],
                               rtol=1e-6)
    assert tok.head_values(np.array([[2]]), "ar").dtype == np.float64
