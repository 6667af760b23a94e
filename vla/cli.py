"""The ``vla`` command: a thin dispatcher to subcommands implemented across the packages.

Each subcommand is a ``module:function`` taking ``argv`` (list of str) and returning an exit
code. Modules are imported lazily, so ``vla --help`` stays fast and lists only subcommands
whose module is installed.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys

# name -> (module, function, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str, str]] = {
    "demo": ("scripts.demo", "main", "run the main job on the embedded default"),
    "decode-demo": ("scripts.decode_demo", "main", "table of every masked-diffusion decoder (NFE, accuracy)"),
    "collect": ("envs.collect", "main", "collect expert demonstrations (robomimic/LIBERO HDF5)"),
    "train": ("vla.train_cli", "main", "train a VLA policy on demonstrations"),
    "diagnose": ("vla.diagnose", "main", "does a checkpoint look and listen? swap sensitivity, correlation, localisation"),
    "eval": ("policies.eval_cli", "main", "closed-loop success-rate evaluation"),
    "rollouts": ("policies.rollouts_cli", "main", "record a policy's own episodes (with privileged positions) as HDF5"),
    "serve": ("policies.serve_cli", "main", "serve a policy over websocket (openpi wire protocol)"),
    "ros-bridge": ("policies.ros_bridge_cli", "main", "run the ROS 1 / ROS 2 bridge node"),
    "reproduce": ("scripts.reproduce", "main", "diffusion vs AR vs L1 heads on the tabletop suite"),
}


def available() -> dict[str, tuple[str, str, str]]:
    """Subcommands whose implementing module exists in this installation."""
    out = {}
    for name, (mod, fn, text) in SUBCOMMANDS.items():
        try:
            found = importlib.util.find_spec(mod) is not None
        except ModuleNotFoundError:
            found = False
        if found:
            out[name] = (mod, fn, text)
    return out


def usage(cmds: dict[str, tuple[str, str, str]]) -> str:
    lines = ["usage: vla <command> [options]", "", "commands:"]
    width = max((len(n) for n in cmds), default=4)
    for name, (_, _, text) in cmds.items():
        lines.append(f"  {name:<{width}}  {text}")
    lines += ["", "Run `vla <command> --help` for the options of a command."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # headless rendering unless the user chose a backend (must precede any mujoco import)
    os.environ.setdefault("MUJOCO_GL", "egl")
    os.environ.setdefault("PYOPENGL_PLATFORM", os.environ["MUJOCO_GL"])
    cmds = available()
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage(cmds))
        return 0
    name, rest = argv[0], argv[1:]
    if name not in cmds:
        print(f"vla: unknown command {name!r}\n\n{usage(cmds)}", file=sys.stderr)
        return 2
    mod, fn, _ = cmds[name]
    result = getattr(importlib.import_module(mod), fn)(rest)
    return int(result or 0)


if __name__ == "__main__":
    raise SystemExit(main())
