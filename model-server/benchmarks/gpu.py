"""Benchmark for one GPU, in about five minutes: this server against the model alone, against
the naive baseline, and against the load generator's own ceiling.

1. Model only: Swin-T as the server configures it (MODEL_DTYPE, MODEL_COMPILE, MAX_BATCH_SIZE,
   BATCH_BUCKETS from this environment), input already on the device, for each batch size
   it builds: images per second. The best is the ceiling.
2. Client ceiling: the load generator, with as many client processes as the server runs
   get, against a server that answers every upload at once (sink_server.py, several
   workers): the most this client can measure.
3. This server, end to end, at each concurrency (1, 16, 64, 256, 1024), with a profile of
   where its time goes: the event-loop thread's CPU (HTTP, multipart, routing), the other
   threads' (decode, batch feeder, model), the share of time the model ran batches, the batch
   size and the queue wait.
4. The naive baseline (naive_server.py) at the same concurrencies.
5. Open loop at twice this server's best throughput: goodput, latency of the answered,
   what was shed.

Prints a table and the acceptance checks, writes JSON (--json) and an SVG plot of
throughput against p99 latency (--plot).

    python model-server/benchmarks/gpu.py --json results/gpu.json --plot results/gpu.svg
    python model-server/benchmarks/gpu.py --smoke   # any machine, about a minute: it runs

Both servers inherit this environment. The compile budget defaults to 60 s here (the
server's own default is 180 s) so that the run fits in five minutes; set
COMPILE_BUDGET_SECONDS to change it.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import platform
import sys
import time
from importlib.metadata import version
from pathlib import Path

import psutil
from harness import BATCHED, NAIVE, REPO, loadtest_from, scrape, start, stop
from svg_plot import throughput_p99

# The acceptance targets of the GPU run.
NAIVE_FACTOR = 10.0  # end-to-end throughput at concurrency 256 over the naive baseline's
CEILING_SHARE = 0.4  # ... and over the model-only ceiling
P50_AT_1_MS = 10.0  # p50 latency at concurrency 1
TARGET_LEVEL = 256


def model_ceiling(seconds: float) -> dict:
    """Images per second of the model alone, per built batch size, as the server sets it up."""
    import numpy as np
    import torch

    from model_server.config import Settings, resolve
    from model_server.model import cuda_selected, load_classifier

    settings = Settings(model_weights="random")  # the weights do not change the speed
    tuning = resolve(settings, cuda=cuda_selected(settings.device))
    classifier = load_classifier(settings, tuning)
    sizes = sorted({1, tuning.max_batch_size, *tuning.batch_buckets})
    started = time.monotonic()
    classifier.warm_up(sizes)
    build_s = time.monotonic() - started
    rows = []
    with torch.inference_mode():
        for size in sizes:
            prepared = classifier.prepare([np.zeros((224, 224, 3), np.uint8)] * size)
            classifier.run(prepared)
            done, began = 0, time.perf_counter()
            while time.perf_counter() - began < seconds:
                classifier.run(prepared)  # ends with the top-k on the host: synchronised
                done += size
            rate = done / (time.perf_counter() - began)
            rows.append({"batch_size": size, "images_per_s": round(rate, 1)})
            print(f"model only: batch {size:4d} {rate:9.1f} img/s", file=sys.stderr)
    result = {
        "device": classifier.device.type,
        "dtype": str(classifier.dtype).removeprefix("torch."),
        "compile": tuning.compile,
        "buckets_built": list(classifier.runner.buckets),
        "build_s": round(build_s, 1),
        "by_batch_size": rows,
        "ceiling_images_per_s": max(row["images_per_s"] for row in rows),
    }
    del classifier, prepared
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()  # the server about to start needs the memory
    return result


def client_ceiling(args: argparse.Namespace) -> dict:
    workers = str(max(2, (os.cpu_count() or 2) // 2))
    sink = [sys.executable, str(REPO / "model-server/benchmarks/sink_server.py"), workers]
    proc, url = start(sink, "random")
    try:
        level = max(args.levels)
        return loadtest_from(
            clients_for(level, args), url, concurrency=level, duration=args.duration
        )
    finally:
        stop(proc)


def clients_for(level: int, args: argparse.Namespace) -> int:
    return 1 if level < 64 else args.clients


class Profile:
    """Where one server process spends its time over a stretch of load."""

    def __init__(self, proc: psutil.Process, url: str) -> None:
        self.proc, self.url = proc, url
        self.started = time.monotonic()
        self.loop_cpu, self.all_cpu = self._cpu()
        self.metrics = scrape(url)

    def _cpu(self) -> tuple[float, float]:
        # On Linux the main thread's id is the process id; it runs the event loop.
        threads = {t.id: t.user_time + t.system_time for t in self.proc.threads()}
        times = self.proc.cpu_times()
        return threads.get(self.proc.pid, 0.0), times.user + times.system

    def finish(self, decode_threads: int) -> dict:
        elapsed = time.monotonic() - self.started
        loop_cpu, all_cpu = self._cpu()
        after = scrape(self.url)

        def delta(name: str) -> float:
            return after.get(name, 0.0) - self.metrics.get(name, 0.0)

        def mean_ms(name: str) -> float | None:
            count = delta(f"{name}_count")
            return round(1000 * delta(f"{name}_sum") / count, 2) if count else None

        batches = delta("inference_batch_size_count")
        loop_share = (loop_cpu - self.loop_cpu) / elapsed
        profile = {
            "event_loop_cpu": round(loop_share, 2),  # of one core
            "other_threads_cpu": round((all_cpu - self.all_cpu) / elapsed - loop_share, 2),
            "model_busy": round(delta("inference_compute_seconds_sum") / elapsed, 2),
            "prepare_busy": round(delta("inference_prepare_seconds_sum") / elapsed, 2),
            "mean_batch": round(delta("inference_batch_size_sum") / batches, 1)
            if batches
            else None,
            "queue_wait_ms": mean_ms("inference_queue_wait_seconds"),
            "compute_ms": mean_ms("inference_compute_seconds"),
            "prepare_ms": mean_ms("inference_prepare_seconds"),
        }
        profile["limit"] = verdict(profile, decode_threads)
        return profile


def verdict(profile: dict, decode_threads: int) -> str:
    """The stage that bounds the throughput, from the busiest resource."""
    if profile["model_busy"] >= 0.85:
        return "the model: compute on the device"
    if profile["prepare_busy"] >= 0.85:
        return "batch preparation (copy, GPU decode)"
    if profile["event_loop_cpu"] >= 0.85:
        return "the event loop: HTTP and multipart parsing in one process"
    if profile["other_threads_cpu"] >= 0.85 * decode_threads:
        return "the decode threads"
    return "none saturated: latency-bound (too few requests in flight) or the client"


def serve_levels(name: str, command: list[str], args: argparse.Namespace) -> dict[int, dict]:
    proc, url = start(command, args.weights)
    decode_threads = int(os.environ.get("DECODE_THREADS", os.cpu_count() or 1))
    results: dict[int, dict] = {}
    try:
        process = psutil.Process(proc.pid)
        for level in args.levels:
            profile = Profile(process, url) if name == "server" else None
            # Clients told to retry later do so: 1024 clients that resend a refused request
            # at once would measure a storm of 503s, not the server.
            result = loadtest_from(
                clients_for(level, args),
                url,
                concurrency=level,
                duration=args.duration,
                warmup=args.warmup,
                obey_retry_after=True,
            )
            if profile:
                result["profile"] = profile.finish(decode_threads)
            results[level] = result
            print(
                f"{name:7s} c={level:<5d} {result['throughput_rps']:9.1f} img/s  "
                f"p50 {result['latency_ms']['p50']} p99 {result['latency_ms']['p99']} ms"
                + (f"  limit: {result['profile']['limit']}" if profile else ""),
                file=sys.stderr,
            )
        if name == "server":
            best = max(r["throughput_rps"] for r in results.values())
            rate = 2 * best
            results["overload"] = loadtest_from(
                args.clients, url, concurrency=4096, duration=args.duration, rate=rate
            )
    finally:
        stop(proc)
    return results


def checks(report: dict, levels: list[int]) -> list[dict]:
    server, naive = report["server"], report["naive"]
    ceiling = report["model"]["ceiling_images_per_s"]
    found = []
    if TARGET_LEVEL in levels:
        ours, theirs = server[TARGET_LEVEL]["throughput_rps"], naive[TARGET_LEVEL]["throughput_rps"]
        found.append(
            (
                f"c={TARGET_LEVEL}: >= {NAIVE_FACTOR:g}x the naive baseline",
                ours >= NAIVE_FACTOR * theirs,
                f"{ours:.0f} vs {theirs:.0f} img/s ({ours / max(theirs, 1e-9):.1f}x)",
            )
        )
        found.append(
            (
                f"c={TARGET_LEVEL}: >= {CEILING_SHARE:.0%} of the model-only ceiling",
                ours >= CEILING_SHARE * ceiling,
                f"{ours:.0f} vs {ceiling:.0f} img/s ({ours / ceiling:.0%})",
            )
        )
    if 1 in levels:
        p50 = server[1]["latency_ms"]["p50"] or math.inf
        found.append((f"c=1: p50 < {P50_AT_1_MS:g} ms", p50 < P50_AT_1_MS, f"{p50} ms"))
    best = max(r["throughput_rps"] for level, r in server.items() if level != "overload")
    client = report["client_ceiling"]["throughput_rps"]
    found.append(
        (
            "the client is not the limit (its ceiling is above the server's best)",
            client > 1.2 * best,
            f"client {client:.0f} req/s vs server {best:.0f}; raise --clients if not",
        )
    )
    return [{"check": name, "passed": ok, "measured": text} for name, ok, text in found]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--levels", default="1,16,64,256,1024", help="concurrencies")
    parser.add_argument("--duration", type=float, default=8, help="seconds per measurement")
    parser.add_argument("--warmup", type=float, default=2, help="seconds of load before each")
    parser.add_argument("--clients", type=int, default=4, help="client processes from c=64")
    parser.add_argument("--model-seconds", type=float, default=2, help="per model-only size")
    parser.add_argument("--weights", default="random", help="MODEL_WEIGHTS for both servers")
    parser.add_argument("--json", type=Path, default=None, help="write all results here")
    parser.add_argument("--plot", type=Path, default=None, help="write the SVG plot here")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="a short run on any machine (levels 1,4; 2 s each): proves the script works",
    )
    args = parser.parse_args()
    if args.smoke:
        args.levels, args.duration, args.warmup = "1,4", 2.0, 0.5
        args.clients, args.model_seconds = 2, 0.5
    args.levels = [int(level) for level in args.levels.split(",")]
    os.environ.setdefault("COMPILE_BUDGET_SECONDS", "60")

    started = time.monotonic()
    report: dict = {
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "torch": version("torch"),
            "torchvision": version("torchvision"),
            "env": {k: v for k, v in os.environ.items() if k in SERVER_SETTINGS},
        }
    }
    report["model"] = model_ceiling(args.model_seconds)
    report["client_ceiling"] = client_ceiling(args)
    report["server"] = serve_levels("server", BATCHED, args)
    report["naive"] = serve_levels("naive", NAIVE, args)
    report["elapsed_s"] = round(time.monotonic() - started, 1)

    model = report["model"]
    print(
        f"\nmodel only ({model['device']}, {model['dtype']}, MODEL_COMPILE={model['compile']}, "
        f"built {model['buckets_built']} in {model['build_s']} s): ceiling "
        f"{model['ceiling_images_per_s']:.0f} img/s; client ceiling "
        f"{report['client_ceiling']['throughput_rps']:.0f} req/s"
    )
    print(
        f"{'conc':>5} {'server img/s':>12} {'p50 ms':>8} {'p99 ms':>8} {'naive img/s':>11} "
        f"{'p50 ms':>8} {'p99 ms':>8} {'ratio':>6} {'batch':>6}  limit"
    )
    for level in args.levels:
        ours, theirs = report["server"][level], report["naive"][level]
        profile = ours["profile"]
        print(
            f"{level:5d} {ours['throughput_rps']:12.1f} {ours['latency_ms']['p50'] or 0:8.1f} "
            f"{ours['latency_ms']['p99'] or 0:8.1f} {theirs['throughput_rps']:11.1f} "
            f"{theirs['latency_ms']['p50'] or 0:8.1f} {theirs['latency_ms']['p99'] or 0:8.1f} "
            f"{ours['throughput_rps'] / max(theirs['throughput_rps'], 1e-9):5.1f}x "
            f"{profile['mean_batch'] or '-':>6}  {profile['limit']}"
        )
    flooded = report["server"]["overload"]
    print(
        f"open loop at {flooded['rate']:.0f}/s: goodput {flooded['throughput_rps']:.0f}/s, "
        f"p99 answered {flooded['latency_ms']['p99']} ms, shed {flooded['shed']['count']} "
        f"(p99 {flooded['shed']['latency_ms']['p99']} ms)"
    )
    report["checks"] = checks(report, args.levels)
    for check in report["checks"]:
        print(f"{'PASS' if check['passed'] else 'FAIL'}  {check['check']}: {check['measured']}")
    print(f"total {report['elapsed_s']} s")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    if args.plot:
        series = {
            name: [
                (run["throughput_rps"], run["latency_ms"]["p99"] or 0)
                for level, run in report[name].items()
                if level != "overload"
            ]
            for name in ("server", "naive")
        }
        throughput_p99(series, args.plot)
    return 0


# The settings recorded with the results (the rest of the environment is not).
SERVER_SETTINGS = {
    "DEVICE", "MODEL_DTYPE", "MAX_BATCH_SIZE", "MAX_BATCH_WAIT_MS", "MAX_QUEUE_DELAY_MS",
    "MAX_QUEUE_SIZE", "DECODE_THREADS", "MODEL_COMPILE", "BATCH_BUCKETS",
    "COMPILE_BUDGET_SECONDS", "PIPELINE", "JPEG_DECODE", "NAIVE_THREADS",
}  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
