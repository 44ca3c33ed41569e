"""Overload behaviour of real server processes: full queue, deadlines, departed clients."""

from __future__ import annotations

import socket
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from images import jpeg
from metrics_text import parse_metrics, sample, sample_or_zero

pytestmark = pytest.mark.server


def post_image(url: str, seed: int = 0) -> httpx.Response:
    return httpx.post(f"{url}/predict", files={"file": ("a.jpg", jpeg(seed=seed))}, timeout=60)


def test_a_full_queue_sheds_load_with_503_and_retry_after(start_server):
    # One image per batch and room for one more in the queue: 24 at once must overflow it.
    # (The queue-delay limit is set out of the way: this is about the count bound.)
    server = start_server(
        MAX_BATCH_SIZE="1", MAX_QUEUE_SIZE="1", MAX_QUEUE_DELAY_MS="60000"
    ).wait_ready()
    with ThreadPoolExecutor(24) as pool:
        responses = list(pool.map(lambda seed: post_image(server.url, seed), range(24)))
    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {200, 503}, statuses
    shed = [r for r in responses if r.status_code == 503]
    assert shed, "nothing was shed"
    assert statuses.count(200) >= 2
    for response in shed:
        assert response.headers["Retry-After"] == "1"
        assert response.json()["error"] == "queue_full"
    scrape = parse_metrics(httpx.get(f"{server.url}/metrics").text)
    assert sample(scrape, "inference_requests_rejected_total", reason="queue_full") == len(shed)
    assert post_image(server.url).status_code == 200, "the server serves again once drained"


def test_requests_predicted_to_wait_too_long_are_refused_with_that_wait_as_retry_after(
    start_server,
):
    # One image per batch and a 1 ms limit: whoever finds another request in hand is refused.
    server = start_server(MAX_BATCH_SIZE="1", MAX_QUEUE_DELAY_MS="1").wait_ready()
    with ThreadPoolExecutor(12) as pool:
        responses = list(pool.map(lambda seed: post_image(server.url, seed), range(12)))
    statuses = [r.status_code for r in responses]
    shed = [r for r in responses if r.status_code == 503]
    assert shed and statuses.count(200) >= 1, statuses
    for response in shed:
        assert response.json()["error"] == "queue_wait_too_long"
        assert int(response.headers["Retry-After"]) >= 1
    scrape = parse_metrics(httpx.get(f"{server.url}/metrics").text)
    assert sample(scrape, "inference_requests_rejected_total", reason="queue_wait_too_long") == len(
        shed
    )
    assert sample(scrape, "inference_estimated_capacity_images_per_second") > 0
    assert sample(scrape, "inference_predicted_queue_wait_seconds") == 0, "idle again"


def test_a_request_past_its_deadline_gets_504(start_server):
    server = start_server(REQUEST_TIMEOUT_SECONDS="0.005").wait_ready()
    response = post_image(server.url)
    assert response.status_code == 504
    assert response.json()["error"] == "deadline_exceeded"
    time.sleep(0.5)  # the abandoned item is dropped or finishes; the gauge must come back
    scrape = parse_metrics(httpx.get(f"{server.url}/metrics").text)
    assert sample(scrape, "inference_requests_rejected_total", reason="deadline_exceeded") == 1
    assert sample(scrape, "inference_inflight_requests") == 0


def raw_predict_request(port: int, image: bytes) -> bytes:
    boundary = "b0undary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n'
            f"Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        + image
        + f"\r\n--{boundary}--\r\n".encode()
    )
    head = (
        f"POST /predict HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    return head + body


def test_a_client_that_disconnects_while_queued_is_dropped_and_counted(start_server):
    # A backlog that admission by time would refuse; here it must queue.
    server = start_server(
        MAX_BATCH_SIZE="1", MAX_QUEUE_SIZE="64", MAX_QUEUE_DELAY_MS="60000"
    ).wait_ready()
    with ThreadPoolExecutor(8) as pool:
        busy = [pool.submit(post_image, server.url, seed) for seed in range(8)]
        time.sleep(0.2)  # the model is busy with a backlog now
        busy_scrape = parse_metrics(httpx.get(f"{server.url}/metrics").text)
        assert sample(busy_scrape, "inference_inflight_requests") >= 2, "in flight not counted"
        with socket.create_connection(("127.0.0.1", server.port)) as sock:
            sock.sendall(raw_predict_request(server.port, jpeg(seed=100)))
            time.sleep(0.2)  # decoded and queued behind the backlog
        assert all(f.result().status_code == 200 for f in busy)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        scrape = parse_metrics(httpx.get(f"{server.url}/metrics").text)
        if sample_or_zero(
            scrape, "inference_requests_rejected_total", reason="client_disconnected"
        ):
            break
        time.sleep(0.1)
    assert sample(scrape, "inference_requests_rejected_total", reason="client_disconnected") == 1
    assert sample(scrape, "inference_batch_size_sum") == 8, "the departed client's image ran"
