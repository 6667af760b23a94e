"""Import structure: ``hardware/`` stands without the policy stack, and no import circles remain.

Every check reads the source with ``ast`` (module-level and function-level imports alike), so
lazy imports inside functions count too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: pairs that used to import each other; now both import a shared module instead
FORMER_CIRCLES = [
    ("decoding/autoregressive.py", "decoding/beam.py"),
    ("envs/libero/env.py", "envs/libero/suites.py"),
    ("hardware/ros_transport.py", "hardware/ros1.py"),
    ("hardware/ros_transport.py", "hardware/ros2.py"),
]


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def imported_modules(path: Path, module: str | None = None) -> set[str]:
    """Every module ``path`` imports anywhere in its body (``import a.b`` gives a and a.b; ``from a import b``
    gives a and a.b, b possibly being a submodule; relative imports resolved)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = (module or _module_name(path)).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    out: set[str] = set()

    def add(name: str) -> None:
        parts = name.split(".")
        out.update(".".join(parts[: i + 1]) for i in range(len(parts)))

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1] + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            add(base)
            for alias in node.names:
                add(f"{base}.{alias.name}")
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
            "import_module",
            "__import__",
        ):
            if node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                add(node.args[0].value)
    return out


HARDWARE_FILES = sorted((ROOT / "hardware").rglob("*.py"))


@pytest.mark.parametrize("path", HARDWARE_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_hardware_never_imports_policies(path: Path) -> None:
    bad = sorted(m for m in imported_modules(path) if m == "policies" or m.startswith("policies."))
    assert not bad, f"{path.relative_to(ROOT)} imports {bad}: hardware/ must not need the policy stack"


def test_hardware_imports_only_light_packages() -> None:
    """The robot side needs numpy, msgpack, websockets, envs, the standard library and ROS only."""
    heavy = {"torch", "transformers", "vla", "decoding", "scripts"}
    for path in HARDWARE_FILES:
        found = {m for m in imported_modules(path) if m.split(".")[0] in heavy}
        assert not found, f"{path.relative_to(ROOT)} imports {sorted(found)}"


def test_hardware_files_found() -> None:
    names = {p.name for p in HARDWARE_FILES}
    assert {"action_source.py", "ros_sim_robot.py", "ros_transport.py", "ros1.py", "ros2.py"} <= names


@pytest.mark.parametrize("a,b", FORMER_CIRCLES, ids=lambda x: x)
def test_former_import_circles_are_broken(a: str, b: str) -> None:
    pa, pb = ROOT / a, ROOT / b
    ma, mb = _module_name(pa), _module_name(pb)
    a_imports_b = mb in imported_modules(pa)
    b_imports_a = ma in imported_modules(pb)
    assert not (a_imports_b and b_imports_a), f"{a} and {b} import each other"


@pytest.mark.parametrize(
    "lower,upper",
    [
        ("decoding/beam.py", "decoding.autoregressive"),
        ("envs/libero/env.py", "envs.libero.suites"),
        ("hardware/ros1.py", "hardware.ros_transport"),
        ("hardware/ros2.py", "hardware.ros_transport"),
    ],
)
def test_lower_module_does_not_import_upper(lower: str, upper: str) -> None:
    """The implementation side imports the shared module, never the module that uses it."""
    assert upper not in imported_modules(ROOT / lower)


def test_import_scanner_sees_function_level_imports(tmp_path: Path) -> None:
    src = tmp_path / "x.py"
    src.write_text("import numpy\n\ndef f():\n    from policies.load import load_policy\n\n"
                   "def g():\n    from . import ros1\n")
    found = imported_modules(src, "hardware.x")
    assert {"numpy", "policies", "policies.load", "hardware.ros1"} <= found
