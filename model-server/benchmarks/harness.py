"""What the benchmarks share: start a server process and wait for /ready, run the
repository's load generator against it in its own process, read the server's batch sizes.

Imported by the scripts beside it (run as `python model-server/benchmarks/<script>.py`).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))  # the repository's tools package, for the latency summary
from tools.loadtest import latency_summary  # noqa: E402

NAIVE = [sys.executable, str(REPO / "model-server/benchmarks/naive_server.py")]
BATCHED = [sys.executable, "-m", "model_server"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(
    command: list[str],
    weights: str,
    *,
    cwd: Path = REPO,
    env: dict[str, str] | None = None,
    ready_timeout_s: float = 600,
) -> tuple[subprocess.Popen[bytes], str]:
    """Start a server on a free port of 127.0.0.1; return it and its URL once /ready is 200.
    It inherits this environment, then `env`."""
    port = free_port()
    full_env = {
        **os.environ,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "MODEL_WEIGHTS": weights,
        "LOG_LEVEL": "warning",
        "SHUTDOWN_DELAY_SECONDS": "0",
        **(env or {}),
    }
    proc = subprocess.Popen(command, env=full_env, cwd=cwd)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + ready_timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{' '.join(command)} exited with {proc.returncode}")
        try:
            if httpx.get(f"{url}/ready", timeout=1).status_code == 200:
                return proc, url
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    stop(proc)
    raise SystemExit(f"{' '.join(command)} not ready after {ready_timeout_s:g}s")


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def scrape(url: str) -> dict[str, float]:
    """The server's unlabelled series (and the sums of labelled ones) by name; {} for a
    server without /metrics, like the baseline."""
    response = httpx.get(f"{url}/metrics", timeout=5)
    if response.status_code != 200:
        return {}
    values: dict[str, float] = {}
    for family in text_string_to_metric_families(response.text):
        for s in family.samples:
            values[s.name] = values.get(s.name, 0.0) + s.value
    return values


def rejections(url: str) -> Counter[str]:
    """inference_requests_rejected_total by reason, so far."""
    response = httpx.get(f"{url}/metrics", timeout=5)
    counts: Counter[str] = Counter()
    if response.status_code == 200:
        for family in text_string_to_metric_families(response.text):
            for s in family.samples:
                if s.name == "inference_requests_rejected_total":
                    counts[s.labels["reason"]] += int(s.value)
    return counts


def batch_stats(url: str) -> tuple[float, float]:
    """(batches, images) so far, from inference_batch_size; (0, 0) for the baseline."""
    values = scrape(url)
    return values.get("inference_batch_size_count", 0.0), values.get(
        "inference_batch_size_sum", 0.0
    )


def mean_batch(before: tuple[float, float], after: tuple[float, float]) -> float | None:
    batches, images = after[0] - before[0], after[1] - before[1]
    return round(images / batches, 2) if batches else None


def loadtest(
    url: str,
    *,
    concurrency: int,
    duration: float,
    warmup: float = 0,
    rate: float | None = None,
    images: list[str] | None = None,
    raw: bool = False,
    obey_retry_after: bool = False,
    quiet: bool = True,
) -> dict:
    """One run of `python -m tools loadtest` against url/predict; its JSON summary."""
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
            str(duration),
            "--warmup",
            str(warmup),
            "--json",
            out.name,
        ]
        if rate:
            command += ["--rate", str(rate)]
        if raw:
            command.append("--raw")
        if obey_retry_after:
            command.append("--obey-retry-after")
        for image in images or []:
            command += ["--image", str(image)]
        subprocess.run(
            command,
            cwd=REPO,
            check=False,  # a run with no 2xx answer exits 1; the summary says why
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL if quiet else None,
        )
        return json.loads(Path(out.name).read_text())


def loadtest_from(
    processes: int, url: str, *, concurrency: int, rate: float | None = None, **options
) -> dict:
    """loadtest() from several client processes at once (one process cannot generate the
    load a GPU server takes), the concurrency and rate shared between them; one merged
    summary, percentiles over every latency."""
    processes = max(1, min(processes, concurrency))
    shares = [concurrency // processes + (i < concurrency % processes) for i in range(processes)]
    with ThreadPoolExecutor(processes) as pool:
        parts = list(
            pool.map(
                lambda share: loadtest(
                    url,
                    concurrency=share,
                    rate=rate / processes if rate else None,
                    raw=True,
                    **options,
                ),
                shares,
            )
        )
    return merge(parts, concurrency, rate)


def merge(parts: list[dict], concurrency: int, rate: float | None) -> dict:
    ok = [latency for part in parts for latency in part["raw"]["ok_s"]]
    shed = [latency for part in parts for latency in part["raw"]["shed_s"]]
    statuses: Counter[str] = Counter()
    for part in parts:
        statuses.update(part["status_counts"])
    return {
        **parts[0],
        "concurrency": concurrency,
        "rate": rate,
        "clients": len(parts),
        "elapsed_s": max(part["elapsed_s"] for part in parts),
        "requests": sum(part["requests"] for part in parts),
        "ok": len(ok),
        "throughput_rps": round(sum(part["throughput_rps"] for part in parts), 2),
        "attempted_rps": round(sum(part["attempted_rps"] for part in parts), 2),
        "latency_ms": latency_summary(ok),
        "shed": {
            "count": len(shed),
            "with_retry_after": sum(part["shed"]["with_retry_after"] for part in parts),
            "latency_ms": latency_summary(shed),
        },
        "status_counts": dict(sorted(statuses.items())),
        "raw": None,  # merged above; too long to keep
    }
