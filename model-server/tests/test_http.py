"""The HTTP API of a real server process on 127.0.0.1 (random weights, CPU)."""

from __future__ import annotations

import re
import socket
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from images import encode, jpeg, picture
from metrics_text import parse_metrics, sample, sample_or_zero
from test_preprocess import png_declaring

pytestmark = pytest.mark.server


def predict(
    url: str,
    data: bytes,
    *,
    k: int | None = None,
    content_type: str = "image/jpeg",
    client: httpx.Client | None = None,
) -> httpx.Response:
    params = {"k": k} if k is not None else None
    files = {"file": ("upload", data, content_type)}
    return (client or httpx).post(f"{url}/predict", files=files, params=params, timeout=60)


def test_predict_answers_label_index_score_and_top_k(model_server):
    response = predict(model_server.url, jpeg())
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"class", "index", "score", "top_k"}
    assert len(body["top_k"]) == 5
    assert body["top_k"][0] == {
        "class": body["class"],
        "index": body["index"],
        "score": body["score"],
    }
    scores = [entry["score"] for entry in body["top_k"]]
    assert scores == sorted(scores, reverse=True)
    assert all(0 < s <= 1 for s in scores)
    assert 0 <= body["index"] < 1000 and isinstance(body["class"], str) and body["class"]


@pytest.mark.parametrize("k", [1, 20])
def test_k_sets_the_length_of_top_k(model_server, k):
    response = predict(model_server.url, jpeg(), k=k)
    assert response.status_code == 200
    assert len(response.json()["top_k"]) == k


@pytest.mark.parametrize("k", [0, 21, "many"])
def test_k_out_of_range_is_a_422_with_json(model_server, k):
    response = predict(model_server.url, jpeg(), k=k)
    assert response.status_code == 422
    assert response.json()["error"] == "invalid_request"


def test_concurrent_requests_each_get_the_answer_for_their_own_image(model_server):
    images = [jpeg(seed=seed) for seed in range(16)]
    alone = [predict(model_server.url, image, k=3).json() for image in images]
    before = parse_metrics(httpx.get(f"{model_server.url}/metrics").text)
    with ThreadPoolExecutor(16) as pool:
        together = list(pool.map(lambda image: predict(model_server.url, image, k=3), images))
    after = parse_metrics(httpx.get(f"{model_server.url}/metrics").text)

    assert len({answer["index"] for answer in alone}) > 1, "images should not all look alike"
    for single, batched in zip(alone, together, strict=True):
        assert batched.status_code == 200
        batched = batched.json()
        assert batched["index"] == single["index"]
        for a, b in zip(single["top_k"], batched["top_k"], strict=True):
            assert a["index"] == b["index"]
            assert a["score"] == pytest.approx(b["score"], rel=1e-3, abs=1e-5)
    batches = sample(after, "inference_batch_size_count") - sample(
        before, "inference_batch_size_count"
    )
    images_run = sample(after, "inference_batch_size_sum") - sample(
        before, "inference_batch_size_sum"
    )
    assert images_run == 16
    assert batches < 16, "concurrent requests should have shared batches"


def test_every_accepted_format_is_answered(model_server):
    for fmt in ("JPEG", "PNG", "WEBP", "GIF", "BMP"):
        response = predict(model_server.url, encode(picture(200, 160), fmt))
        assert response.status_code == 200, (fmt, response.text)


BAD_UPLOADS = {
    "empty": (b"", 400, "empty_upload"),
    "not an image": (b"just some text, not pixels", 400, "not_an_image"),
    "truncated jpeg": (jpeg(400, 300)[:3000], 400, "corrupt_image"),
    "truncated png": (encode(picture(300, 200), "PNG")[:2000], 400, "corrupt_image"),
    "tiff": (encode(picture(64, 64), "TIFF"), 415, "unsupported_image_type"),
    "too many pixels": (png_declaring(3000, 3000), 400, "too_many_pixels"),
    "too thin": (encode(picture(4000, 20), "PNG"), 400, "extreme_aspect_ratio"),
}


@pytest.mark.parametrize("case", BAD_UPLOADS)
def test_bad_uploads_get_their_status_json_and_reason(model_server, case):
    data, status, reason = BAD_UPLOADS[case]
    response = predict(model_server.url, data)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"] == reason
    assert response.json()["detail"]


def test_a_missing_file_field_is_a_422(model_server):
    response = httpx.post(f"{model_server.url}/predict", files={"image": ("a.jpg", jpeg())})
    assert response.status_code == 422
    assert response.json()["error"] == "invalid_request"
    assert "file" in str(response.json()["detail"])


def test_a_body_that_is_not_multipart_is_a_422(model_server):
    response = httpx.post(f"{model_server.url}/predict", json={"file": "x"})
    assert response.status_code == 422


def test_an_upload_over_the_limit_is_refused_before_it_is_read(model_server):
    big = b"\xff\xd8" + bytes(2 * 1024 * 1024)  # limit is 1 MiB in the test server
    response = predict(model_server.url, big)
    assert response.status_code == 413
    assert response.json()["error"] == "upload_too_large"


def test_a_declared_length_over_the_limit_is_refused_without_sending_the_body(model_server):
    # Only the headers go out: an answer proves the server did not wait for the body.
    head = (
        f"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {5 * 1024 * 1024}\r\n"
        "Content-Type: multipart/form-data; boundary=b\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", model_server.port), timeout=10) as sock:
        sock.sendall(head)
        answer = sock.recv(65536).decode(errors="replace")
    assert answer.startswith("HTTP/1.1 413"), answer
    assert '"error":"upload_too_large"' in answer


def test_a_chunked_upload_over_the_limit_is_refused_too(model_server):
    boundary = "xyz"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
        'filename="a.jpg"\r\nContent-Type: image/jpeg\r\n\r\n'
    ).encode()

    def body():  # a generator: httpx sends it chunked, with no Content-Length
        yield head
        for _ in range(40):
            yield bytes(64 * 1024)
        yield f"\r\n--{boundary}--\r\n".encode()

    response = httpx.post(
        f"{model_server.url}/predict",
        content=body(),
        timeout=60,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert response.status_code == 413
    assert response.json()["error"] == "upload_too_large"


def test_health_ready_and_docs_answer(model_server):
    assert httpx.get(f"{model_server.url}/health").json() == {"status": "ok"}
    assert httpx.get(f"{model_server.url}/ready").json() == {"status": "ready"}
    assert httpx.get(f"{model_server.url}/docs").status_code == 200
    spec = httpx.get(f"{model_server.url}/openapi.json").json()
    assert {"/predict", "/health", "/ready", "/metrics"} <= set(spec["paths"])


def test_the_docs_pages_load_every_asset_from_the_server_itself(model_server):
    """Swagger UI and ReDoc work in clusters without internet access: no CDN."""
    for page in ("/docs", "/redoc"):
        html = httpx.get(f"{model_server.url}{page}").text
        assets = re.findall(r'(?:src|href)="([^"]+)"', html)
        assert any(a.endswith(".js") for a in assets), f"{page}: {assets}"
        for asset in assets:
            assert asset.startswith("/"), f"{page} loads {asset} from elsewhere"
            response = httpx.get(f"{model_server.url}{asset}")
            assert response.status_code == 200 and len(response.content) > 1000, asset
        assert not re.search(r"https?://", html), f"{page} names another host"
    docs = httpx.get(f"{model_server.url}/docs").text
    assert '"validatorUrl": null' in docs, "the validator badge would call validator.swagger.io"


def test_metrics_carry_every_series_with_values_that_match_the_traffic(model_server):
    url = model_server.url
    before = parse_metrics(httpx.get(f"{url}/metrics").text)
    for seed in range(3):
        assert predict(url, jpeg(seed=seed)).status_code == 200
    assert predict(url, b"").status_code == 400
    assert httpx.get(f"{url}/no-such-page").status_code == 404
    after = parse_metrics(httpx.get(f"{url}/metrics").text)

    def delta(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample_or_zero(before, name, **labels)

    ok = {"method": "POST", "endpoint": "/predict", "status": "200"}
    assert delta("http_requests_total", **ok) == 3
    assert delta("http_request_duration_seconds_count", **ok) == 3
    assert delta("http_requests_total", method="POST", endpoint="/predict", status="400") == 1
    assert delta("http_requests_total", method="GET", endpoint="unmatched", status="404") == 1
    assert delta("inference_requests_rejected_total", reason="empty_upload") == 1
    assert sample(after, "inference_inflight_requests") == 0
    assert delta("inference_queue_wait_seconds_count") == 3
    assert delta("inference_compute_seconds_count") >= 1
    assert delta("inference_compute_seconds_sum") > 0
    assert delta("inference_batch_size_sum") == 3
    assert (
        sample(after, "model_info", model="swin_t", weights="random", device="cpu", dtype="float32")
        == 1
    )
    assert sample(after, "inference_ready") == 1
    assert "inference_gpu_memory_allocated_bytes" in after  # 0 on CPU


def bucket_deltas(before, after, name: str, **labels: str) -> dict[float, float]:
    """le -> how many observations the traffic between two scrapes added at or below it."""
    return {
        float(series["le"]): value - sample_or_zero(before, name, **labels, le=series["le"])
        for series, value in after[name]
        if all(series.get(k) == v for k, v in labels.items())
    }


def test_request_durations_land_in_the_buckets_their_real_durations_belong_to(model_server):
    """Each request's recorded duration lies between its batch's model time (which the
    compute histogram shows) and what the client waited: buckets below the one, and at or
    above the other, are fixed; a duration recorded in the wrong unit, or as 0, fails."""
    url = model_server.url
    before = parse_metrics(httpx.get(f"{url}/metrics").text)
    slowest = 0.0
    for seed in range(3):
        started = time.monotonic()
        assert predict(url, jpeg(seed=seed)).status_code == 200
        slowest = max(slowest, time.monotonic() - started)
    after = parse_metrics(httpx.get(f"{url}/metrics").text)
    ok = {"method": "POST", "endpoint": "/predict", "status": "200"}
    requests = bucket_deltas(before, after, "http_request_duration_seconds_bucket", **ok)
    compute = bucket_deltas(before, after, "inference_compute_seconds_bucket")
    edges = sorted(requests)
    assert [requests[le] for le in edges] == sorted(requests.values()), "not cumulative"
    assert requests[float("inf")] == 3
    # Every batch took longer than the edge below the first compute bucket holding one.
    first = min(le for le, count in compute.items() if count > 0)
    floor = max((le for le in compute if le < first), default=0.0)
    below = [le for le in edges if le <= floor]
    assert below, f"every batch took under {first}s: nothing to check below it"
    for le in below:
        assert requests[le] == 0, f"a request under {le}s, faster than any batch ({floor}s+)"
    above = [le for le in edges if le >= slowest]
    assert len(above) >= 2, f"the slowest request took {slowest:.2f}s: raise the top bucket"
    for le in above:
        assert requests[le] == 3, f"le={le}: the client never waited that long ({slowest:.2f}s)"


def test_metric_names_on_the_wire_are_the_ones_the_metrics_module_declares(model_server):
    """What a scrape announces is what model_server.metrics declares, no more and no less,
    and the series the GitOps side reads are among them."""
    from model_server.metrics import exported_metric_names
    from tools.monitoring import series_on_the_wire

    on_the_wire = series_on_the_wire(httpx.get(f"{model_server.url}/metrics").text)
    assert on_the_wire == exported_metric_names()
    for required in (
        "http_request_duration_seconds_bucket",
        "http_requests_total",
        "inference_inflight_requests",
        "inference_queue_wait_seconds_bucket",
        "inference_compute_seconds_bucket",
        "inference_batch_size_bucket",
        "inference_requests_rejected_total",
        "model_info",
    ):
        assert required in on_the_wire
