"""Fast offscreen camera rendering for the tabletop scene (MuJoCo ``Renderer``, EGL or OSMesa).

Software OpenGL (Mesa llvmpipe) spends its time on triangles, not pixels: the Panda's visual
meshes have ~180k faces, its collision meshes ~15k. So the cameras draw the robot's collision
meshes (recoloured Panda white / dark grey), the objects' visual primitives and the table, with
shadows, reflections, skybox and multisampling off. ``RENDER_SETTINGS`` records the choices.
Images come back upright, uint8 ``[H, W, 3]``.
"""

from __future__ import annotations

import atexit
import os
import weakref

import mujoco
import numpy as np

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("PYOPENGL_PLATFORM", os.environ["MUJOCO_GL"])

RENDER_SETTINGS: dict[str, object] = {
    "robot_geoms": "collision meshes (visual meshes hidden)",
    "shadows": False,
    "reflections": False,
    "skybox": False,
    "offscreen_multisamples": 0,
    "shadow_map_size": 256,
}

SHOWN_GROUP, HIDDEN_GROUP = 2, 5
ROBOT_PREFIXES = ("robot0_", "gripper0_", "mount0_")
ROBOT_RGBA = np.array([0.92, 0.92, 0.92, 1.0])
GRIPPER_RGBA = np.array([0.25, 0.25, 0.27, 1.0])
CAMERA_ALIASES = {"eye_in_hand": "robot0_eye_in_hand"}


def prepare_model_for_fast_render(model: mujoco.MjModel) -> None:
    """Move the geoms to draw into one group and the rest into a hidden one; set quality flags.

    Only visualisation fields change (``geom_group``, ``geom_rgba``, ``vis.quality``); physics
    does not depend on them.
    """
    model.vis.quality.offsamples = 0
    model.vis.quality.shadowsize = int(RENDER_SETTINGS["shadow_map_size"])
    for g in range(model.ngeom):
        name = mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_GEOM, g) or ""
        group = int(model.geom_group[g])
        if name.startswith(ROBOT_PREFIXES):
            show = group == 0
            if show:
                model.geom_rgba[g] = GRIPPER_RGBA if name.startswith("gripper0_") else ROBOT_RGBA
        else:
            show = group == 1
        model.geom_group[g] = SHOWN_GROUP if show else HIDDEN_GROUP


_LIVE: weakref.WeakSet = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    """Free GL contexts before interpreter shutdown tears EGL down (avoids noisy __del__ errors)."""
    for r in list(_LIVE):
        r.close()


class CameraRenderer:
    """Render named cameras of a (prepared) model at a fixed size."""

    def __init__(self, model: mujoco.MjModel, data: mujoco.MjData, height: int = 128, width: int = 128):
        if height <= 0 or width <= 0:
            raise ValueError(f"camera size: expected positive height/width, got {height}x{width}")
        self.model, self.data = model, data
        model.vis.global_.offwidth = max(int(model.vis.global_.offwidth), width)
        model.vis.global_.offheight = max(int(model.vis.global_.offheight), height)
        self.height, self.width = height, width
        self._renderer = mujoco.Renderer(model, height, width)
        self._option = mujoco.MjvOption()
        for i in range(len(self._option.geomgroup)):
            self._option.geomgroup[i] = 1 if i == SHOWN_GROUP else 0
        self._option.sitegroup[:] = 0
        self._cam_ids: dict[str, int] = {}
        _LIVE.add(self)

    def close(self) -> None:
        """Release the OpenGL context (idempotent)."""
        r = getattr(self, "_renderer", None)
        if r is not None:
            ctx = getattr(r, "_gl_context", None)
            if ctx is not None:
                ctx.make_current()  # GL objects are freed in the current context: make it ours
                if hasattr(r._mjr_context, "free"):
                    r._mjr_context.free()
                ctx.free()
            self._renderer = None

    def camera_id(self, camera: str) -> int:
        if camera not in self._cam_ids:
            cid = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_CAMERA, CAMERA_ALIASES.get(camera, camera))
            if cid < 0:
                raise ValueError(f"camera: unknown camera {camera!r}")
            self._cam_ids[camera] = cid
        return self._cam_ids[camera]

    def render(self, camera: str) -> np.ndarray:
        """Upright uint8 image ``[H, W, 3]`` from ``camera``."""
        r = self._renderer
        if r is None:
            raise RuntimeError("CameraRenderer.render() after close()")
        r.update_scene(self.data, camera=self.camera_id(camera), scene_option=self._option)
        flags = r.scene.flags
        flags[mujoco.mjtRndFlag.mjRND_SHADOW] = 0
        flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = 0
        flags[mujoco.mjtRndFlag.mjRND_SKYBOX] = 0
        return r.render().copy()
