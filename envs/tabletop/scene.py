"""The robosuite world of the tabletop suite: Panda + OSC_POSE on a table with primitive objects.

One scene model holds every object of the suite; a task uses a subset and parks the rest far
off the table (out of every camera's view), so all tasks share one compiled model. Layouts are
set from a ``Layout`` (object -> x, y, yaw relative to the table centre) at reset, never from
robosuite's global random state, so a seed fully determines the episode.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import mujoco
import numpy as np
from robosuite.controllers import load_controller_config
from robosuite.environments.manipulation.manipulation_env import ManipulationEnv
from robosuite.models.arenas import TableArena
from robosuite.models.tasks import ManipulationTask

from envs.object_poses import ObjectPoses
from envs.tabletop.objects import OBJECTS, build_object
from envs.tabletop.render import prepare_model_for_fast_render

TABLE_FULL_SIZE = (0.8, 0.8, 0.05)
TABLE_OFFSET = np.array([0.0, 0.0, 0.8])
TABLE_TOP_Z = float(TABLE_OFFSET[2])
CONTROL_FREQ = 20
PARK_Z = 0.2


def _no_forward() -> None:
    """Stand-in for ``sim.forward`` inside a substep (``mj_step1`` already did the work)."""


@dataclass
class Layout:
    """Initial placement of the active objects: name -> (x, y, yaw), table-centre frame."""

    poses: dict[str, tuple[float, float, float]]
    robot_qpos_noise: np.ndarray = field(default_factory=lambda: np.zeros(7))


def yaw_quat_wxyz(yaw: float) -> np.ndarray:
    return np.array([np.cos(yaw / 2), 0.0, 0.0, np.sin(yaw / 2)])


class TabletopScene(ObjectPoses, ManipulationEnv):
    """robosuite environment with every tabletop object; the gymnasium env drives it."""

    def __init__(self, **kwargs):
        self.objects = {name: build_object(name) for name in OBJECTS}
        self._layout: Layout | None = None
        self._base_init_qpos: np.ndarray | None = None
        super().__init__(
            robots="Panda",
            controller_configs=load_controller_config(default_controller="OSC_POSE"),
            initialization_noise={"magnitude": 0.0, "type": "gaussian"},
            use_camera_obs=False,
            has_renderer=False,
            has_offscreen_renderer=False,
            control_freq=CONTROL_FREQ,
            horizon=10**9,
            ignore_done=True,
            hard_reset=False,
            **kwargs,
        )
        prepare_model_for_fast_render(self.sim.model._model)

    # --- robosuite hooks -------------------------------------------------------------------
    def _load_model(self) -> None:
        super()._load_model()
        robot = self.robots[0]
        robot.robot_model.set_base_xpos(robot.robot_model.base_xpos_offset["table"](TABLE_FULL_SIZE[0]))
        arena = TableArena(table_full_size=TABLE_FULL_SIZE, table_friction=(1.0, 5e-3, 1e-4),
                           table_offset=TABLE_OFFSET)
        arena.set_origin([0, 0, 0])
        self.model = ManipulationTask(
            mujoco_arena=arena,
            mujoco_robots=[robot.robot_model],
            mujoco_objects=list(self.objects.values()),
        )

    def _setup_references(self) -> None:
        super()._setup_references()
        self.body_ids = {n: self.sim.model.body_name2id(o.root_body) for n, o in self.objects.items()}
        self.joint_names = {n: o.joints[0] for n, o in self.objects.items()}

    def _reset_internal(self) -> None:
        layout = self._layout or Layout(poses={})
        if self._base_init_qpos is None:
            self._base_init_qpos = np.array(self.robots[0].init_qpos, dtype=np.float64)
        self.robots[0].init_qpos = self._base_init_qpos + np.asarray(layout.robot_qpos_noise, dtype=np.float64)
        super()._reset_internal()
        # robosuite keeps the gripper's integrated command across resets; clear it so that an
        # episode does not depend on the previous one
        gripper = self.robots[0].gripper
        gripper.current_action = np.zeros_like(gripper.current_action)
        for i, name in enumerate(OBJECTS):
            if name in layout.poses:
                x, y, yaw = layout.poses[name]
                z = TABLE_TOP_Z + OBJECTS[name].half_height + 0.001
                pos = np.array([x, y, z]) + np.array([TABLE_OFFSET[0], TABLE_OFFSET[1], 0.0])
                quat = yaw_quat_wxyz(yaw)
            else:  # parked far away on the floor, out of view
                pos, quat = np.array([5.0 + 0.5 * i, 5.0, PARK_Z]), yaw_quat_wxyz(0.0)
            self.sim.data.set_joint_qpos(self.joint_names[name], np.concatenate([pos, quat]))
            self.sim.data.set_joint_qvel(self.joint_names[name], np.zeros(6))

    def step(self, action):
        """One 20 Hz control step: 25 physics substeps at 500 Hz, as robosuite's ``step``.

        Faster than robosuite's loop (which runs three forward passes per substep): each
        substep calls ``mj_step1`` (kinematics, velocities, mass matrix), runs the OSC
        controller on those quantities with its own redundant ``sim.forward()`` disabled,
        then ``mj_step2`` (actuation, acceleration, integration). Same dynamics, one pass.
        """
        if self.done:
            raise ValueError("executing action in terminated episode")
        self.timestep += 1
        m, d = self.sim.model._model, self.sim.data._data
        forward = self.sim.forward
        self.sim.forward = _no_forward
        try:
            for i in range(int(self.control_timestep / self.model_timestep)):
                mujoco.mj_step1(m, d)
                self._pre_action(action, policy_step=(i == 0))
                mujoco.mj_step2(m, d)
        finally:
            self.sim.forward = forward
        self.sim.forward()
        self.cur_time += self.control_timestep
        reward, done, info = self._post_action(action)
        return self._get_observations(force_update=True), reward, done, info

    def reward(self, action=None) -> float:  # success is computed by the gymnasium env
        return 0.0

    def _check_success(self) -> bool:
        return False

    # --- helpers ------------------------------------------------------------------------------
    def set_layout(self, layout: Layout) -> None:
        """Layout to apply at the next ``reset()``."""
        self._layout = layout

    def set_object_pose(self, name: str, pos, quat_wxyz=(1.0, 0.0, 0.0, 0.0)) -> None:
        """Teleport an object (for tests and scripted setups); call ``sim.forward()`` after."""
        self.sim.data.set_joint_qpos(self.joint_names[name], np.concatenate([np.asarray(pos, float),
                                                                              np.asarray(quat_wxyz, float)]))
        self.sim.data.set_joint_qvel(self.joint_names[name], np.zeros(6))

    def is_grasped(self, name: str) -> bool:
        """Both finger pads touch the object (robosuite's grasp check)."""
        return bool(self._check_grasp(gripper=self.robots[0].gripper, object_geoms=self.objects[name]))

    def eef_pos(self) -> np.ndarray:
        return np.array(self.sim.data.site_xpos[self.robots[0].eef_site_id])

    def eef_mat(self) -> np.ndarray:
        return np.array(self.sim.data.site_xmat[self.robots[0].eef_site_id]).reshape(3, 3)

    def gripper_qpos(self) -> np.ndarray:
        return np.array(self.sim.data.qpos[self.robots[0]._ref_gripper_joint_pos_indexes])
