"""Start-up, readiness, graceful shutdown and configuration errors of real server processes."""

from __future__ import annotations

import threading
import time

import httpx
import pytest
import torch
from images import jpeg
from torchvision.models import swin_t

pytestmark = pytest.mark.server


def test_ready_is_503_while_the_model_loads_then_200(start_server):
    # A big warm-up batch keeps the server busy loading for a few seconds on a CPU.
    server = start_server(MAX_BATCH_SIZE="48")
    first = httpx.get(f"{server.url}/ready")
    assert first.status_code == 503
    assert first.json() == {"status": "loading"}
    assert httpx.get(f"{server.url}/health").status_code == 200, "liveness holds during load"
    early = httpx.post(f"{server.url}/predict", files={"file": ("a.jpg", jpeg())})
    assert early.status_code == 503 and early.json()["error"] == "not_ready"
    assert "Retry-After" in early.headers
    server.wait_ready()
    assert httpx.get(f"{server.url}/ready").json() == {"status": "ready"}


def test_sigterm_turns_ready_to_503_at_once_and_loses_no_accepted_request(start_server):
    # A backlog that admission by time would refuse; here it must be accepted, then drained.
    server = start_server(
        MAX_BATCH_SIZE="4",
        SHUTDOWN_DELAY_SECONDS="1.5",
        SHUTDOWN_GRACE_SECONDS="60",
        MAX_QUEUE_DELAY_MS="60000",
    ).wait_ready()
    results: list[int] = []

    def client(seed: int) -> None:
        response = httpx.post(
            f"{server.url}/predict", files={"file": ("a.jpg", jpeg(seed=seed))}, timeout=60
        )
        results.append(response.status_code)

    # 12 images take several batches on a CPU: most are still queued when SIGTERM comes.
    first_wave = [threading.Thread(target=client, args=(seed,)) for seed in range(12)]
    for thread in first_wave:
        thread.start()
    time.sleep(0.3)
    server.terminate()
    time.sleep(0.1)
    ready = httpx.get(f"{server.url}/ready")
    assert ready.status_code == 503
    assert ready.json() == {"status": "draining"}
    # During the shutdown delay the server still accepts work (endpoints take time to update).
    late = threading.Thread(target=client, args=(99,))
    late.start()
    for thread in [*first_wave, late]:
        thread.join(60)
    assert server.wait_exit(60) == 0, server.log()
    assert results == [200] * 13, results
    assert "Traceback" not in server.log()


def test_after_the_delay_the_listener_closes_and_the_process_exits_0(start_server):
    server = start_server(SHUTDOWN_DELAY_SECONDS="0.2").wait_ready()
    started = time.monotonic()
    server.terminate()
    assert server.wait_exit(30) == 0
    assert time.monotonic() - started < 10
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{server.url}/health", timeout=1)


def test_an_invalid_setting_stops_startup_with_a_message_naming_the_variable(run_to_exit):
    result = run_to_exit(MAX_BATCH_SIZE="0", PORT="http")
    assert result.returncode == 2
    assert "MAX_BATCH_SIZE" in result.stderr
    assert "PORT" in result.stderr


def test_a_missing_weights_file_stops_startup_naming_model_weights(run_to_exit, tmp_path):
    result = run_to_exit(MODEL_WEIGHTS=str(tmp_path / "nope.pt"))
    assert result.returncode == 2
    assert "MODEL_WEIGHTS" in result.stderr


def test_unobtainable_imagenet_weights_stop_startup_with_the_alternatives(run_to_exit):
    # An empty TORCH_HOME and a proxy that refuses connections: the download must fail.
    result = run_to_exit(
        MODEL_WEIGHTS="imagenet",
        HTTPS_PROXY="http://127.0.0.1:9",
        https_proxy="http://127.0.0.1:9",
    )
    assert result.returncode == 1, result.stderr
    for hint in ("MODEL_WEIGHTS=imagenet", "MODEL_WEIGHTS=random", "fetch-weights"):
        assert hint in result.stderr
    assert "random weights" not in result.stderr, "must never fall back to random silently"


def test_weights_that_are_not_swin_t_stop_startup(run_to_exit, tmp_path):
    path = tmp_path / "resnet-ish.pt"
    torch.save({"fc.weight": torch.zeros(10, 10)}, path)
    result = run_to_exit(MODEL_WEIGHTS=str(path))
    assert result.returncode == 1
    assert "not Swin-T weights" in result.stderr


def test_a_state_dict_file_is_served_and_named_in_model_info(start_server, tmp_path):
    torch.manual_seed(1)
    path = tmp_path / "my-swin.pt"
    torch.save(swin_t().state_dict(), path)
    server = start_server(MODEL_WEIGHTS=str(path), MAX_BATCH_SIZE="1").wait_ready()
    response = httpx.post(f"{server.url}/predict", files={"file": ("a.jpg", jpeg())})
    assert response.status_code == 200
    assert 'weights="my-swin.pt"' in httpx.get(f"{server.url}/metrics").text


def test_with_metrics_port_set_metrics_move_off_the_api_port(start_server, unused_port):
    metrics_port = unused_port
    server = start_server(METRICS_PORT=str(metrics_port)).wait_ready()
    assert httpx.get(f"{server.url}/metrics").status_code == 404
    scrape = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics")
    assert scrape.status_code == 200
    assert "inference_inflight_requests" in scrape.text
