"""HTTP load generator for the model server's upload API (or any multipart endpoint).

Two modes:
- closed loop (default): `--concurrency N` clients, each sends its next request as soon as
  the previous one is answered, for `--duration S` seconds (with `--obey-retry-after`, a
  client answered 503 with Retry-After waits that long first, as a well-behaved one does);
- fixed arrival rate: `--rate R` requests per second whatever the answers do (open loop),
  which shows queueing and shedding honestly; at most `--concurrency` are in flight, and
  arrivals beyond that are counted as `dropped` by the client.

Prints live progress to stderr, a summary to stdout, and writes JSON with `--json`.
Latency percentiles are over successful (2xx) answers; every answer is counted by status.
Answers shed with 503 are reported apart: how many, how many carried Retry-After, and how
fast they came (an overloaded server should refuse at once, not after a wait). Throughput
counts 2xx answers only: it is the goodput.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import statistics
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp


@dataclass
class Results:
    latencies_ok: list[float] = field(default_factory=list)
    latencies_shed: list[float] = field(default_factory=list)  # 503 answers
    shed_with_retry_after: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None
    first_failure: str | None = None  # what went wrong first, for a run where nothing works

    def note_answer(self, status: int, body: bytes) -> None:
        if status >= 300 and self.first_failure is None:
            text = " ".join(body.decode(errors="replace").split())
            self.first_failure = f"HTTP {status}: {text[:300]}"

    def note_error(self, error: str) -> None:
        self.first_failure = self.first_failure or error

    def record(self, status: str, latency: float, retry_after: str | None = None) -> None:
        self.statuses[status] += 1
        if status.startswith("2"):
            self.latencies_ok.append(latency)
        elif status == "503":
            self.latencies_shed.append(latency)
            self.shed_with_retry_after += retry_after is not None

    @property
    def completed(self) -> int:
        return sum(n for status, n in self.statuses.items() if status != "dropped")

    def summary(self, config: dict[str, object]) -> dict[str, object]:
        elapsed = (self.finished or time.monotonic()) - self.started
        ok = len(self.latencies_ok)
        return {
            **config,
            "elapsed_s": round(elapsed, 3),
            "requests": self.completed,
            "ok": ok,
            "first_failure": self.first_failure,
            "throughput_rps": round(ok / elapsed, 2) if elapsed else 0.0,
            "attempted_rps": round(self.completed / elapsed, 2) if elapsed else 0.0,
            "latency_ms": latency_summary(self.latencies_ok),
            "shed": {
                "count": len(self.latencies_shed),
                "with_retry_after": self.shed_with_retry_after,
                "latency_ms": latency_summary(self.latencies_shed),
            },
            "status_counts": dict(sorted(self.statuses.items())),
        }

    def raw(self) -> dict[str, list[float]]:
        """Every latency in seconds, for merging the results of several client processes."""
        return {"ok_s": self.latencies_ok, "shed_s": self.latencies_shed}


def latency_summary(latencies: list[float]) -> dict[str, float | None]:
    if not latencies:
        return {"p50": None, "p95": None, "p99": None, "mean": None, "max": None}
    ms = sorted(x * 1000 for x in latencies)
    cuts = statistics.quantiles(ms, n=100, method="inclusive") if len(ms) > 1 else ms * 99
    return {
        "p50": round(cuts[49], 2),
        "p95": round(cuts[94], 2),
        "p99": round(cuts[98], 2),
        "mean": round(statistics.fmean(ms), 2),
        "max": round(ms[-1], 2),
    }


class MultipartBody:
    """The request body, encoded once and reused (the images cycle round-robin)."""

    def __init__(self, images: list[bytes], field_name: str) -> None:
        self.boundary = uuid.uuid4().hex
        self.content_type = f"multipart/form-data; boundary={self.boundary}"
        self.bodies = [self._encode(image, field_name) for image in images]
        self._next = 0

    def _encode(self, image: bytes, field_name: str) -> bytes:
        head = (
            f"--{self.boundary}\r\n"
            f'Content-Disposition: form-data; name="{field_name}"; filename="image"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        return head + image + f"\r\n--{self.boundary}--\r\n".encode()

    def next(self) -> bytes:
        body = self.bodies[self._next % len(self.bodies)]
        self._next += 1
        return body


async def send_one(
    session: aiohttp.ClientSession, url: str, body: MultipartBody, results: Results
) -> float:
    """Send one request and record its answer; return the Retry-After of a 503 (0 if none)."""
    started = time.monotonic()
    retry_after = None
    try:
        async with session.post(
            url, data=body.next(), headers={"Content-Type": body.content_type}
        ) as response:
            results.note_answer(response.status, await response.read())
            status = str(response.status)
            retry_after = response.headers.get("Retry-After")
    except TimeoutError:
        results.note_error(f"no answer within the --timeout of {session.timeout.total:g}s")
        status = "timeout"
    except aiohttp.ClientError as exc:
        results.note_error(f"{type(exc).__name__}: {exc}")
        status = type(exc).__name__
    results.record(status, time.monotonic() - started, retry_after)
    if status == "503" and retry_after and retry_after.isdigit():
        return float(retry_after)
    return 0.0


async def closed_loop(
    session, url, body, results, concurrency: int, deadline: float, obey_retry_after: bool = False
) -> None:
    async def client() -> None:
        while time.monotonic() < deadline:
            pause = await send_one(session, url, body, results)
            if obey_retry_after and pause:
                await asyncio.sleep(min(pause, max(0.0, deadline - time.monotonic())))

    await asyncio.gather(*(client() for _ in range(concurrency)))


async def fixed_rate(
    session, url, body, results, rate: float, max_inflight: int, deadline: float
) -> None:
    inflight: set[asyncio.Task[None]] = set()
    interval = 1.0 / rate
    next_at = time.monotonic()
    while next_at < deadline:
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))
        next_at += interval
        if len(inflight) >= max_inflight:
            results.statuses["dropped"] += 1
            continue
        task = asyncio.create_task(send_one(session, url, body, results))
        inflight.add(task)
        task.add_done_callback(inflight.discard)
    if inflight:
        await asyncio.wait(inflight)


async def progress(results: Results, duration: float, stream) -> None:
    last_count, last_time = 0, time.monotonic()
    while True:
        await asyncio.sleep(1.0)
        now = time.monotonic()
        count = results.completed
        errors = count - len(results.latencies_ok)
        window = results.latencies_ok[-max(1, count - last_count) :]
        p50 = latency_summary(window)["p50"] if window else "-"
        stream.write(
            f"\r[{now - results.started:5.1f}/{duration:g}s] {count} done, "
            f"{(count - last_count) / (now - last_time):7.1f} req/s, recent p50 {p50} ms, "
            f"{errors} not 2xx   "
        )
        stream.flush()
        last_count, last_time = count, now


async def run(args: argparse.Namespace, images: list[bytes]) -> dict[str, object]:
    """Run the load `args` describe; the summary (with every latency under "raw" when
    args.raw)."""
    body = MultipartBody(images, args.field)
    timeout = aiohttp.ClientTimeout(total=args.timeout)
    connector = aiohttp.TCPConnector(limit=args.concurrency, force_close=False)
    config = {
        "url": args.url,
        "mode": "fixed-rate" if args.rate else "closed-loop",
        "concurrency": args.concurrency,
        "rate": args.rate,
        "duration_s": args.duration,
        "images": len(images),
        "image_bytes": sum(len(i) for i in images) // len(images),
    }
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        if args.warmup > 0:
            await closed_loop(
                session, args.url, body, Results(), args.concurrency, time.monotonic() + args.warmup
            )
        results = Results()
        deadline = results.started + args.duration
        reporter = asyncio.create_task(progress(results, args.duration, sys.stderr))
        try:
            if args.rate:
                await fixed_rate(
                    session, args.url, body, results, args.rate, args.concurrency, deadline
                )
            else:
                await closed_loop(
                    session,
                    args.url,
                    body,
                    results,
                    args.concurrency,
                    deadline,
                    getattr(args, "obey_retry_after", False),
                )
        finally:
            results.finished = time.monotonic()
            reporter.cancel()
            sys.stderr.write("\n")
    summary = results.summary(config)
    if getattr(args, "raw", False):
        summary["raw"] = results.raw()
    return summary


def synthetic_jpeg(width: int = 640, height: int = 480) -> bytes:
    """A photo-sized JPEG (about 80 KB) for when no --image is given."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    ys, xs = np.mgrid[0:height, 0:width]
    pixels = np.stack([xs % 256, ys % 256, (xs + ys) % 256], axis=-1).astype(np.float32)
    pixels += rng.normal(0, 12, pixels.shape)
    buffer = io.BytesIO()
    Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("url", help="e.g. http://127.0.0.1:8080/predict")
    parser.add_argument(
        "--concurrency",
        "-c",
        type=int,
        default=8,
        help="clients (closed loop) or the most requests in flight (--rate)",
    )
    parser.add_argument("--duration", "-d", type=float, default=30, help="seconds to measure")
    parser.add_argument(
        "--rate",
        "-r",
        type=float,
        default=None,
        help="fixed arrival rate in requests/s (open loop)",
    )
    parser.add_argument(
        "--warmup", type=float, default=0, help="seconds of closed-loop load before measuring"
    )
    parser.add_argument(
        "--image",
        action="append",
        type=Path,
        default=[],
        help="image file to upload (repeatable; default: a synthetic JPEG)",
    )
    parser.add_argument("--field", default="file", help="multipart field name")
    parser.add_argument("--timeout", type=float, default=60, help="per-request timeout, s")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument(
        "--obey-retry-after",
        action="store_true",
        help="closed loop: after a 503 with Retry-After a client waits that long, as a "
        "well-behaved client does (by default it sends its next request at once)",
    )
    parser.add_argument(
        "--raw",
        action="store_true",
        help="put every latency in the JSON too (to merge several client processes)",
    )


def main(args: argparse.Namespace) -> int:
    if args.concurrency < 1 or args.duration <= 0 or (args.rate is not None and args.rate <= 0):
        print("loadtest: --concurrency, --duration and --rate must be positive", file=sys.stderr)
        return 2
    missing = [str(p) for p in args.image if not p.is_file()]
    if missing:
        print(f"loadtest: no such image file: {', '.join(missing)}", file=sys.stderr)
        return 2
    images = [p.read_bytes() for p in args.image] or [synthetic_jpeg()]
    summary = asyncio.run(run(args, images))
    if summary["ok"]:
        print(format_summary(summary))
    else:
        print(nothing_succeeded(summary), file=sys.stderr)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(summary, indent=2) + "\n")
    return 0 if summary["ok"] else 1


def format_summary(summary: dict) -> str:
    latency, shed = summary["latency_ms"], summary["shed"]
    load = (
        f"rate {summary['rate']:g}/s"
        if summary["rate"]
        else f"concurrency {summary['concurrency']}"
    )
    return "\n".join(
        [
            f"{summary['mode']} against {summary['url']}, {load}, {summary['elapsed_s']:.1f}s",
            f"  throughput   {summary['throughput_rps']:.1f} ok/s "
            f"({summary['requests']} requests, {summary['ok']} ok)",
            f"  latency ms   p50 {latency['p50']}  p95 {latency['p95']}  p99 {latency['p99']}"
            f"  max {latency['max']}",
            f"  shed (503)   {shed['count']}, {shed['with_retry_after']} with Retry-After, "
            f"ms p50 {shed['latency_ms']['p50']}  p99 {shed['latency_ms']['p99']}",
            f"  by status    {summary['status_counts']}",
        ]
    )


def nothing_succeeded(summary: dict) -> str:
    """The report of a run without one 2xx answer: no latencies to show, but the cause."""
    counts = ", ".join(f"{n} {status}" for status, n in summary["status_counts"].items())
    return "\n".join(
        [
            f"loadtest: none of {summary['requests']} requests to {summary['url']} succeeded "
            f"in {summary['elapsed_s']:.1f}s ({counts or 'no request was sent'})",
            f"  first failure: {summary['first_failure'] or 'none recorded'}",
            "  is the server up and ready, and the URL its upload endpoint "
            "(e.g. http://127.0.0.1:8080/predict)?",
        ]
    )
