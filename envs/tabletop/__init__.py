"""The embedded default benchmark: ten language-conditioned Panda tasks on a table (robosuite).

Modules: ``objects`` (primitive-shape objects), ``scene`` (the robosuite world), ``render``
(fast offscreen cameras), ``tasks`` (layouts, instructions, success predicates), ``env``
(gymnasium env), ``experts`` (scripted experts), ``suite`` (evaluation protocol).
Importing this package does not import robosuite; the submodules do.
"""

from envs.registry import TABLETOP_MAX_STEPS, TABLETOP_SUITE, TABLETOP_TASKS

__all__ = ["TABLETOP_MAX_STEPS", "TABLETOP_SUITE", "TABLETOP_TASKS"]
