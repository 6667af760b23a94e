"""The VLA policy: a trained checkpoint (model + normalisation + tokenizer + decoder) as a Policy.

Runs the checkpoint's :class:`vla.pipeline.PolicyPipeline` (``self.pipeline``, built by
:meth:`vla.inference.VLAInference.build_pipeline`): input transforms (default instruction,
validate, image convention, resize, normalize, tokenize) -> model -> output transforms
(detokenize, clip, unnormalize). Every observation is checked by the pipeline's ``validate``
step (:func:`vla.validation.validate_observation`): a missing camera, a float image or a NaN
proprio raises a clear :class:`~vla.validation.ObservationError` instead of reaching the
network. ``last_infer_stats()`` holds the decode statistics (``nfe``, ``latency_s``...) and
``timing_s``, the seconds of each pipeline step. Loaded checkpoints are cached per process, so
one worker evaluating several tasks loads the model once; the evaluation runner, the policy
server and the ROS bridge's in-process mode all build this class.

Registers ``checkpoint`` / ``vla`` with :mod:`policies.load`: ``checkpoint:path=DIR`` (or a
bare checkpoint directory) builds a :class:`VLAPolicy`; ``image_flip=rot180`` serves clients
whose images arrive rotated.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from policies.base import Policy
from policies.load import register_policy

_CACHE: dict[tuple[str, str, str], Any] = {}


def load_inference(path: str, decoder: Any = None, device: str = "cpu") -> Any:
    """``VLAInference.from_pretrained`` with a per-process cache keyed by (path, decoder, device)."""
    key = (str(path), repr(decoder), str(device))
    if key not in _CACHE:
        from vla.inference import VLAInference

        _CACHE[key] = VLAInference.from_pretrained(str(path), decoder=decoder, device=device)
    return _CACHE[key]


class VLAPolicy(Policy):
    """Observation -> action chunk ``[H, D]`` with a VLA checkpoint's pipeline."""

    def __init__(
        self,
        path: str | None = None,
        decoder: Any = None,
        device: str = "cpu",
        inference: Any = None,
        image_keys: tuple[str, ...] | None = None,
        image_flip: str = "none",
    ) -> None:
        if inference is None:
            if path is None:
                raise ValueError("VLAPolicy needs a checkpoint path (path=DIR) or an inference object")
            inference = load_inference(path, decoder, device)
        self.inference = inference
        self.path = path
        self.decoder = decoder
        config = inference.config
        self.horizon = int(config.horizon)
        self.action_dim = int(config.action_dim)
        self.image_keys = tuple(image_keys or config.cameras)
        self.proprio_dim = int(config.proprio_dim)
        self.pipeline = inference.build_pipeline(image_flip=image_flip, image_keys=self.image_keys)
        self.instruction = ""
        self._last: dict[str, Any] = {}

    def reset(self, instruction: str = "") -> None:
        self.instruction = instruction
        self._last = {}

    def infer(self, obs: dict[str, Any]) -> np.ndarray:
        actions, timing, info = self.pipeline(obs, instruction=self.instruction)
        self._last = {**info, "timing_s": timing}
        if actions.shape != (self.horizon, self.action_dim):
            raise ValueError(f"VLA returned actions of shape {list(actions.shape)}; expected [{self.horizon}, {self.action_dim}]")
        return actions

    def last_infer_stats(self) -> dict[str, Any]:
        return self._last

    def metadata(self) -> dict[str, Any]:
        return {**super().metadata(), "checkpoint": self.path, "decoder": repr(self.decoder),
                "decoder_options": dict(getattr(self.inference, "decoder_dict", {})),
                "pipeline": [s.name for s in self.pipeline.steps]}


def _checkpoint(path: str, decoder: Any = None, device: str = "cpu", **kw: Any) -> VLAPolicy:
    return VLAPolicy(path=path, decoder=decoder, device=device, **kw)


register_policy("checkpoint", _checkpoint)
register_policy("vla", _checkpoint)
