"""Benchmark: the batched model server against the naive baseline, same model, same load.

Starts each server in turn on 127.0.0.1 (never both at once), waits for /ready, runs the
repository's load generator (`python -m tools loadtest`, its own process) at each
concurrency, stops the server, and prints throughput, p50/p99 and the ratios. The batched
server's mean batch size per run comes from its own /metrics.

    python model-server/benchmarks/compare.py --concurrency 8 --duration 30
    python model-server/benchmarks/compare.py --concurrency 1,16,64,256 --weights imagenet

The servers inherit this environment (DEVICE, MAX_BATCH_SIZE, ... for the batched one).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

REPO = Path(__file__).resolve().parents[2]
SERVERS = {
    "naive": [sys.executable, str(REPO / "model-server/benchmarks/naive_server.py")],
    "batched": [sys.executable, "-m", "model_server"],
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(name: str, weights: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {
        **os.environ,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "MODEL_WEIGHTS": weights,
        "LOG_LEVEL": "warning",
        "SHUTDOWN_DELAY_SECONDS": "0",
    }
    proc = subprocess.Popen(SERVERS[name], env=env, cwd=REPO)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{name} server exited with {proc.returncode}")
        try:
            if httpx.get(f"{url}/ready", timeout=1).status_code == 200:
                return proc, url
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"{name} server not ready after 300s")


def batch_stats(url: str) -> tuple[float, float]:
    """(batches, images) so far, from inference_batch_size; (0, 0) for the baseline."""
    response = httpx.get(f"{url}/metrics", timeout=5)
    text = response.text if response.status_code == 200 else ""
    values = {
        s.name: s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name in ("inference_batch_size_count", "inference_batch_size_sum")
    }
    return values.get("inference_batch_size_count", 0.0), values.get(
        "inference_batch_size_sum", 0.0
    )


def load(url: str, concurrency: int, args: argparse.Namespace) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        command = [
            sys.executable,
            "-m",
            "tools",
            "loadtest",
            f"{url}/predict",
            "--concurrency",
            str(concurrency),
            "--duration",
            str(args.duration),
            "--warmup",
            str(args.warmup),
            "--json",
            out.name,
        ]
        for image in args.image:
            command += ["--image", str(image)]
        subprocess.run(command, cwd=REPO, check=True, stdout=subprocess.DEVNULL)
        return json.loads(Path(out.name).read_text())


def measure(name: str, levels: list[int], args: argparse.Namespace) -> dict[int, dict]:
    proc, url = start(name, args.weights)
    results = {}
    try:
        for concurrency in levels:
            batches0, images0 = batch_stats(url)
            result = load(url, concurrency, args)
            batches1, images1 = batch_stats(url)
            if batches1 > batches0:  # includes the warm-up seconds of this level
                result["mean_batch_size"] = round((images1 - images0) / (batches1 - batches0), 2)
            results[concurrency] = result
            print(
                f"{name:8s} c={concurrency:<4d} {result['throughput_rps']:8.1f} img/s  "
                f"p99 {result['latency_ms']['p99']} ms",
                file=sys.stderr,
            )
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrency", default="8", help="one level or a comma list")
    parser.add_argument("--duration", type=float, default=30, help="seconds per measurement")
    parser.add_argument("--warmup", type=float, default=5, help="seconds of load before each")
    parser.add_argument("--weights", default="random", help="MODEL_WEIGHTS for both servers")
    parser.add_argument("--image", action="append", default=[], help="image(s) to upload")
    parser.add_argument("--json", type=Path, default=None, help="write all results here")
    args = parser.parse_args()
    levels = [int(level) for level in args.concurrency.split(",")]

    runs = {name: measure(name, levels, args) for name in ("naive", "batched")}
    print(
        f"\n{'conc':>5} {'naive img/s':>12} {'batched img/s':>14} {'ratio':>6} "
        f"{'naive p99 ms':>13} {'batched p99 ms':>15} {'p99 ratio':>9} {'mean batch':>10}"
    )
    rows = []
    for level in levels:
        naive, batched = runs["naive"][level], runs["batched"][level]
        if not (naive["ok"] and batched["ok"]):
            print(
                f"{level:5d} no successful answers (naive {naive['status_counts']}, "
                f"batched {batched['status_counts']})"
            )
            continue
        ratio = batched["throughput_rps"] / naive["throughput_rps"]
        p99_ratio = batched["latency_ms"]["p99"] / naive["latency_ms"]["p99"]
        rows.append(
            {
                "concurrency": level,
                "throughput_ratio": round(ratio, 2),
                "p99_ratio": round(p99_ratio, 2),
                "naive": naive,
                "batched": batched,
            }
        )
        print(
            f"{level:5d} {naive['throughput_rps']:12.1f} {batched['throughput_rps']:14.1f} "
            f"{ratio:5.2f}x {naive['latency_ms']['p99']:13.1f} "
            f"{batched['latency_ms']['p99']:15.1f} {p99_ratio:8.2f}x "
            f"{batched.get('mean_batch_size', '-'):>10}"
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        machine = {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "device": os.environ.get("DEVICE", "auto"),
        }
        args.json.write_text(json.dumps({"machine": machine, "runs": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
