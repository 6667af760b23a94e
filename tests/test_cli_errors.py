"""Bad invocations fail before any work: exit 2, one line naming the option, no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHIPPED = "checkpoints/tabletop-tiny-dd"

BAD = [
    (["eval", "--policy", SHIPPED, "--decoder", "bogus=1"], "--decoder"),
    (["eval", "--policy", SHIPPED, "--decoder", "steps=0"], "steps"),
    (["eval", "--policy", "checkpoints/does-not-exist"], "does not exist"),
    (["eval", "--policy", "random", "--tasks", "NoSuchTask"], "--tasks"),
    (["eval", "--policy", "random", "--suite", "bogus"], "unknown suite"),
    (["eval", "--policy", "random", "--decoder", "steps=2"], "--decoder"),
    (["train", "--data", "/nonexistent", "--out", "OUT"], "/nonexistent"),
    (["train", "--data", "/nonexistent", "--out", "OUT", "--steps", "0"], "--steps"),
    (["diagnose", "checkpoints/nope", "--data", "/nonexistent"], "does not exist"),
]


def _stderr_lines(text: str) -> list[str]:
    # robosuite prints its macro-file notice on import; it is not ours to judge here
    return [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("[robosuite")]


@pytest.mark.parametrize("argv,needle", BAD, ids=[" ".join(a[:3]) + " ..." for a, _ in BAD])
def test_bad_invocation_exits_2_with_one_line(argv: list[str], needle: str, tmp_path: Path) -> None:
    argv = [str(tmp_path / "out") if a == "OUT" else a for a in argv]
    if argv[0] == "eval":
        argv += ["--out", str(tmp_path / "eval"), "--no-progress"]
    env = {**os.environ, "PYTHONPATH": str(REPO), "MUJOCO_GL": os.environ.get("MUJOCO_GL", "egl")}
    res = subprocess.run([sys.executable, "-m", "vla.cli", *argv], cwd=REPO, env=env, capture_output=True,
                         text=True, timeout=300)
    lines = _stderr_lines(res.stderr)
    assert res.returncode == 2, (res.returncode, res.stderr[-2000:])
    assert "Traceback" not in res.stderr
    assert len(lines) == 1 and needle in lines[0], lines
    assert not (tmp_path / "eval" / "episodes.jsonl").exists()  # nothing ran


def test_every_subcommand_has_help_without_doubled_defaults() -> None:
    import re

    from vla.cli import available

    env = {**os.environ, "PYTHONPATH": str(REPO), "MUJOCO_GL": os.environ.get("MUJOCO_GL", "egl")}
    for name in available():
        res = subprocess.run([sys.executable, "-m", "vla.cli", name, "--help"], cwd=REPO, env=env, capture_output=True,
                             text=True, timeout=120)
        assert res.returncode == 0 and "usage:" in res.stdout, (name, res.stderr[-500:])
        flat = " ".join(res.stdout.split())
        assert not re.search(r"\(default: [^()]*\) \(default:", flat), (name, flat)


def test_every_option_with_a_default_shows_it_in_help(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each subcommand's parser, caught as its main() parses ``--help``: every option that has a
    default prints it (options without a help text included, e.g. train --steps --lr)."""
    import argparse
    import importlib

    from vla.cli import available

    caught: list[argparse.ArgumentParser] = []

    def catch(self: argparse.ArgumentParser, *a: object, **k: object) -> None:
        caught.append(self)
        raise SystemExit(0)

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", catch)
    monkeypatch.setattr(argparse.ArgumentParser, "parse_known_args", catch)
    checked = []
    for name, (mod, fn, _) in available().items():
        caught.clear()
        with pytest.raises(SystemExit):
            getattr(importlib.import_module(mod), fn)(["--help"])
        parser = caught[-1]
        for action in parser._actions:
            if not action.option_strings or action.default in (None, False, argparse.SUPPRESS, "", [], ()):
                continue
            shown = " ".join(parser._get_formatter()._format_action(action).split())
            assert "default" in shown.lower(), (name, shown)
        checked.append(name)
    assert {"train", "eval", "demo", "collect", "reproduce", "serve"} <= set(checked)
