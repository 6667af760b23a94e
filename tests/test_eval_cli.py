"""``vla eval`` argument handling: clear errors for bad options, no silent overwrite of results."""

from __future__ import annotations

import pytest

from policies.eval_cli import build_parser, main, parse_decoder


def test_help_lists_the_main_options(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for opt in ("--policy", "--suite", "--episodes-per-task", "--workers", "--resume", "--chunking", "--latency-steps"):
        assert opt in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--latency-steps", "soon"], "--latency-steps must be an integer >= 0 or 'measured'"),
        (["--workers", "0"], "expected a positive integer, got 0"),
        (["--chunking", "sometimes"], "invalid choice"),
    ],
)
def test_bad_options_are_clear_errors(argv, message, capsys):
    with pytest.raises(SystemExit) as e:
        build_parser().parse_args(argv)
    assert e.value.code == 2
    assert message in capsys.readouterr().err


def test_unknown_task_and_suite(tmp_path, capsys):
    assert main(["--tasks", "FlyAway", "--out", str(tmp_path)]) == 2
    assert "--tasks: unknown task(s) ['FlyAway']" in capsys.readouterr().err
    assert main(["--suite", "nope", "--out", str(tmp_path)]) == 2
    assert "unknown suite 'nope'" in capsys.readouterr().err


def test_existing_results_are_not_overwritten_without_resume(tmp_path, capsys):
    (tmp_path / "episodes.jsonl").write_text('{"task": "PickCube", "episode": 0}\n')
    assert main(["--policy", "random", "--out", str(tmp_path), "--no-progress"]) == 2
    assert "pass --resume" in capsys.readouterr().err
    assert (tmp_path / "episodes.jsonl").read_text() == '{"task": "PickCube", "episode": 0}\n'


def test_decoder_option_parsing():
    assert parse_decoder("steps=4,commit=threshold") == {"steps": 4, "commit": "threshold"}
    assert parse_decoder('{"steps": 2}') == {"steps": 2}
    with pytest.raises(ValueError, match="--decoder: expected a JSON object"):
        parse_decoder("[1, 2]")


@pytest.mark.parametrize(
    "spec, message",
    [
        ("no_such_policy", "unknown policy 'no_such_policy'"),
        ("checkpoint:path=/nonexistent", "no VLA checkpoint there"),
        ("constant:value=[1,2]", "value must be a scalar or a list of 7 numbers"),
    ],
)
def test_bad_policy_fails_before_any_episode(spec, message, tmp_path, capsys):
    assert main(["--policy", spec, "--out", str(tmp_path / "o"), "--no-progress"]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
