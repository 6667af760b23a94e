"""Benchmark of the policy server: ``infer`` round-trip latency on loopback, and server overhead.

Starts ``vla serve`` in a subprocess (so client and server do not share a GIL) with a constant
policy, then sends observations with 1 and 2 RGB images of 224x224 (plus an 8-D proprio and a
prompt) from our client (:class:`hardware.client.PolicyClient`) and from the PyPI
``openpi-client`` when installed. Reports per case: round-trip median / p99 / mean (ms), the
server's own ``infer_ms`` (the clients' requests interleaved), server overhead = round trip - policy time (median), throughput of
one client (requests/s), and the in-process cost of packing + unpacking the message.
Target: server overhead < 5 ms. Fairness: one client's round trip alone and beside a client
that floods requests without reading replies (policy sleeping 50 ms per call; served in turn,
the ratio is at most ~2). Prints a table and writes JSON.

With ``--ros 1`` / ``--ros 2`` it also measures the ROS path (needs .ci/setup.d/50-ros1.sh or
51-ros2.sh): a probe node switches the camera image between two values, and the time from the
switch to the first ``TwistStamped`` that reflects it is measured through ROS -> bridge ->
websocket -> server -> bridge -> ROS (control loop at 200 Hz, so up to 5 ms of it is waiting
for the next control tick), next to the same policy called in-process.

    python scripts/bench_serve.py --requests 500 --out outputs/bench_serve.json
    python scripts/bench_serve.py --ros 1 --ros 2
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from hardware import wire
from hardware.client import PolicyClient

ROOT = Path(__file__).resolve().parents[1]


def make_obs(n_images: int, size: int = 224, seed: int = 0) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    obs: dict[str, Any] = {f"image_{i}": rng.integers(0, 256, (size, size, 3), dtype=np.uint8) for i in range(n_images)}
    obs["proprio"] = rng.standard_normal(8).astype(np.float32)
    obs["prompt"] = "put the red cube in the bowl"
    return obs


def percentile(xs: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(xs), q))


def run_cases(clients: dict[str, Any], obs: dict[str, Any], n: int, warmup: int, label: str) -> dict[str, dict[str, float]]:
    """Time ``n`` requests per client, interleaving the clients so that they see the same load."""
    names = list(clients)
    for _ in range(warmup):
        for name in names:
            clients[name].infer(obs)
    rtt: dict[str, list[float]] = {k: [] for k in names}
    server: dict[str, list[float]] = {k: [] for k in names}
    for i in tqdm(range(n), desc=label, leave=False, file=sys.stderr):
        for name in names[i % len(names):] + names[: i % len(names)]:
            t0 = time.perf_counter()
            out = clients[name].infer(obs)
            rtt[name].append((time.perf_counter() - t0) * 1000.0)
            server[name].append(float(out["server_timing"]["infer_ms"]))
    stats = {}
    for name in names:
        overhead = [r - s for r, s in zip(rtt[name], server[name])]
        stats[name] = {
            "rtt_median_ms": percentile(rtt[name], 50),
            "rtt_p99_ms": percentile(rtt[name], 99),
            "rtt_mean_ms": float(np.mean(rtt[name])),
            "policy_infer_median_ms": percentile(server[name], 50),
            "overhead_median_ms": percentile(overhead, 50),
            "overhead_p99_ms": percentile(overhead, 99),
            "throughput_rps": 1000.0 / float(np.mean(rtt[name])),
        }
    return stats


def codec_ms(obs: dict[str, Any], n: int = 200) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        wire.unpackb(wire.packb(obs))
    return (time.perf_counter() - t0) * 1000.0 / n


class ImageMeanPolicy:
    """Action = [mean of the camera image / 255, 0, ..., 0, 1] (a Policy without the import)."""

    horizon, action_dim = 1, 7

    def reset(self, instruction: str = "") -> None:
        pass

    def infer(self, obs: dict[str, Any]) -> np.ndarray:
        return np.array([[float(obs["cam"].mean()) / 255, 0, 0, 0, 0, 0, 1]], np.float32)

    def metadata(self) -> dict[str, Any]:
        return {"policy": "ImageMeanPolicy", "horizon": 1, "action_dim": 7}

    def last_infer_stats(self) -> dict[str, Any]:
        return {}


def start_server(spec: str) -> tuple[subprocess.Popen, str]:
    """``vla serve --policy SPEC --port 0`` in a subprocess; (process, ws:// url)."""
    server = subprocess.Popen([sys.executable, "-m", "policies.serve_cli", "--policy", spec, "--port", "0"],
                              cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = server.stdout.readline()
    if "serving" not in line:
        server.kill()
        raise RuntimeError(f"server did not start: {line}{server.stderr.read()}")
    return server, line.split()[3]


def fairness(latency_ms: float, n: int, size: int) -> dict[str, Any]:
    """A client's round trip alone and next to a client that sends requests without reading replies.

    The policy sleeps ``latency_ms`` per call (one inference at a time). Served in turn, the
    well-behaved client waits for at most one of the flooder's calls: ratio <= ~2 (the flooder
    always has its next request queued when the server finishes one of ours).
    """
    import threading

    from websockets.sync.client import connect

    server, url = start_server(f"constant:value=0.1,horizon=8,latency_ms={latency_ms}")
    obs = make_obs(2, size)
    stop = threading.Event()
    try:
        client = PolicyClient(url)

        def timed() -> list[float]:
            out = []
            for _ in tqdm(range(n), desc="fairness", leave=False, file=sys.stderr):
                t0 = time.perf_counter()
                client.infer(obs)
                out.append((time.perf_counter() - t0) * 1000.0)
            return out

        client.infer(obs)
        alone = timed()
        with connect(url, compression=None, max_size=None, close_timeout=0.1) as flood:
            flood.recv(timeout=10)
            data = wire.packb(obs)

            def flooding() -> None:
                try:
                    while not stop.is_set():
                        flood.send(data)
                except Exception:  # noqa: BLE001 - the server closed the socket at shutdown
                    pass

            t = threading.Thread(target=flooding, daemon=True)
            t.start()
            time.sleep(0.5)
            beside = timed()
            stop.set()
    finally:
        stop.set()
        server.terminate()
        server.wait(timeout=10)
    a, b = percentile(alone, 50), percentile(beside, 50)
    return {"policy_latency_ms": latency_ms, "requests": n, "alone_median_ms": a, "beside_flood_median_ms": b,
            "beside_flood_p99_ms": percentile(beside, 99), "ratio": b / a}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ros_latency(ros: str, toggles: int, size: int) -> dict[str, Any]:
    """Image switch -> first command reflecting it, through ROS, bridge and server (ms)."""
    from policies.server import PolicyServer

    env = {k: v for k, v in os.environ.items() if not k.startswith("ROS_")}
    env["PYTHONPATH"] = str(ROOT)
    master = None
    python = sys.executable
    if ros == "1":
        if shutil.which("rosmaster") is None:
            raise RuntimeError("ROS 1 not installed: run .ci/setup.d/50-ros1.sh")
        port = _free_port()
        env.update(ROS_MASTER_URI=f"http://127.0.0.1:{port}", ROS_HOSTNAME="127.0.0.1")
        master = subprocess.Popen(["rosmaster", "--core", "-p", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
    else:
        python = str(ROOT / ".venv-ros2" / "bin" / "python")
        if not Path(python).exists():
            raise RuntimeError("ROS 2 venv missing: run .ci/setup.d/51-ros2.sh")
        env.update(ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST", ROS_DOMAIN_ID=str(random.randint(101, 200)))
    server = PolicyServer(ImageMeanPolicy(), port=0).start()  # type: ignore[arg-type]
    tmp = Path(tempfile.mkdtemp(prefix="bench_ros_"))
    cfg = {
        "node_name": "vla_bench_bridge", "control_rate_hz": 200, "cameras": [{"key": "cam", "topic": "/cam"}],
        "obs_timeout_s": 0.5, "status_rate_hz": 0, "policy": {"server": server.url},
    }
    values = [20, 200]
    steps: list[dict[str, Any]] = [
        {"op": "stream", "kind": "image", "topic": "/cam", "fill": values[0], "shape": [size, size], "rate_hz": 100},
        {"op": "call", "name": "start", "timeout_s": 30},
        {"op": "wait_for", "count": 20},
    ]
    for i in range(toggles):
        steps += [
            {"op": "mark", "name": f"switch{i}"},
            {"op": "stream", "kind": "image", "topic": "/cam", "fill": values[(i + 1) % 2], "shape": [size, size], "rate_hz": 100},
            {"op": "sleep", "s": 0.15},
        ]
    (tmp / "cfg.json").write_text(json.dumps(cfg))
    (tmp / "sc.json").write_text(json.dumps({"steps": steps}))
    bridge = subprocess.Popen([python, "-m", "hardware.ros_bridge_cli", "--ros", ros, "--config", str(tmp / "cfg.json")],
                              cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        subprocess.run([python, "-m", "hardware.ros_probe", "--ros", ros, "--config", str(tmp / "cfg.json"),
                        "--scenario", str(tmp / "sc.json"), "--out", str(tmp / "rec.json")],
                       cwd=ROOT, env=env, check=True, timeout=300, capture_output=True)
    finally:
        bridge.terminate()
        bridge.wait(timeout=10)
        server.stop()
        if master is not None:
            master.terminate()
            master.wait(timeout=10)
    rec = json.loads((tmp / "rec.json").read_text())
    lat = []
    for i in range(toggles):
        t0, want = rec["marks"][f"switch{i}"], values[(i + 1) % 2] / 255
        hit = next((t for t, v in rec["twist"] if t > t0 and abs(v[0] - want) < 1e-4), None)
        if hit is not None:
            lat.append((hit - t0) * 1000.0)
    policy, obs = ImageMeanPolicy(), {"cam": np.full((size, size, 3), 20, np.uint8)}
    t0 = time.perf_counter()
    for _ in range(200):
        policy.infer(obs)
    in_process_ms = (time.perf_counter() - t0) * 1000.0 / 200
    return {
        "ros": ros, "image_size": size, "switches": toggles, "measured": len(lat),
        "switch_to_command_median_ms": percentile(lat, 50) if lat else None,
        "switch_to_command_p90_ms": percentile(lat, 90) if lat else None,
        "in_process_infer_ms": in_process_ms, "control_period_ms": 5.0,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--requests", type=int, default=300, help="timed requests per case (default 300)")
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--size", type=int, default=224, help="image side in pixels (default 224)")
    p.add_argument("--horizon", type=int, default=8, help="action chunk length of the served policy")
    p.add_argument("--ros", action="append", choices=["1", "2"], default=[], help="also measure the ROS path (repeatable)")
    p.add_argument("--switches", type=int, default=30, help="image switches for the ROS measurement")
    p.add_argument("--fair-latency-ms", type=float, default=50.0,
                   help="policy time per call in the fairness case (default 50; 0: skip the case)")
    p.add_argument("--out", default="outputs/bench_serve.json")
    args = p.parse_args(argv)
    if args.requests < 10:
        p.error("--requests must be >= 10")

    server, url = start_server(f"constant:value=0.1,horizon={args.horizon}")
    rows: list[dict[str, Any]] = []
    try:
        clients: dict[str, Any] = {"vla PolicyClient": PolicyClient(url)}
        try:
            from openpi_client.websocket_client_policy import WebsocketClientPolicy

            clients["openpi-client"] = WebsocketClientPolicy(host=url)
        except ImportError:
            print("openpi-client not installed: measuring our client only", file=sys.stderr)
        for n_images in (1, 2):
            obs = make_obs(n_images, args.size)
            size_kb = len(wire.packb(obs)) / 1024
            codec = codec_ms(obs)
            for name, stats in run_cases(clients, obs, args.requests, args.warmup, f"{n_images} img").items():
                rows.append({"client": name, "images": n_images, "message_kb": size_kb, "codec_ms": codec, **stats})
    finally:
        server.terminate()
        server.wait(timeout=10)

    header = f"{'client':<18} {'imgs':>4} {'KiB':>6} {'rtt med':>8} {'rtt p99':>8} {'policy':>7} {'overhd':>7} {'codec':>6} {'req/s':>7}"
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r['client']:<18} {r['images']:>4} {r['message_kb']:>6.0f} {r['rtt_median_ms']:>8.2f} {r['rtt_p99_ms']:>8.2f} "
            f"{r['policy_infer_median_ms']:>7.3f} {r['overhead_median_ms']:>7.2f} {r['codec_ms']:>6.2f} {r['throughput_rps']:>7.0f}"
        )
    print("(ms; overhead = round trip - policy time, median; target < 5 ms)")
    fair = fairness(args.fair_latency_ms, max(10, args.requests // 5), args.size) if args.fair_latency_ms > 0 else None
    if fair:
        print(f"fairness ({fair['policy_latency_ms']:.0f} ms policy): round trip median {fair['alone_median_ms']:.1f} ms "
              f"alone, {fair['beside_flood_median_ms']:.1f} ms beside a client that floods without reading "
              f"({fair['ratio']:.2f}x; served in turn: <= ~2x)")
    ros_rows = []
    for ros in args.ros:
        r = ros_latency(ros, args.switches, args.size)
        ros_rows.append(r)
        print(
            f"ROS {ros}: image switch -> first command through ROS + bridge + server: median "
            f"{r['switch_to_command_median_ms']:.1f} ms, p90 {r['switch_to_command_p90_ms']:.1f} ms "
            f"({r['measured']}/{r['switches']} switches; in-process policy call {r['in_process_infer_ms']:.3f} ms; "
            f"200 Hz control loop: 0-5 ms of it is tick wait)"
        )
    result = {
        "benchmark": "serve",
        "image_size": args.size,
        "requests": args.requests,
        "horizon": args.horizon,
        "machine": {"python": platform.python_version(), "cpu": platform.processor() or platform.machine()},
        "rows": rows,
        "ros": ros_rows,
        "fairness": fair,
        "target_overhead_ms": 5.0,
        "meets_target": all(r["overhead_median_ms"] < 5.0 for r in rows),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
