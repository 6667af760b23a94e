"""``vla eval``: closed-loop success-rate evaluation of a policy on a suite.

Examples::

    vla eval --policy checkpoints/tabletop-tiny-dd --suite tabletop --episodes-per-task 10
    vla eval --policy expert --suite tabletop --workers 2 --out runs/expert
    vla eval --policy random --suite tabletop --out runs/random --resume   # finish a killed run

Writes ``episodes.jsonl`` (one line per finished episode), ``summary.json``, ``summary.md``,
``sr_per_task.png`` and ``videos/`` into ``--out`` and prints the SR table.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from policies.chunking import ChunkingConfig
from policies.runner import RolloutSetup
from vla.cli_help import HelpFormatter

DEFAULT_OUT = "runs/eval"


def _latency(text: str) -> int | str:
    if text == "measured":
        return text
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--latency-steps must be an integer >= 0 or 'measured', got {text!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"--latency-steps must be >= 0, got {v}")
    return v


def _positive(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {v}")
    return v


def _nonneg(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {v}")
    return v


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="vla eval",
        description="Closed-loop evaluation: run a policy on every task of a suite and report the success "
        "rate per task (Wilson 95% intervals). Episode i of a task starts from the suite's init state i "
        "with a seed fixed by the protocol, so results do not depend on --workers.",
        formatter_class=HelpFormatter,
    )
    g = p.add_argument_group("what to evaluate")
    g.add_argument(
        "--policy", default=None,
        help="(default: random, with a note) a checkpoint directory, 'expert' (the suite's scripted expert), or a policy spec such as "
        "'random', 'constant:value=0', 'checkpoint:path=DIR', 'package.module:Class:key=value'",
    )
    g.add_argument("--decoder", default=None, help="VLA decoder options, JSON or key=value pairs, e.g. 'steps=4,commit=threshold' or 'steps=1,readout=mean' (diffusion: each action token as the mean bin of its distribution) (default: the checkpoint's decoder.json)")
    g.add_argument("--device", default="cpu", help="torch device for VLA policies")
    g.add_argument("--suite", default="tabletop", help="suite name (see --list-suites)")
    g.add_argument("--env", default=None, help="instead of a suite's env: 'module:function(task, protocol) -> gymnasium.Env'")
    g.add_argument("--tasks", nargs="+", default=None, help="evaluate only these tasks (default: all tasks of the suite)")
    g.add_argument("--list-suites", action="store_true", help="print the known suites and their tasks, then exit")
    g = p.add_argument_group("protocol (defaults come from the suite)")
    g.add_argument("--episodes-per-task", type=_positive, default=None, help="(default: the suite's, e.g. 50)")
    g.add_argument("--max-steps", type=_positive, default=None, help="(default: the suite's per-task limits)")
    g.add_argument("--wait-steps", type=_nonneg, default=None, help="(default: the suite's)")
    g.add_argument("--seed", type=int, default=None, help="base seed of the protocol (default: the suite's)")
    g = p.add_argument_group("chunk execution")
    g.add_argument("--chunking", choices=["open_loop", "ensemble", "async"], default="open_loop")
    g.add_argument("--execute-steps", type=_positive, default=None, help="K: actions executed per chunk (default: the horizon)")
    g.add_argument("--ensemble-m", type=float, default=0.01, help="ACT temporal-ensembling weight exp(-m*i)")
    g.add_argument("--query-every", type=_positive, default=1, help="ensemble: query the policy every N steps")
    g.add_argument("--latency-steps", type=_latency, default=0, help="async: policy latency in control steps, or 'measured'")
    g.add_argument("--control-hz", type=float, default=20.0, help="async 'measured': control rate that converts seconds to steps")
    g.add_argument("--no-clip", action="store_true", help="do not clip actions to the env's action limits")
    g.add_argument("--render-every-step", action="store_true",
                   help="render the cameras on every step, also when no policy query reads them (default: only the "
                        "steps whose observation is read; for comparing speed - outcomes are identical)")
    g = p.add_argument_group("running and output")
    g.add_argument("--workers", type=_positive, default=1,
                   help="parallel rollout workers: processes here, or Ray actors with --executor ray")
    g.add_argument("--executor", choices=["process", "ray"], default="process",
                   help="'process': worker processes on this machine; 'ray': Ray actors, spread over the nodes of "
                        "a Ray cluster (--ray-address) or of a local Ray runtime")
    g.add_argument("--ray-address", default=None, metavar="ADDR",
                   help="an existing Ray cluster: 'auto', HOST:PORT of its head or ray://HOST:10001 "
                        "(default: start a private local Ray runtime)")
    g.add_argument("--ray-num-cpus", type=_positive, default=None, metavar="N",
                   help="CPUs of the local Ray runtime (default: --workers; not with --ray-address)")
    g.add_argument("--threads", type=_positive, default=None, help="torch threads per worker (1 keeps workers from oversubscribing the CPUs and results bit-stable)")
    g.add_argument("--out", default=DEFAULT_OUT, help="results folder")
    g.add_argument("--resume", action="store_true", help="continue the run in --out, skipping finished episodes")
    g.add_argument("--videos-per-task", type=_nonneg, default=1, help="MP4 videos of the first N episodes of each task")
    g.add_argument("--no-progress", action="store_true", help="no progress bar")
    g.add_argument("--json", action="store_true", help="print the summary as JSON instead of the markdown table")
    return p


def policy_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """Keyword arguments for the policy loader that come from CLI options (VLA policies only)."""
    is_vla = Path(args.policy).is_dir() or args.policy.split(":", 1)[0] in ("checkpoint", "vla")
    if not is_vla:
        return {}
    kw: dict[str, Any] = {"device": args.device}
    if args.decoder:
        kw["decoder"] = parse_decoder(args.decoder)
    return kw


def parse_decoder(text: str) -> dict[str, Any]:
    """``--decoder``: a JSON object or ``key=value,...`` (e.g. ``steps=4,commit=threshold``)."""
    from policies.load import parse_kwargs

    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return parse_kwargs(text)
    if not isinstance(value, dict):
        raise ValueError(f"--decoder: expected a JSON object or key=value pairs, got {text!r}")
    return value


def describe_policy(spec: str, overrides: dict[str, Any]) -> dict[str, Any]:
    """What gets recorded about the policy (checked on --resume)."""
    info: dict[str, Any] = {"spec": spec, **overrides}
    if Path(spec).is_dir():
        info["checkpoint"] = str(Path(spec).resolve())
        for name in ("config.json", "README.md"):
            f = Path(spec) / name
            if f.exists() and name == "config.json":
                try:
                    info["checkpoint_config"] = json.loads(f.read_text())
                except json.JSONDecodeError:
                    pass
    return info


def _looks_like_path(spec: str) -> bool:
    return "/" in spec.split(":", 1)[0] or spec.startswith(".") or spec.endswith("/")


def preflight_policy(spec: str, decoder: dict[str, Any] | None = None) -> None:
    """Fail before any episode runs when the policy spec or its decoder options cannot work
    (ValueError naming the option and what was expected)."""
    head, _, rest = spec.partition(":")
    if Path(spec).is_dir() or head in ("checkpoint", "vla"):
        path = Path(spec) if Path(spec).is_dir() else None
        if path is None:
            from policies.load import parse_kwargs

            path = Path(str(parse_kwargs(rest).get("path", "")))
        if not (path / "config.json").is_file():
            raise ValueError(f"--policy {spec!r}: no VLA checkpoint there (expected {path / 'config.json'})")
        if decoder:
            from vla.predict import decoder_config

            try:
                head_name = json.loads((path / "config.json").read_text()).get("head", "diffusion")
                decoder_config(head_name, decoder)
            except (TypeError, ValueError) as e:
                raise ValueError(f"--decoder: {e}") from None
        return
    if decoder:
        raise ValueError(f"--decoder: only VLA checkpoints take decoder options, not --policy {spec!r}")
    if _looks_like_path(spec):
        from policies.load import _REGISTRY

        raise ValueError(f"--policy {spec!r}: the path does not exist (expected a checkpoint folder; "
                         f"registered policy names: {sorted(_REGISTRY)})")
    if head == "expert":
        return
    import policies.vla_policy  # noqa: F401 - registers 'checkpoint'
    from policies.load import load_policy

    load_policy(spec)  # scripted policies are cheap to build: surface bad names / arguments now


def build_setup(args: argparse.Namespace) -> tuple[RolloutSetup, dict[str, Any]]:
    """RolloutSetup and recorded policy info from parsed arguments."""
    overrides = policy_overrides(args)
    preflight_policy(args.policy, parse_decoder(args.decoder) if args.decoder else None)
    from policies.suites import get_suite

    suite = get_suite(args.suite)
    protocol = suite.protocol()
    changes = {
        k: v
        for k, v in {
            "episodes_per_task": args.episodes_per_task,
            "max_steps": args.max_steps,
            "wait_steps": args.wait_steps,
            "seed": args.seed,
        }.items()
        if v is not None
    }
    protocol = replace(protocol, **changes)
    if args.tasks:
        unknown = [t for t in args.tasks if t not in protocol.tasks]
        if unknown:
            raise ValueError(f"--tasks: unknown task(s) {unknown} for suite {protocol.suite!r}; "
                             f"expected some of {list(protocol.tasks)}")
    threads = args.threads or 1
    setup = RolloutSetup(
        env_factory=args.env or "policies.factories:make_suite_env",
        policy_factory="policies.factories:make_policy",
        protocol=protocol,
        env_kwargs={} if args.env else {"suite": args.suite},
        policy_kwargs={"spec": args.policy, **overrides},
        chunking=ChunkingConfig(
            mode=args.chunking,
            execute_steps=args.execute_steps,
            ensemble_m=args.ensemble_m,
            query_every=args.query_every,
            latency_steps=args.latency_steps,
            control_hz=args.control_hz,
        ),
        torch_threads=threads,
        clip_actions=not args.no_clip,
        lazy_render=not args.render_every_step,
    )
    return setup, describe_policy(args.policy, overrides)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from policies.suites import get_suite, known_suites

    if args.policy is None and not args.list_suites:
        print("vla eval: no --policy given; evaluating the 'random' policy", file=sys.stderr)
        args.policy = "random"
    if args.list_suites:
        for name in known_suites():
            try:
                tasks = list(get_suite(name).protocol().tasks)
            except Exception as e:  # noqa: BLE001 - a suite whose package is missing
                tasks = [f"(unavailable: {e})"]
            print(f"{name}: {', '.join(tasks)}")
        return 0
    from policies.evaluation import run_evaluation

    if args.executor != "ray" and (args.ray_address or args.ray_num_cpus):
        print("vla eval: --ray-address / --ray-num-cpus need --executor ray", file=sys.stderr)
        return 2
    if args.ray_address and args.ray_num_cpus:
        print("vla eval: --ray-num-cpus: only for a local Ray runtime; a cluster at --ray-address has its own CPUs",
              file=sys.stderr)
        return 2
    executor = None
    try:
        setup, policy_info = build_setup(args)
        if args.executor == "ray":
            from policies.ray_executor import RayExecutor

            executor = RayExecutor(args.workers, address=args.ray_address, num_cpus=args.ray_num_cpus)
        summary = run_evaluation(
            setup,
            args.out,
            policy_info,
            tasks=args.tasks,
            workers=args.workers,
            resume=args.resume,
            videos_per_task=args.videos_per_task,
            progress=not args.no_progress,
            command=["vla", "eval", *(sys.argv[2:] if argv is None else argv)],
            executor=executor,
        )
    except (FileExistsError, FileNotFoundError, KeyError, ValueError) as e:
        print(f"vla eval: {str(e).strip(chr(39))}", file=sys.stderr)
        return 2
    except RuntimeError as e:
        if type(e).__name__ != "RayWorkersLost":
            raise
        print(f"vla eval: {e}", file=sys.stderr)
        return 1
    finally:
        if executor is not None:
            executor.close()
    if args.json:
        print(json.dumps(summary, indent=2, default=str))
    else:
        print((Path(args.out) / "summary.md").read_text())
        print(f"results: {Path(args.out).resolve()}")
    o = summary["overall"]
    if o["episodes"] and o["errored"] == o["episodes"]:
        print(f"vla eval: every episode errored ({o['errored']}); the first error is in "
              f"{Path(args.out) / 'episodes.jsonl'}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
