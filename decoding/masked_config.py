"""A masked-diffusion decoder as pieces (:class:`MaskedDecoder`) and as a plain dict (:class:`MaskedDecodeConfig`).

:class:`MaskedDecoder` is what the decoding loop runs: one piece per slot (``decoding/pieces.py``),
each owning only its own parameters. :class:`MaskedDecodeConfig` is its flat, JSON-ready form,
the one CLI flags, checkpoints, presets and reports use: every key of every piece, validated,
with the piece kinds chosen by name. The two convert exactly::

    dec = MaskedDecoder(commit=Threshold(0.9), block=FixedBlocks(32))
    MaskedDecoder.from_dict(dec.to_dict()) == dec
    MaskedDecodeConfig.from_dict(d).decoder().to_dict()   # d's keys that the chosen pieces use
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from .pieces import (
    PIECES,
    Block,
    Cache,
    Commit,
    Cosine,
    NoRemask,
    Piece,
    PrefixCache,
    ProbScore,
    Remask,
    Sampling,
    Schedule,
    Score,
    SingleBlock,
    TopK,
)

SLOTS = ("schedule", "score", "sampling", "commit", "remask", "block", "cache")


@dataclass
class MaskedDecodeConfig:
    """The flat dict form of a decoder: every piece's parameters, each piece chosen by name."""

    steps: int = 12
    schedule: str = "cosine"  # linear | cosine
    score: str = "prob"  # prob | margin | entropy | random
    gumbel_temperature: float = 0.0  # tau of MaskGIT's annealed noise tau * (1 - t/T)
    temperature: float = 0.0  # token choice: 0 = argmax
    top_k: int = 0
    top_p: float = 1.0
    commit: str = "topk"  # topk | threshold | deadline | factor | learned | localleap | ccd
    threshold: float = 0.9
    factor: float = 1.0
    learned_filter: Any = None  # path to a saved filter, or a CommitFilter
    learned_threshold: float = 0.96
    anchor_threshold: float = 0.9
    relaxed_threshold: float = 0.7
    radius: int = 2
    ccd_adaptive: bool = True
    ccd_buffer: int = 0  # 0: twice the schedule's budget
    remask: str = "none"  # none | ddvla_code | ddvla_paper | remdm
    remask_low: float = 0.1
    remask_high: float = 0.5
    remask_delta: float = 0.4
    max_remasks: int = 2
    remdm_schedule: str = "cap"  # cap | rescale | conf
    remdm_eta: float = 0.05
    block: str = "single"  # single | fixed | adaptive
    block_size: int = 32
    delimiter_ids: tuple[int, ...] = field(default_factory=tuple)
    adaptive_delta: float = 0.3
    adaptive_window: float = 0.25
    cache: str = "prefix"  # none | prefix | dual (used only when the model supports it)
    #: models whose cache is not exact (bidirectional prefix): 0 decodes them without a cache
    #: (exact, with a warning); N > 0 opts into Fast-dLLM's approximate cache, refreshed by a
    #: full pass every N steps of a block
    cache_refresh: int = 0

    def __post_init__(self) -> None:
        self.delimiter_ids = tuple(int(d) for d in self.delimiter_ids)
        for slot, kinds in PIECES.items():
            value = getattr(self, slot)
            if value not in kinds:
                raise ValueError(f"{slot}: expected one of {tuple(kinds)}, got {value!r}")
        if self.steps < 1:
            raise ValueError(f"steps: expected >= 1, got {self.steps}")
        if self.cache_refresh < 0:
            raise ValueError(f"cache_refresh: expected >= 0, got {self.cache_refresh}")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MaskedDecodeConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"decoder config: unknown keys {sorted(unknown)}; expected some of {sorted(known)}")
        return cls(**d)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["delimiter_ids"] = list(self.delimiter_ids)
        if d["learned_filter"] is not None and not isinstance(d["learned_filter"], str):
            d["learned_filter"] = "<in-memory>"
        return d

    def decoder(self) -> MaskedDecoder:
        """The pieces this config names, each with its own parameters."""
        flat = {f.name: getattr(self, f.name) for f in fields(self)}
        pieces = {slot: PIECES[slot][getattr(self, slot)].from_flat(flat) for slot in PIECES}
        return MaskedDecoder(sampling=Sampling.from_flat(flat), **pieces)


@dataclass(frozen=True)
class MaskedDecoder:
    """A masked-diffusion decoder: one piece per slot, composed by ``masked_decode``'s loop."""

    schedule: Schedule = field(default_factory=Cosine)
    score: Score = field(default_factory=ProbScore)
    sampling: Sampling = field(default_factory=Sampling)
    commit: Commit = field(default_factory=TopK)
    remask: Remask | NoRemask = field(default_factory=NoRemask)
    block: Block = field(default_factory=SingleBlock)
    cache: Cache = field(default_factory=PrefixCache)

    def __post_init__(self) -> None:
        for slot in SLOTS:
            piece = getattr(self, slot)
            expected = (Sampling,) if slot == "sampling" else tuple(PIECES[slot].values())
            if not isinstance(piece, expected):
                names = ", ".join(c.__name__ for c in expected)
                raise TypeError(f"{slot}: expected one of {names}, got {type(piece).__name__}")

    @property
    def pieces(self) -> dict[str, Piece]:
        return {slot: getattr(self, slot) for slot in SLOTS}

    def to_dict(self) -> dict[str, Any]:
        """The flat dict form: each piece's kind and its own parameters (nothing a piece does not use)."""
        out: dict[str, Any] = {}
        for piece in self.pieces.values():
            out.update(piece.to_flat())
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MaskedDecoder:
        """From the flat form (any :class:`MaskedDecodeConfig` keys; missing ones take defaults)."""
        return MaskedDecodeConfig.from_dict(dict(d)).decoder()


def as_decoder(config: MaskedDecoder | MaskedDecodeConfig | dict[str, Any] | None) -> MaskedDecoder:
    """Whatever names a decoder (pieces, the flat config, its dict, or None for the default) -> pieces."""
    if isinstance(config, MaskedDecoder):
        return config
    if isinstance(config, MaskedDecodeConfig):
        return config.decoder()
    return MaskedDecodeConfig.from_dict(dict(config or {})).decoder()
