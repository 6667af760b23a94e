"""robosuite's classic tasks (Lift, Stack, PickPlaceCan) behind the project's env interface.

``RobosuiteTaskEnv`` wraps one stock robosuite 1.4 environment with the conventions of
``envs.tabletop.env.TabletopEnv`` (both are ``envs.base_env.RenderedSimEnv``: spaces, step tail,
render, close and proprio are shared): observation dict ``agentview_rgb`` / ``eye_in_hand_rgb`` (uint8 ``[H, W, 3]``, upright; only the cameras asked for), ``proprio`` (float32 ``[8]``: eef
position 3, eef axis-angle 3, gripper finger qpos 2) and ``instruction``; 7-D OSC_POSE delta
actions in ``[-1, 1]`` (gripper -1 open / +1 closed, 20 Hz); reward 1 on success,
``terminated`` at success (robosuite's ``_check_success()``), ``truncated`` at ``max_steps``;
``info["success"]``, ``info["task"]``, ``info["instruction"]``.

Episodes: ``reset(options={"init_state_index": i})`` starts the task's fixed initial state
``i``, i.e. robosuite's own reset (object placement sampler, robot joint noise) run under the
episode seed ``2_000_000 + 10_000 * task_index + i`` (disjoint from the tabletop seeds);
``reset(seed=s)`` runs it under seed ``s``; ``reset()`` draws the seed from the env's generator.
robosuite samples from numpy's global generator, so the env seeds it for the duration of the
call and restores the caller's state afterwards.

Cameras are drawn with the tabletop suite's fast renderer (``envs.tabletop.render``: robot
collision meshes, no shadows), which returns upright frames; robosuite's own offscreen
renderer (upside-down OpenGL frames, full visual meshes) is not used, so no flip is needed.

Registration (``register_robosuite``, called by ``import envs``) adds the suite
``robosuite-classic`` and the gymnasium ids ``vla/Robosuite-<Task>-v0`` without importing
robosuite: the simulator loads when an env is built.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

from envs.base_env import CAMERAS, CONTROL_FREQ, RenderedSimEnv
from envs.object_poses import ObjectPoses
from envs.protocol import EvalProtocol
from envs.registry import GYM_NAMESPACE, NUM_INIT_STATES, SUITE_ALIASES, TaskSpec, register_suite

ROBOSUITE_SUITE = "robosuite-classic"
#: task name -> robosuite environment name, in suite order
ROBOSUITE_ENV_NAMES = {"Lift": "Lift", "Stack": "Stack", "PickPlaceCan": "PickPlaceCan"}
ROBOSUITE_TASKS = tuple(ROBOSUITE_ENV_NAMES)
ROBOSUITE_MAX_STEPS = {"Lift": 200, "Stack": 300, "PickPlaceCan": 400}
INSTRUCTIONS = {
    "Lift": "lift the red cube",
    "Stack": "stack the red cube on the green cube",
    "PickPlaceCan": "put the can in its bin",
}
INIT_SEED_BASE = 2_000_000
MODEL_SEED = 0  # numpy seed while the model is built (robosuite samples the Lift cube's size then)

__all__ = [
    "CAMERAS", "INSTRUCTIONS", "ROBOSUITE_MAX_STEPS", "ROBOSUITE_SUITE", "ROBOSUITE_TASKS",
    "RobosuiteScene", "RobosuiteTaskEnv", "register_robosuite", "robosuite_env_id", "robosuite_init_seeds",
    "robosuite_protocol",
]


# ------------------------------------------------------------------------------- registration
def robosuite_init_seeds(task: str, n: int = NUM_INIT_STATES) -> tuple[int, ...]:
    """Fixed evaluation initial states of a robosuite task, as episode seeds (disjoint per task)."""
    if task not in ROBOSUITE_TASKS:
        raise ValueError(f"task: expected one of {ROBOSUITE_TASKS}, got {task!r}")
    base = INIT_SEED_BASE + 10_000 * ROBOSUITE_TASKS.index(task)
    return tuple(range(base, base + n))


def robosuite_env_id(task: str) -> str:
    return f"{GYM_NAMESPACE}/Robosuite-{task}-v0"


def _robosuite_suite() -> list[TaskSpec]:
    return [
        TaskSpec(name=t, suite=ROBOSUITE_SUITE, env_id=robosuite_env_id(t),
                 max_steps=ROBOSUITE_MAX_STEPS[t], init_states=robosuite_init_seeds(t),
                 description=INSTRUCTIONS[t], kwargs={"task": t})
        for t in ROBOSUITE_TASKS
    ]


def register_robosuite() -> None:
    """Register the ``robosuite-classic`` suite and ``vla/Robosuite-<Task>-v0`` (idempotent, lazy)."""
    for t in ROBOSUITE_TASKS:
        env_id = robosuite_env_id(t)
        if env_id not in gym.registry:
            gym.register(id=env_id, entry_point="envs.robosuite.tasks:RobosuiteTaskEnv", kwargs={"task": t},
                         max_episode_steps=None, disable_env_checker=True)
    register_suite(ROBOSUITE_SUITE, _robosuite_suite)
    SUITE_ALIASES.setdefault("robosuite", ROBOSUITE_SUITE)


def robosuite_protocol(episodes_per_task: int = NUM_INIT_STATES, image_size: int = 128) -> EvalProtocol:
    """Protocol of ``robosuite-classic``: episode ``i`` starts from init state ``i``; no wait steps."""
    return EvalProtocol(
        suite="robosuite",
        tasks=ROBOSUITE_TASKS,
        episodes_per_task=int(episodes_per_task),
        max_steps=max(ROBOSUITE_MAX_STEPS.values()),
        wait_steps=0,
        seed=0,
        image_size=int(image_size),
        image_flip="none",
        notes={
            "suite": ROBOSUITE_SUITE,
            "simulator": "robosuite 1.4 Lift / Stack / PickPlaceCan, Panda, default placement samplers",
            "init_state": "episode i runs robosuite's reset under seed 2_000_000 + 10_000 * task_index + i "
                          "(RobosuiteTaskEnv.init_seeds)",
            "max_steps": "per task: " + ", ".join(f"{t}={n}" for t, n in ROBOSUITE_MAX_STEPS.items()),
            "control": "7-D OSC_POSE delta eef, 20 Hz, gripper -1 open / +1 closed",
            "proprio": "eef pos (3), eef axis-angle (3), gripper finger qpos (2)",
            "success": "robosuite's _check_success(); the episode stops at the first success",
            "images": "upright uint8 agentview_rgb / eye_in_hand_rgb (tabletop fast renderer, no flip)",
        },
    )


# ------------------------------------------------------------------------------- environment
@contextlib.contextmanager
def _numpy_global_seed(seed: int) -> Iterator[None]:
    """Seed numpy's global generator (robosuite's source of randomness), then restore it."""
    state = np.random.get_state()
    np.random.seed(int(seed) % 2**32)
    try:
        yield
    finally:
        np.random.set_state(state)


@dataclass(frozen=True)
class Episode:
    """What defines one episode: the task, its seed and (for fixed init states) the index."""

    task: str
    seed: int
    instruction: str
    init_state_index: int | None = None


class RobosuiteScene(ObjectPoses):
    """Privileged-state view of the wrapped robosuite env (what scripted experts and tests read)."""

    def __init__(self, rs_env: Any, objects: dict[str, Any]):
        self.env = rs_env
        self.sim = rs_env.sim
        self.objects = objects
        self.body_ids = {n: self.sim.model.body_name2id(o.root_body) for n, o in objects.items()}

    @property
    def robots(self) -> list[Any]:
        """robosuite's robot objects (as on the tabletop scene)."""
        return self.env.robots

    def is_grasped(self, name: str) -> bool:
        rs = self.env
        return bool(rs._check_grasp(gripper=rs.robots[0].gripper, object_geoms=self.objects[name]))

    def eef_pos(self) -> np.ndarray:
        return np.array(self.sim.data.site_xpos[self.env.robots[0].eef_site_id])

    def eef_mat(self) -> np.ndarray:
        return np.array(self.sim.data.site_xmat[self.env.robots[0].eef_site_id]).reshape(3, 3)

    def gripper_qpos(self) -> np.ndarray:
        return np.array(self.sim.data.qpos[self.env.robots[0]._ref_gripper_joint_pos_indexes])

    @property
    def table_top_z(self) -> float:
        """Height of the table top (PickPlace: of the bins' table)."""
        rs = self.env
        return float(rs.table_offset[2]) if hasattr(rs, "table_offset") else float(rs.bin1_pos[2])


class RobosuiteTaskEnv(RenderedSimEnv):
    """A robosuite classic task with the tabletop env's observations, actions and resets."""

    #: frames are upright as returned (the runner must not flip them again)
    image_flip_applied = True

    def __init__(self, task: str = "Lift", cameras: tuple[str, ...] | list[str] = CAMERAS,
                 image_size: int = 128, max_steps: int | None = None, render_mode: str | None = None):
        if task not in ROBOSUITE_TASKS:
            raise ValueError(f"task: expected one of {ROBOSUITE_TASKS}, got {task!r}")
        self._init_base(cameras, image_size, render_mode)
        if max_steps is not None and int(max_steps) <= 0:
            raise ValueError(f"max_steps: expected a positive int, got {max_steps!r}")
        self.task = task
        self.instruction = INSTRUCTIONS[task]
        self.max_steps = int(max_steps or ROBOSUITE_MAX_STEPS[task])
        self.init_seeds = robosuite_init_seeds(task)
        self.rs_env = self._make_robosuite_env(task)
        self.scene = RobosuiteScene(self.rs_env, self._task_objects())
        self.episode: Episode | None = None
        self.episode_id = 0
        self.steps = 0
        self._raw: dict[str, Any] = {}

    @staticmethod
    def _make_robosuite_env(task: str) -> Any:
        import robosuite

        from envs.tabletop.render import prepare_model_for_fast_render

        with _numpy_global_seed(MODEL_SEED):
            rs_env = robosuite.make(
                ROBOSUITE_ENV_NAMES[task],
                robots="Panda",
                controller_configs=robosuite.load_controller_config(default_controller="OSC_POSE"),
                has_renderer=False,
                has_offscreen_renderer=False,  # cameras go through envs.tabletop.render
                use_camera_obs=False,
                use_object_obs=True,
                reward_shaping=False,
                control_freq=CONTROL_FREQ,
                horizon=10**9,
                ignore_done=True,
                hard_reset=False,  # keep one compiled model (and the renderer bound to it)
            )
        prepare_model_for_fast_render(rs_env.sim.model._model)
        return rs_env

    def _task_objects(self) -> dict[str, Any]:
        """The task's objects by name, as ``scene.object_pos`` and the experts use them."""
        rs = self.rs_env
        if self.task == "Lift":
            return {"cube": rs.cube}
        if self.task == "Stack":
            return {"cubeA": rs.cubeA, "cubeB": rs.cubeB}  # red (to move), green
        return {"can": rs.objects[rs.object_id]}

    # --- gymnasium API --------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        ep_seed, index = self._episode_seed(seed, dict(options or {}))
        with _numpy_global_seed(ep_seed):
            self._raw = self.rs_env.reset()
        # robosuite keeps the gripper's integrated command across resets; clear it so that an
        # episode does not depend on the previous one
        gripper = self.rs_env.robots[0].gripper
        gripper.current_action = np.zeros_like(gripper.current_action)
        self.episode = Episode(self.task, ep_seed, self.instruction, index)
        self.steps = 0
        self.episode_id += 1
        return self._obs(), self._info(False)

    # --- the world (RenderedSimEnv hooks) ---------------------------------------------------------
    @property
    def _sim(self) -> Any:
        return self.rs_env.sim

    def _step_sim(self, action: np.ndarray) -> dict[str, Any]:
        raw, _, _, _ = self.rs_env.step(action)
        return raw

    def _close_sim(self) -> None:
        self.rs_env.close()

    # --- helpers ----------------------------------------------------------------------------------
    def _obs(self) -> dict[str, Any]:
        obs: dict[str, Any] = {f"{c}_rgb": self._render(c) for c in self.cameras}
        obs["proprio"] = self.proprio()
        obs["instruction"] = self.instruction
        return obs

    def _info(self, success: bool) -> dict[str, Any]:
        ep = self.episode
        return {"success": bool(success), "task": self.task, "instruction": self.instruction,
                "episode_seed": ep.seed if ep else None,
                "init_state_index": ep.init_state_index if ep else None, "steps": self.steps}

    def check_success(self) -> bool:
        return bool(self.episode is not None and self.rs_env._check_success())

    def metadata_dict(self) -> dict[str, Any]:
        """Environment facts stored with demonstrations (JSON-serialisable)."""
        import robosuite

        from envs.tabletop.render import RENDER_SETTINGS

        return {"env_name": ROBOSUITE_ENV_NAMES[self.task], "suite": ROBOSUITE_SUITE, "task": self.task,
                "robot": "Panda", "controller": "OSC_POSE", "control_freq": CONTROL_FREQ,
                "cameras": list(self.cameras), "image_size": self.image_size,
                "max_steps": self.max_steps, "render": dict(RENDER_SETTINGS), "action_dim": 7,
                "gripper": "-1 open, +1 closed", "robosuite_version": robosuite.__version__}
