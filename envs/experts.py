"""The scripted expert for any env of ``envs``: the tabletop, robosuite-classic or ManiSkill expert.

    expert = make_expert(env, noise=0.0, seed=0)   # expert.act(obs) -> 7-D action

LIBERO has its own collector (``envs.libero.collect``) and expert.
"""

from __future__ import annotations

from typing import Any


def make_expert(env: Any, noise: float = 0.0, seed: int | None = None) -> Any:
    """Scripted expert acting on ``env`` (a tabletop, robosuite-classic or ManiSkill env, or a wrapper of one)."""
    from envs.robosuite.tasks import RobosuiteTaskEnv

    if type(getattr(env, "unwrapped", env)).__name__ == "ManiSkillEnv":  # no import: mani_skill loads torch
        from envs.maniskill.experts import make_maniskill_expert

        return make_maniskill_expert(env, noise=noise, seed=seed)

    if isinstance(getattr(env, "unwrapped", env), RobosuiteTaskEnv):
        from envs.robosuite.experts import make_robosuite_expert

        return make_robosuite_expert(env, noise=noise, seed=seed)
    from envs.tabletop.experts import make_expert as make_tabletop_expert

    return make_tabletop_expert(env, noise=noise, seed=seed)
