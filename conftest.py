"""Fixtures shared by every test directory: real model-server processes on 127.0.0.1.

Servers run `python -m model_server` exactly as `make serve` does, with random weights
(chosen explicitly: no download) and settings small enough for a 2-core CPU.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parent

TEST_SERVER_ENV = {
    "HOST": "127.0.0.1",
    "MODEL_WEIGHTS": "random",
    "DEVICE": "cpu",
    "MAX_BATCH_SIZE": "8",
    "MAX_BATCH_WAIT_MS": "20",
    "DECODE_THREADS": "2",
    "LOG_LEVEL": "warning",
    "SHUTDOWN_DELAY_SECONDS": "0",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerProcess:
    """One model-server process; `start()` returns once the port answers (not yet ready)."""

    def __init__(self, log_path: Path, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, **TEST_SERVER_ENV, **env, "PORT": str(self.port)}
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 60) -> ServerProcess:
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "model_server"],
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self._wait_for(lambda r: True, "/health", timeout_s)
        return self

    def wait_ready(self, timeout_s: float = 60) -> ServerProcess:
        self._wait_for(lambda r: r.status_code == 200, "/ready", timeout_s)
        return self

    def _wait_for(self, accept, path: str, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if accept(httpx.get(self.url + path, timeout=1)):
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.02)
        raise TimeoutError(f"{path} not as expected after {timeout_s}s:\n{self.log()}")

    def terminate(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)

    def wait_exit(self, timeout_s: float = 60) -> int:
        assert self.proc is not None
        try:
            return self.proc.wait(timeout_s)
        finally:
            self._log.close()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.terminate()
            try:
                self.wait_exit(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@contextmanager
def server_factory(log_dir: Path) -> Iterator:
    """start(**env) -> a started ServerProcess; every one started is stopped on exit."""
    started: list[ServerProcess] = []

    def start(**env: str) -> ServerProcess:
        server = ServerProcess(log_dir / f"server-{len(started)}.log", **env)
        started.append(server)
        return server.start()

    try:
        yield start
    finally:
        for server in started:
            server.stop()


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator:
    """Factory: start_server(**env) -> a started ServerProcess, stopped after the test."""
    with server_factory(tmp_path) as start:
        yield start


@pytest.fixture(scope="module")
def start_module_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    """As start_server, for servers that a whole test module shares."""
    with server_factory(tmp_path_factory.mktemp("servers")) as start:
        yield start


@pytest.fixture
def run_to_exit(tmp_path: Path):
    """Run a server that is expected to stop by itself; returns the finished process."""

    def run(**env: str) -> subprocess.CompletedProcess[str]:
        full_env = {
            **os.environ,
            **TEST_SERVER_ENV,
            "PORT": str(free_port()),
            "TORCH_HOME": str(tmp_path / "torch"),
            **env,
        }
        return subprocess.run(
            [sys.executable, "-m", "model_server"],
            env=full_env,
            timeout=120,
            capture_output=True,
            text=True,
        )

    return run


@pytest.fixture(scope="session")
def model_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One ready server shared by the HTTP tests (upload limit 1 MiB, 4 megapixels). They
    check answers, not shedding: a 10 s queue-delay limit keeps a busy CI machine from
    turning their requests into 503s (test_overload.py starts its own servers for that)."""
    server = ServerProcess(
        tmp_path_factory.mktemp("server") / "server.log",
        MAX_UPLOAD_BYTES=str(1024 * 1024),
        MAX_IMAGE_PIXELS=str(4_000_000),
        MAX_QUEUE_DELAY_MS="10000",
    )
    server.start().wait_ready()
    yield server
    server.stop()


@pytest.fixture
def unused_port() -> int:
    return free_port()


@pytest.fixture
def anyio_backend() -> str:
    """Async tests (marked anyio) run on asyncio, as the server does."""
    return "asyncio"
