"""A real Prometheus (and promtool, amtool) run locally: start it with a config, ask its HTTP API.

Debian's `prometheus` package brings prometheus and promtool, `prometheus-alertmanager` brings
amtool; `make prometheus` installs them (as root or with sudo) or says how.
"""

from __future__ import annotations

import math
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import yaml

INSTALL_HINT = (
    "install Debian's prometheus package (prometheus, promtool) and prometheus-alertmanager "
    "(amtool): `sudo apt-get install prometheus prometheus-alertmanager`, or `make prometheus` "
    "as root; elsewhere put the binaries from https://prometheus.io/download/ on PATH"
)


class MissingTool(Exception):
    """A binary the check needs is not installed; the message says how to get it."""


def require(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise MissingTool(f"{name} is not installed: {INSTALL_HINT}")
    return path


def version(binary: str) -> str:
    """'2.42.0' from `prometheus --version` (or promtool's)."""
    out = subprocess.run([binary, "--version"], capture_output=True, text=True).stdout
    return out.split("version", 1)[1].split()[0].split("+")[0] if "version" in out else "?"


class QueryError(Exception):
    """Prometheus refused a query; the message is Prometheus' own."""


@dataclass
class Series:
    labels: dict[str, str]
    value: float


class PrometheusServer:
    """One Prometheus process on 127.0.0.1 with the given config and rule files."""

    def __init__(self, workdir: Path, config: dict, rules: dict[str, dict], port: int) -> None:
        self.workdir = workdir
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        workdir.mkdir(parents=True, exist_ok=True)
        for name, content in rules.items():
            (workdir / name).write_text(yaml.safe_dump(content, sort_keys=False))
        config = {**config, "rule_files": sorted(rules)}
        (workdir / "prometheus.yml").write_text(yaml.safe_dump(config, sort_keys=False))
        self.proc: subprocess.Popen[bytes] | None = None
        self.client = httpx.Client(base_url=self.url, timeout=10)

    def start(self, timeout_s: float = 30) -> PrometheusServer:
        binary = require("prometheus")
        self._log = (self.workdir / "prometheus.log").open("wb")
        self.proc = subprocess.Popen(
            [
                binary,
                f"--config.file={self.workdir / 'prometheus.yml'}",
                f"--storage.tsdb.path={self.workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--log.level=warn",
            ],
            cwd=self.workdir,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"prometheus exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if self.client.get("/-/ready").status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"prometheus not ready after {timeout_s}s:\n{self.log()}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.client.close()
        if self.proc is not None:
            self._log.close()

    def log(self) -> str:
        path = self.workdir / "prometheus.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def _get(self, path: str, **params: str) -> dict | list:
        response = self.client.get(path, params=params)
        body = response.json()
        if body.get("status") != "success":
            raise QueryError(f"{body.get('errorType')}: {body.get('error')}")
        return body["data"]

    def query(self, expr: str) -> list[Series]:
        """An instant query now; a scalar answer comes back as one series without labels."""
        data = self._get("/api/v1/query", query=expr)
        if data["resultType"] in ("scalar", "string"):
            return [Series({}, float(data["result"][1]))]
        return [Series(s["metric"], float(s["value"][1])) for s in data["result"]]

    def alerts(self) -> list[dict]:
        """Active alerts: name, state (pending or firing), labels, activeAt."""
        return self._get("/api/v1/alerts")["alerts"]

    def rules(self) -> list[dict]:
        return [r for g in self._get("/api/v1/rules")["groups"] for r in g["rules"]]

    def metric_names(self) -> set[str]:
        return set(self._get("/api/v1/label/__name__/values"))

    def targets(self) -> list[dict]:
        return self._get("/api/v1/targets")["activeTargets"]


def finite(values: list[float]) -> bool:
    return any(not (math.isnan(v) or math.isinf(v)) for v in values)
