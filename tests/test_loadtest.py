"""The load generator (python -m tools loadtest) against a real model server."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tools.loadtest import Results, latency_summary

pytestmark = pytest.mark.server


def loadtest(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tools", "loadtest", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_closed_loop_reports_throughput_percentiles_and_statuses(model_server, tmp_path):
    out = tmp_path / "closed.json"
    result = loadtest(f"{model_server.url}/predict", "-c", "2", "-d", "2", "--json", str(out))
    assert result.returncode == 0, result.stderr
    summary = json.loads(out.read_text())
    assert summary["mode"] == "closed-loop"
    assert summary["requests"] == summary["ok"] == summary["status_counts"]["200"] > 0
    assert summary["throughput_rps"] == pytest.approx(summary["ok"] / summary["elapsed_s"], 0.01)
    latency = summary["latency_ms"]
    assert 0 < latency["p50"] <= latency["p95"] <= latency["p99"] <= latency["max"]
    assert "throughput" in result.stdout and "p99" in result.stdout
    assert "done" in result.stderr, "live progress goes to stderr"


def test_fixed_rate_sends_at_the_requested_rate(model_server, tmp_path):
    out = tmp_path / "rate.json"
    result = loadtest(
        f"{model_server.url}/predict", "--rate", "5", "-d", "3", "-c", "20", "--json", str(out)
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(out.read_text())
    assert summary["mode"] == "fixed-rate"
    assert 13 <= summary["requests"] <= 16, summary
    assert summary["status_counts"] == {"200": summary["requests"]}


def test_answers_that_are_not_2xx_are_counted_by_status_and_fail_the_run(model_server, tmp_path):
    image = tmp_path / "not-an-image.jpg"
    image.write_bytes(b"plain text")
    result = loadtest(f"{model_server.url}/predict", "-c", "1", "-d", "1", "--image", str(image))
    assert result.returncode == 1
    assert "succeeded in" in result.stderr and " 400)" in result.stderr, result.stderr
    assert "first failure: HTTP 400: " in result.stderr, "the server's answer says why"


def test_a_missing_image_file_is_a_clear_error():
    result = loadtest("http://127.0.0.1:9/predict", "--image", "/no/such/file.jpg")
    assert result.returncode == 2
    assert "/no/such/file.jpg" in result.stderr


def test_an_unreachable_server_is_a_clear_error_with_the_first_failures_cause(unused_port):
    url = f"http://127.0.0.1:{unused_port}/predict"
    result = loadtest(url, "-c", "1", "-d", "0.5")
    assert result.returncode == 1
    assert "loadtest: none of " in result.stderr and f"requests to {url} succeeded" in (
        result.stderr
    )
    assert (
        f"first failure: ClientConnectorError: Cannot connect to host 127.0.0.1:{unused_port}"
        in result.stderr
    )
    assert "None" not in result.stdout + result.stderr, "no latencies of nothing"


def test_percentiles_are_computed_over_successful_latencies():
    summary = latency_summary([i / 1000 for i in range(1, 101)])  # 1..100 ms
    assert summary["p50"] == pytest.approx(50.5)
    assert summary["p99"] == pytest.approx(99.01)
    assert summary["max"] == 100
    assert latency_summary([])["p50"] is None
    assert latency_summary([0.25])["p99"] == 250


def test_503_answers_are_reported_apart_with_their_latency_and_retry_after():
    results = Results()
    results.record("200", 0.5)
    results.record("503", 0.010, retry_after="2")
    results.record("503", 0.030, retry_after=None)
    results.record("504", 30.0)
    summary = results.summary({})
    assert summary["ok"] == 1 and summary["requests"] == 4
    assert summary["shed"]["count"] == 2
    assert summary["shed"]["with_retry_after"] == 1
    assert summary["shed"]["latency_ms"]["max"] == 30
    assert summary["latency_ms"]["max"] == 500, "percentiles stay over the 2xx answers"
    assert results.raw() == {"ok_s": [0.5], "shed_s": [0.010, 0.030]}


def test_against_a_shedding_server_the_shed_answers_and_goodput_are_counted(start_server, tmp_path):
    # One image per batch and a 1 ms queue-delay limit: most of 8 clients are refused.
    server = start_server(MAX_BATCH_SIZE="1", MAX_QUEUE_DELAY_MS="1").wait_ready()
    out = tmp_path / "shed.json"
    result = loadtest(f"{server.url}/predict", "-c", "8", "-d", "2", "--raw", "--json", str(out))
    assert result.returncode == 0, result.stderr
    summary = json.loads(out.read_text())
    shed = summary["shed"]
    assert summary["ok"] > 0 and shed["count"] > 0, summary["status_counts"]
    assert shed["count"] == summary["status_counts"]["503"] == shed["with_retry_after"]
    assert shed["latency_ms"]["p99"] is not None
    assert len(summary["raw"]["ok_s"]) == summary["ok"]
    assert len(summary["raw"]["shed_s"]) == shed["count"]
    assert "shed (503)" in result.stdout

    # Clients that wait out Retry-After (at least 1 s) are refused at most once a second each.
    polite = loadtest(
        f"{server.url}/predict", "-c", "8", "-d", "2", "--obey-retry-after", "--json", str(out)
    )
    assert polite.returncode == 0, polite.stderr
    assert json.loads(out.read_text())["shed"]["count"] <= 8 * 3
