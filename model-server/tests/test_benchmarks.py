"""The GPU benchmark script runs end to end (its --smoke mode, on this machine's CPU): every
stage produces numbers, the JSON has them and the plot is drawn. It checks no speed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

pytestmark = pytest.mark.server
REPO = Path(__file__).resolve().parents[2]


def test_the_gpu_benchmark_runs_every_stage_and_writes_json_and_a_plot(tmp_path):
    report_path, plot_path = tmp_path / "gpu.json", tmp_path / "gpu.svg"
    result = subprocess.run(
        [
            sys.executable,
            "model-server/benchmarks/gpu.py",
            "--smoke",
            "--json",
            str(report_path),
            "--plot",
            str(plot_path),
        ],
        cwd=REPO,
        env={**os.environ, "DEVICE": "cpu", "MAX_BATCH_SIZE": "2", "DECODE_THREADS": "2"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(report_path.read_text())
    assert report["model"]["ceiling_images_per_s"] > 0
    assert {row["batch_size"] for row in report["model"]["by_batch_size"]} == {1, 2}
    assert report["client_ceiling"]["throughput_rps"] > 0
    for name in ("server", "naive"):
        for level in ("1", "4"):
            assert report[name][level]["ok"] > 0, (name, level, report[name][level])
    profile = report["server"]["4"]["profile"]
    assert profile["mean_batch"] and profile["event_loop_cpu"] > 0 and profile["limit"]
    assert report["server"]["overload"]["rate"] > 0
    assert {check["check"] for check in report["checks"]}, "acceptance checks are reported"
    assert "c=1: p50" in result.stdout and "limit" in result.stdout
    lines = ET.parse(plot_path).getroot().findall("{http://www.w3.org/2000/svg}polyline")
    assert len(lines) == 2, "one line for this server, one for the naive baseline"
