"""The tabletop suite's scripted experts as a :class:`~policies.base.Policy`.

The experts (``envs/tabletop/experts.py``) read privileged simulator state from the env they
were built on and return one 7-D action per call, so :class:`ExpertPolicy` has horizon 1 and
must run on the same env the runner steps. Observations are still checked (the same checks as
a VLA policy), so a broken observation pipeline shows up as an errored episode with any policy.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from policies.base import Policy
from policies.observation import validate_observation


class ExpertPolicy(Policy):
    """Scripted expert for ``task`` acting on ``env`` (a ``TabletopEnv`` or a wrapper of one)."""

    horizon = 1
    action_dim = 7

    def __init__(self, env: Any, task: str = "", noise: float = 0.0, seed: int | None = 0, validate: bool = True) -> None:
        from envs.experts import make_expert

        self.env = env
        self.task = task
        self.noise = float(noise)
        self.expert = make_expert(env, noise=self.noise, seed=seed)
        base = getattr(env, "unwrapped", env)
        cams = getattr(base, "cameras", ("agentview", "eye_in_hand"))
        self.image_keys = tuple(f"{c}_rgb" for c in cams)
        self.validate = validate

    def reset(self, instruction: str = "") -> None:
        self.expert.reset()

    def reseed(self, seed: int) -> None:
        """Per-episode noise seed (the runner calls this with the episode seed)."""
        self.expert.rng = np.random.default_rng(seed)

    def infer(self, obs: dict[str, Any]) -> np.ndarray:
        if self.validate:
            validate_observation(obs, self.image_keys, proprio_dim=8)
        return np.asarray(self.expert.act(obs), dtype=np.float32)[None, :]

    def metadata(self) -> dict[str, Any]:
        return {**super().metadata(), "expert": type(self.expert).__name__, "noise": self.noise}
