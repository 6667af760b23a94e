"""Is there a Vulkan device SAPIEN can render with? One clear error when there is none.

ManiSkill3 renders its cameras with SAPIEN 3, which needs Vulkan: a GPU driver, or on a
CPU-only machine Mesa's software driver lavapipe from Mesa >= 24 (Debian bookworm's own
Mesa 22.3.6 lavapipe is too old: SAPIEN finds no device on it). ``.ci/setup.d/60-maniskill.sh``
installs it. Envs built without cameras need it too: SAPIEN creates render materials while
it loads the robot's URDF, so only the camera renderer is left out then.
"""

from __future__ import annotations

import ctypes.util
import functools

SETUP_HINT = "run .ci/setup.d/60-maniskill.sh (Mesa lavapipe >= 24: mesa-vulkan-drivers, libvulkan1)"

__all__ = ["SETUP_HINT", "VulkanUnavailable", "check_vulkan"]


class VulkanUnavailable(RuntimeError):
    """No Vulkan device for SAPIEN's renderer (the message says what is missing, in one line)."""


@functools.lru_cache(maxsize=1)
def _vulkan_problem() -> str | None:
    if ctypes.util.find_library("vulkan") is None:
        return "the Vulkan loader libvulkan.so.1 is missing (Debian package libvulkan1)"
    try:
        import sapien

        summary = sapien.render.get_device_summary()
    except RuntimeError as e:
        return f"SAPIEN found no Vulkan rendering device ({e}); a software driver needs Mesa lavapipe >= 24"
    if "Supported: 1" not in str(summary):
        return "SAPIEN lists no supported Vulkan rendering device (a software driver needs Mesa lavapipe >= 24)"
    return None


def check_vulkan() -> None:
    """Raise :class:`VulkanUnavailable` (one line: what is missing and how to install it) if
    SAPIEN cannot render; return silently otherwise. The probe runs once per process."""
    problem = _vulkan_problem()
    if problem is not None:
        raise VulkanUnavailable(f"ManiSkill (SAPIEN) needs Vulkan: {problem}; {SETUP_HINT}")
