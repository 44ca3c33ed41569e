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
import sys
from pathlib import Path

from harness import BATCHED, NAIVE, batch_stats, loadtest, mean_batch, start, stop

SERVERS = {"naive": NAIVE, "batched": BATCHED}


def measure(name: str, levels: list[int], args: argparse.Namespace) -> dict[int, dict]:
    proc, url = start(SERVERS[name], args.weights)
    results = {}
    try:
        for concurrency in levels:
            before = batch_stats(url)
            result = loadtest(
                url,
                concurrency=concurrency,
                duration=args.duration,
                warmup=args.warmup,
                images=args.image,
            )
            batch = mean_batch(before, batch_stats(url))  # includes this level's warm-up
            if batch is not None:
                result["mean_batch_size"] = batch
            results[concurrency] = result
            print(
                f"{name:8s} c={concurrency:<4d} {result['throughput_rps']:8.1f} img/s  "
                f"p99 {result['latency_ms']['p99']} ms",
                file=sys.stderr,
            )
    finally:
        stop(proc)
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
