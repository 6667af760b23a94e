"""The VLA policy: a trained checkpoint (model + normalisation + tokenizer + decoder) as a Policy.

Wraps :class:`vla.inference.VLAInference` (``from_pretrained(path, decoder, device)``,
``predict(obs) -> (actions [H, D] in env units, {"nfe", "latency_s"})``). Every observation
is checked first (:func:`policies.observation.validate_observation`): a missing camera, a
float image or a NaN proprio raises a clear :class:`~policies.observation.ObservationError`
instead of reaching the network. Loaded checkpoints are cached per process, so one worker
evaluating several tasks loads the model once.

Registers ``checkpoint`` / ``vla`` with :mod:`policies.load`: ``checkpoint:path=DIR`` (or a
bare checkpoint directory) builds a :class:`VLAPolicy`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from policies.base import Policy
from policies.load import register_policy
from policies.observation import DEFAULT_IMAGE_KEYS, validate_observation

_CACHE: dict[tuple[str, str, str], Any] = {}


def load_inference(path: str, decoder: Any = None, device: str = "cpu") -> Any:
    """``VLAInference.from_pretrained`` with a per-process cache keyed by (path, decoder, device)."""
    key = (str(path), repr(decoder), str(device))
    if key not in _CACHE:
        from vla.inference import VLAInference

        _CACHE[key] = VLAInference.from_pretrained(str(path), decoder=decoder, device=device)
    return _CACHE[key]


class VLAPolicy(Policy):
    """Observation -> action chunk ``[H, D]`` with a VLA checkpoint."""

    def __init__(
        self,
        path: str | None = None,
        decoder: Any = None,
        device: str = "cpu",
        inference: Any = None,
        image_keys: tuple[str, ...] | None = None,
    ) -> None:
        if inference is None:
            if path is None:
                raise ValueError("VLAPolicy needs a checkpoint path (path=DIR) or an inference object")
            inference = load_inference(path, decoder, device)
        self.inference = inference
        self.path = path
        self.decoder = decoder
        self.horizon = int(inference.horizon)
        self.action_dim = int(inference.action_dim)
        config = getattr(inference, "config", None)
        keys = image_keys or getattr(inference, "image_keys", None) or getattr(config, "cameras", None) or DEFAULT_IMAGE_KEYS
        self.image_keys = tuple(keys)
        self.proprio_dim = int(getattr(inference, "proprio_dim", None) or getattr(config, "proprio_dim", None) or 8)
        self.instruction = ""
        self._last: dict[str, Any] = {}

    def reset(self, instruction: str = "") -> None:
        self.instruction = instruction
        self._last = {}
        reset = getattr(self.inference, "reset", None)
        if callable(reset):
            reset()

    def infer(self, obs: dict[str, Any]) -> np.ndarray:
        validate_observation(obs, self.image_keys, self.proprio_dim)
        if not obs.get("instruction"):
            obs = {**obs, "instruction": self.instruction}
        actions, info = self.inference.predict(obs)
        self._last = dict(info or {})
        actions = np.asarray(actions, dtype=np.float32)
        if actions.shape != (self.horizon, self.action_dim):
            raise ValueError(f"VLA returned actions of shape {list(actions.shape)}; expected [{self.horizon}, {self.action_dim}]")
        return actions

    def last_infer_stats(self) -> dict[str, Any]:
        return self._last

    def metadata(self) -> dict[str, Any]:
        return {**super().metadata(), "checkpoint": self.path, "decoder": repr(self.decoder)}


def _checkpoint(path: str, decoder: Any = None, device: str = "cpu", **kw: Any) -> VLAPolicy:
    return VLAPolicy(path=path, decoder=decoder, device=device, **kw)


register_policy("checkpoint", _checkpoint)
register_policy("vla", _checkpoint)
