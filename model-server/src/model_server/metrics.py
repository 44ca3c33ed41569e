"""Every Prometheus metric the server exports, in one place.

Dashboards, alerts and autoscaling rules elsewhere in the repository read their metric names
from this module, so renaming a metric here is a change of contract.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics

# *_created series double the exposition and nothing here reads them.
disable_created_metrics()
REGISTRY = CollectorRegistry()

# 5 ms to 10 s: fast enough for a batched GPU answer, long enough for an overloaded CPU one.
LATENCY_BUCKETS = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.075,
    0.1,
    0.15,
    0.25,
    0.35,
    0.5,
    0.75,
    1.0,
    1.5,
    2.5,
    5.0,
    7.5,
    10.0,
)
BATCH_SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)

HTTP_REQUEST_DURATION = Histogram(
    "http_request_duration_seconds",
    "Time from request start to the end of the response, by route template.",
    ["method", "endpoint", "status"],
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
HTTP_REQUESTS = Counter(
    "http_requests",  # exported as http_requests_total
    "HTTP requests answered, by route template.",
    ["method", "endpoint", "status"],
    registry=REGISTRY,
)

INFLIGHT = Gauge(
    "inference_inflight_requests",
    "Prediction requests accepted and not yet answered (decoding, queued or running). "
    "The autoscaling signal.",
    registry=REGISTRY,
)
QUEUE_WAIT = Histogram(
    "inference_queue_wait_seconds",
    "Time a decoded image waited in the batch queue before its batch started.",
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
COMPUTE = Histogram(
    "inference_compute_seconds",
    "Time the model took for one batch, from its input on the device to the top-k on the host.",
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
PREPARE = Histogram(
    "inference_prepare_seconds",
    "Time to assemble one batch's input on the device: stack, copy, decode JPEGs there.",
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
PREDICTED_WAIT = Gauge(
    "inference_predicted_queue_wait_seconds",
    "How long a request arriving now would wait for its batch, from the work in hand and the "
    "measured batch times; admission refuses above MAX_QUEUE_DELAY_MS.",
    registry=REGISTRY,
)
SERVICE_RATE = Gauge(
    "inference_estimated_capacity_images_per_second",
    "Images per second this server can run at full batches, from the measured batch times.",
    registry=REGISTRY,
)
COMPILE_SECONDS = Gauge(
    "inference_compile_seconds",
    "Seconds spent at start-up compiling (MODEL_COMPILE) and warming up the batch sizes.",
    registry=REGISTRY,
)
BATCH_SIZE = Histogram(
    "inference_batch_size",
    "Number of images in each batch the model ran.",
    buckets=BATCH_SIZE_BUCKETS,
    registry=REGISTRY,
)
REJECTED = Counter(
    "inference_requests_rejected",  # exported as inference_requests_rejected_total
    "Prediction requests answered with an error, by reason.",
    ["reason"],
    registry=REGISTRY,
)
MODEL_INFO = Gauge(
    "model_info",
    "The model being served; always 1.",
    ["model", "weights", "device", "dtype"],
    registry=REGISTRY,
)
GPU_MEMORY_ALLOCATED = Gauge(
    "inference_gpu_memory_allocated_bytes",
    "GPU memory held by tensors of this process (CUDA only).",
    registry=REGISTRY,
)
READY = Gauge(
    "inference_ready",
    "1 when the server answers readiness with 200, else 0.",
    registry=REGISTRY,
)


def exported_metric_names() -> set[str]:
    """Every series name a scrape can carry, suffixes included (_total, _bucket, _sum, _count)."""
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}
    return {
        family.name + suffix
        for family in REGISTRY.collect()
        for suffix in suffixes.get(family.type, ("",))
    }
