"""Action tokenizer: per-dimension normalization from dataset statistics and uniform binning.

* ``q99`` normalization (OpenVLA): ``x -> 2 (x - q01) / (q99 - q01) - 1`` clipped to [-1, 1];
  ``mean_std``: ``x -> (x - mean) / (3 std)`` clipped to [-1, 1] (3 sigma covers the bins).
* ``n_bins`` uniform bins on [-1, 1]; a bin decodes to its centre, so the round trip error of
  an in-range value is at most half a bin.
* Binary gripper (optional): the last dimension is -1 / +1 and takes bin 0 or ``n_bins - 1``.

Statistics (``q01, q99, mean, std, min, max`` per dimension) are saved with the checkpoint as
``norm_stats.json`` together with the proprio mean / std.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

STAT_KEYS = ("q01", "q99", "mean", "std", "min", "max")


def compute_stats(x: np.ndarray) -> dict[str, list[float]]:
    """Per-dimension statistics of ``x [N, D]``."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError(f"actions: expected a non-empty [N, D] array, got shape {x.shape}")
    return {
        "q01": np.quantile(x, 0.01, axis=0).tolist(),
        "q99": np.quantile(x, 0.99, axis=0).tolist(),
        "mean": x.mean(0).tolist(),
        "std": x.std(0).tolist(),
        "min": x.min(0).tolist(),
        "max": x.max(0).tolist(),
    }


@dataclass
class ActionTokenizer:
    """Maps actions (env units) <-> normalized [-1, 1] values <-> bin indices."""

    stats: dict[str, list[float]]
    n_bins: int = 256
    normalization: str = "q99"
    binary_gripper: bool = False
    proprio_stats: dict[str, list[float]] | None = None

    def __post_init__(self) -> None:
        missing = [k for k in STAT_KEYS if k not in self.stats]
        if missing:
            raise ValueError(f"stats: missing keys {missing} (expected {list(STAT_KEYS)})")
        self._arr = {k: np.asarray(self.stats[k], dtype=np.float64) for k in STAT_KEYS}
        if self.normalization == "q99":
            lo, hi = self._arr["q01"], self._arr["q99"]
            self._center = (hi + lo) / 2
            self._scale = (hi - lo) / 2
        elif self.normalization == "mean_std":
            self._center = self._arr["mean"]
            self._scale = 3 * self._arr["std"]
        else:
            raise ValueError(f"normalization: expected 'q99' or 'mean_std', got {self.normalization!r}")
        # a constant dimension (e.g. LIBERO's held orientation: rotation always 0) normalizes to 0 and
        # decodes to its constant exactly: the bin holding 0 has centre +1/n_bins, which would
        # otherwise become a steady rotation command of that size on every step
        self._constant = self._scale < 1e-8
        self._scale = np.where(self._constant, 1.0, self._scale)
        self.edges = np.linspace(-1.0, 1.0, self.n_bins + 1)
        self.centers = (self.edges[:-1] + self.edges[1:]) / 2

    @property
    def action_dim(self) -> int:
        return len(self.stats["q01"])

    @property
    def bin_width(self) -> float:
        """Width of one bin in normalized units (2 / n_bins)."""
        return 2.0 / self.n_bins

    @classmethod
    def fit(cls, actions: np.ndarray, proprio: np.ndarray | None = None, **kw: Any) -> ActionTokenizer:
        """Statistics from ``actions [N, D]`` (and ``proprio [N, P]``)."""
        ps = compute_stats(proprio) if proprio is not None else None
        return cls(compute_stats(actions), proprio_stats=ps, **kw)

    def _check(self, a: np.ndarray) -> np.ndarray:
        a = np.asarray(a, dtype=np.float64)
        if a.shape[-1] != self.action_dim:
            raise ValueError(f"actions: expected last dimension {self.action_dim}, got shape {a.shape}")
        return a

    def normalize(self, a: np.ndarray) -> np.ndarray:
        """Env units -> [-1, 1] (clipped)."""
        a = self._check(a)
        out = np.clip((a - self._center) / self._scale, -1.0, 1.0)
        if self.binary_gripper:
            out[..., -1] = np.where(a[..., -1] > 0, 1.0, -1.0)
        return out

    def denormalize(self, z: np.ndarray) -> np.ndarray:
        """[-1, 1] -> env units."""
        z = np.clip(self._check(z), -1.0, 1.0)
        out = z * self._scale + self._center
        out[..., self._constant] = self._center[self._constant]
        if self.binary_gripper:
            out[..., -1] = np.where(z[..., -1] > 0, 1.0, -1.0)
        return out

    def to_bins(self, a: np.ndarray) -> np.ndarray:
        """Env units -> bin indices (int64, same shape)."""
        z = self.normalize(a)
        bins = np.clip(np.digitize(z, self.edges[1:-1]), 0, self.n_bins - 1).astype(np.int64)
        if self.binary_gripper:
            bins[..., -1] = np.where(z[..., -1] > 0, self.n_bins - 1, 0)
        return bins

    def bin_values(self, bins: np.ndarray) -> np.ndarray:
        """Bin indices -> normalized values in [-1, 1] (bin centres, float64)."""
        b = np.asarray(bins)
        if b.size and (b.min() < 0 or b.max() >= self.n_bins):
            raise ValueError(f"bins: expected indices in [0, {self.n_bins - 1}], got [{b.min()}, {b.max()}]")
        return self.centers[b]

    def fractional_bin_values(self, bins: np.ndarray) -> np.ndarray:
        """Fractional bin indices -> normalized values (linear between centres; integers give the centres)."""
        b = np.asarray(bins, dtype=np.float64)
        if b.size and (b.min() < 0 or b.max() > self.n_bins - 1):
            raise ValueError(f"bins: expected values in [0, {self.n_bins - 1}], got [{b.min()}, {b.max()}]")
        return -1.0 + (b + 0.5) * self.bin_width

    def from_bins(self, bins: np.ndarray) -> np.ndarray:
        """Bin indices -> env units (bin centres)."""
        return self.denormalize(self.bin_values(bins))

    def head_values(self, out: np.ndarray, head: str) -> np.ndarray:
        """A head's decoded output -> normalized values float64: an ``l1`` head's values as they are,
        fractional bins (float, the ``mean`` readout) linear between centres, integer bins their centres."""
        out = np.asarray(out)
        if head == "l1":
            return out.astype(np.float64)
        if np.issubdtype(out.dtype, np.floating):
            return self.fractional_bin_values(out)
        return self.bin_values(out)

    def normalize_proprio(self, p: np.ndarray) -> np.ndarray:
        """Proprio -> zero mean / unit std with the dataset statistics (identity without them)."""
        p = np.asarray(p, dtype=np.float64)
        if self.proprio_stats is None:
            return p
        mean = np.asarray(self.proprio_stats["mean"])
        std = np.asarray(self.proprio_stats["std"])
        return (p - mean) / np.where(std < 1e-6, 1.0, std)

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.stats,
            "proprio": self.proprio_stats,
            "n_bins": self.n_bins,
            "normalization": self.normalization,
            "binary_gripper": self.binary_gripper,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ActionTokenizer:
        return cls(d["action"], n_bins=int(d["n_bins"]), normalization=d["normalization"],
                   binary_gripper=bool(d["binary_gripper"]), proprio_stats=d.get("proprio"))

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2))

    @classmethod
    def load(cls, path: str | Path) -> ActionTokenizer:
        return cls.from_dict(json.loads(Path(path).read_text()))
