"""`vla eval --executor ray` on real Ray runtimes, inside a loopback-only network namespace.

Ray advertises the machine's non-loopback address, and test traffic may only reach loopback, so
every Ray process here runs under ``unshare --net`` (a namespace holding only ``lo``): a local
``ray.init(num_cpus=2)`` runtime (episodes equal the process executor's; a killed actor's episode
is retried; with no actor left the run stops, keeps what finished, and ``--resume`` completes it
exactly), and a two-node cluster (``ray start --head`` + a second ``ray start``) whose episodes
land on both nodes. No process may outlive a run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

from policies.runner import TIMING_FIELDS

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
EVAL = ["--policy", "random:horizon=4", "--suite", "tabletop", "--tasks", "PickCube", "PushLeft",
        "--episodes-per-task", "3", "--max-steps", "12", "--videos-per-task", "0", "--no-progress",
        "--threads", "1"]

needs_netns = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("ip"),
    reason="needs root, unshare and ip for a loopback-only network namespace")


@pytest.fixture
def short_tmp() -> Path:
    """A short folder for Ray's sessions (its unix socket paths must stay under 107 bytes)."""
    path = Path(tempfile.mkdtemp(prefix="vr", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def in_netns(script: str, tmp: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run a bash script in a fresh network namespace that has only ``lo`` (up); Ray keeps its
    sessions and its auth token (token auth stays on) under ``tmp``."""
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "HOME": str(tmp / "home"), "PYTHONPATH": str(REPO),
           "MUJOCO_GL": os.environ.get("MUJOCO_GL", "egl"), "PYOPENGL_PLATFORM": "egl",
           "RAY_TMPDIR": str(tmp / "r")}
    (tmp / "home").mkdir(exist_ok=True)
    (tmp / "r").mkdir(exist_ok=True)
    full = f"set -eu\nip link set lo up\nexport PATH={BIN}:$PATH\ncd {REPO}\n{script}"
    return subprocess.run(["unshare", "--net", "bash", "-c", full], env=env, capture_output=True, text=True,
                          timeout=timeout)


def records(out: Path) -> list[dict]:
    return [json.loads(x) for x in (out / "episodes.jsonl").read_text().splitlines() if x.strip()]


def stripped(recs: list[dict]) -> list[dict]:
    return sorted(({k: v for k, v in r.items() if k not in TIMING_FIELDS} for r in recs),
                  key=lambda r: (r["task_index"], r["episode"]))


def leftover(marker: str) -> list[str]:
    """Command lines of live processes that mention ``marker`` (a test's temp folder)."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            env = Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if marker in cmd or marker in env:
            found.append(f"{pid}: {cmd[:120]}")
    return found


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    """The same episodes on the process executor (one worker, this process)."""
    from policies.eval_cli import main

    out = tmp_path_factory.mktemp("ref") / "ref"
    assert main([*EVAL, "--out", str(out)]) == 0
    return stripped(records(out))


LOCAL_DRIVER = """
import os, signal, sys
from policies.eval_cli import build_parser, build_setup
from policies.evaluation import run_evaluation
from policies.ray_executor import RayExecutor, RayWorkersLost

args = build_parser().parse_args(sys.argv[3:])
setup, info = build_setup(args)
workers, out = int(sys.argv[1]), sys.argv[2]
killed = []
def kill_first(rec):  # SIGKILL the actor that ran the first finished episode: its next episode is lost
    if not killed:
        killed.append(rec["worker_pid"])
        os.kill(rec["worker_pid"], signal.SIGKILL)
ex = RayExecutor(workers, num_cpus=2)
try:
    run_evaluation(setup, out, info, tasks=args.tasks, workers=workers, videos_per_task=0, progress=False,
                   executor=ex, on_record=kill_first)
    print("COMPLETED")
except RayWorkersLost as e:
    print("LOST", e)
finally:
    ex.close()
"""


@needs_netns
def test_local_ray_matches_process_executor_and_survives_killed_actors(short_tmp: Path, reference) -> None:
    tmp_path = short_tmp
    (tmp_path / "driver.py").write_text(LOCAL_DRIVER)
    args = " ".join(EVAL).replace("random:horizon=4", "'random:horizon=4'")
    # two actors, one SIGKILLed after its first episode: its in-flight episode is retried on the other
    r = in_netns(f"python {tmp_path}/driver.py 2 {tmp_path}/two {args}", tmp_path)
    assert "COMPLETED" in r.stdout, r.stdout + r.stderr[-3000:]
    two = records(tmp_path / "two")
    assert stripped(two) == reference
    assert all(r["worker_node"] for r in two) and len({r["worker_pid"] for r in two}) >= 2
    summary = json.loads((tmp_path / "two" / "summary.json").read_text())
    assert summary["timing"]["executor"] == "RayExecutor" and summary["timing"]["episodes_this_run"] == 6
    # one actor, killed: the run stops with what finished saved; --resume on Ray completes it exactly
    r = in_netns(f"python {tmp_path}/driver.py 1 {tmp_path}/one {args}", tmp_path)
    assert "LOST" in r.stdout and "--resume" in r.stdout, r.stdout + r.stderr[-3000:]
    assert 1 <= len(records(tmp_path / "one")) < 6
    r = in_netns(f"python -m vla.cli eval {args} --out {tmp_path}/one --resume --executor ray --workers 2 "
                 "--ray-num-cpus 2", tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr[-3000:]
    assert stripped(records(tmp_path / "one")) == reference
    assert leftover(str(tmp_path)) == []


@needs_netns
def test_two_node_cluster_runs_episodes_on_both_nodes(short_tmp: Path, reference) -> None:
    tmp_path = short_tmp
    args = " ".join(EVAL).replace("random:horizon=4", "'random:horizon=4'")
    script = textwrap.dedent(f"""
        trap 'ray stop --force >/dev/null 2>&1 || true' EXIT
        ray start --head --port=6390 --num-cpus=1 --node-ip-address=127.0.0.1 --include-dashboard=false \\
            --disable-usage-stats --temp-dir={tmp_path}/r >/dev/null
        ray start --address=127.0.0.1:6390 --num-cpus=1 --resources='{{"node2": 1}}' \\
            --node-ip-address=127.0.0.1 >/dev/null
        python -c "import ray; ray.init(address='127.0.0.1:6390'); print('NODES', len(ray.nodes()))"
        python -m vla.cli eval {args} --out {tmp_path}/cluster --executor ray --workers 2 \\
            --ray-address 127.0.0.1:6390
        """)
    r = in_netns(script, tmp_path)
    assert r.returncode == 0 and "NODES 2" in r.stdout, r.stdout[-3000:] + r.stderr[-3000:]
    recs = records(tmp_path / "cluster")
    assert stripped(recs) == reference
    assert len({r["worker_node"] for r in recs}) == 2, "episodes must have run on both nodes"
    assert leftover(str(tmp_path)) == []


def test_ray_options_are_checked(capsys) -> None:
    from policies.eval_cli import main

    assert main([*EVAL, "--ray-address", "auto"]) == 2
    assert "--executor ray" in capsys.readouterr().err
    assert main([*EVAL, "--executor", "ray", "--ray-address", "auto", "--ray-num-cpus", "2"]) == 2
    assert "--ray-num-cpus" in capsys.readouterr().err
    from policies.ray_executor import RayExecutor

    with pytest.raises(ValueError, match="workers"):
        RayExecutor(0)
