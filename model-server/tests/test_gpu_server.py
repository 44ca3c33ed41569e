"""The whole server on a CUDA GPU with the GPU path on (fp16, CUDA graphs per bucket built
before readiness, the pipeline, nvJPEG): the parts that test_runners.py and test_jpeg_device.py
check one at a time, wired together as a deployment runs them. Skipped, saying so, where
there is no CUDA."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from gpu_only import needs_cuda
from images import encode, jpeg, picture
from metrics_text import parse_metrics, sample

pytestmark = [
    pytest.mark.server,
    needs_cuda,
]


def test_on_cuda_buckets_are_built_before_ready_and_jpegs_and_pngs_are_answered(start_server):
    # MODEL_COMPILE=cudagraphs builds in seconds; =compile (the default) takes minutes of
    # Inductor per bucket, which the GPU benchmark covers.
    server = start_server(
        DEVICE="cuda",
        MODEL_COMPILE="cudagraphs",
        MAX_BATCH_SIZE="4",
        BATCH_BUCKETS="1,2,4",
        LOG_LEVEL="info",
        MAX_QUEUE_DELAY_MS="60000",  # every upload answered: this is about the GPU path
    ).wait_ready(timeout_s=300)
    log = server.log()
    for size in (1, 2, 4):
        assert f"MODEL_COMPILE=cudagraphs: batch {size} built" in log, log
    assert "pipeline=on jpeg_decode=device" in log, log

    uploads = [("a.jpg", jpeg(seed=seed)) for seed in range(12)]
    uploads += [("a.png", encode(picture(300, 200, seed=seed), "PNG")) for seed in range(4)]
    with ThreadPoolExecutor(8) as pool:
        responses = list(
            pool.map(
                lambda upload: httpx.post(
                    f"{server.url}/predict", files={"file": upload}, timeout=60
                ),
                uploads,
            )
        )
    assert [r.status_code for r in responses] == [200] * len(uploads), [
        r.text for r in responses if r.status_code != 200
    ]
    scrape = parse_metrics(httpx.get(f"{server.url}/metrics").text)
    assert sample(scrape, "model_info", device="cuda", dtype="float16") == 1
    assert sample(scrape, "inference_compile_seconds") > 0
    assert sample(scrape, "inference_gpu_memory_allocated_bytes") > 0
    assert sample(scrape, "inference_batch_size_sum") == len(uploads)
    assert "runs eagerly" not in server.log(), server.log()
