"""The HTTP API: routes, error handling and the model's lifecycle inside the process."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, TypeVar

from fastapi import FastAPI, File, Query, Request, UploadFile
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi_offline import FastAPIOffline
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException

from . import metrics
from .admission import Admission, AdmissionMiddleware
from .batcher import Batcher, Forecast, model_worker
from .config import MAX_TOP_K, Settings, Tuning, resolve
from .errors import FRAMEWORK_REASONS, ApiError, DeadlineExceeded, NotReady
from .http_metrics import HttpMetricsMiddleware
from .model import (
    MODEL_NAME,
    Classifier,
    Prediction,
    WeightsError,
    cuda_selected,
    load_classifier,
    weights_label,
)
from .preprocess import preprocess_upload
from .service_time import ServiceTime
from .upload_limit import UploadLimitMiddleware

log = logging.getLogger(__name__)
T = TypeVar("T")


class ClientDisconnected(ApiError):
    status = 499  # nginx's "client closed request": nobody reads it, but it is counted
    reason = "client_disconnected"


@dataclass
class ServerState:
    """What readiness depends on. Draining is started by the signal handler in server.py."""

    classifier: Classifier | None = None
    batcher: Batcher[object, Prediction] | None = None
    draining: bool = False

    @property
    def ready(self) -> bool:
        return self.batcher is not None and not self.draining

    def start_draining(self) -> None:
        self.draining = True
        metrics.READY.set(0)


class Label(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    class_: str = Field(alias="class", description="ImageNet class name")
    index: int = Field(description="class index, 0-999")
    score: float = Field(description="softmax probability")


class PredictResponse(Label):
    top_k: list[Label] = Field(description="the k best classes, best first")


class ErrorResponse(BaseModel):
    error: str = Field(description="machine-readable reason, as counted in metrics")
    detail: object = Field(description="what was wrong")


ERROR_RESPONSES: dict[int | str, dict[str, object]] = {
    status: {"model": ErrorResponse, "description": text}
    for status, text in {
        400: "empty, not an image, corrupt or truncated, or too many pixels",
        413: "upload larger than MAX_UPLOAD_BYTES",
        415: "an image type this server does not decode",
        422: "missing `file` field or bad `k`",
        503: "not ready, too busy to answer in time, or shutting down (see Retry-After)",
        504: "not answered within REQUEST_TIMEOUT_SECONDS",
    }.items()
}


def create_app(
    settings: Settings, state: ServerState, on_fatal: Callable[[], None] = lambda: None
) -> FastAPI:
    """The ASGI app. `on_fatal` is called when the model cannot be loaded."""
    tuning = resolve(settings, cuda=cuda_selected(settings.device))
    decode_pool = ThreadPoolExecutor(settings.decode_threads, thread_name_prefix="decode")
    # As many as the queue, one batch and the decode threads can hold; beyond that, 503 at
    # once instead of reading and decoding work that would wait for the queue anyway.
    admission = Admission(
        limit=settings.max_queue_size + tuning.max_batch_size + settings.decode_threads,
        max_wait_s=tuning.max_queue_delay_s,
        forecast=lambda in_hand: (
            state.batcher.forecast(in_hand) if state.batcher is not None else Forecast(0.0, 0)
        ),
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        loader = asyncio.create_task(
            _load_model(settings, tuning, state, admission, on_fatal), name="model-loader"
        )
        try:
            yield
        finally:
            state.start_draining()
            loader.cancel()
            await asyncio.gather(loader, return_exceptions=True)
            if state.batcher is not None:
                # uvicorn already waited SHUTDOWN_GRACE_SECONDS for the requests, so this
                # only mops up: a short wait, not a second grace period.
                await state.batcher.stop(timeout_s=5.0)
            decode_pool.shutdown(wait=False, cancel_futures=True)

    # FastAPIOffline serves Swagger UI (/docs) and ReDoc (/redoc) from its own copy of their
    # assets, not from a CDN: the docs work in clusters without egress. No validator badge
    # either: it would send the spec's URL to validator.swagger.io.
    app = FastAPIOffline(
        swagger_ui_parameters={"validatorUrl": None},
        title="Swin-T image classification",
        summary="torchvision swin_t (ImageNet-1k) behind a dynamic batcher",
        version="1.0.0",
        lifespan=lifespan,
    )
    uploads = frozenset({"/predict"})
    app.add_middleware(UploadLimitMiddleware, max_bytes=settings.max_upload_bytes, paths=uploads)
    app.add_middleware(AdmissionMiddleware, admission=admission, paths=uploads)
    app.add_middleware(HttpMetricsMiddleware)  # added last: outermost, so it sees every answer

    @app.get("/health", summary="Liveness: 200 while the process serves HTTP")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/ready",
        summary="Readiness: 200 once the model is loaded and warmed up, else 503",
        responses={503: {"description": "loading or draining"}},
    )
    async def ready() -> JSONResponse:
        if state.ready:
            return JSONResponse({"status": "ready"})
        status = "draining" if state.draining else "loading"
        return JSONResponse({"status": status}, status_code=503)

    if not settings.metrics_port:  # else server.py serves them on their own port

        @app.get("/metrics", summary="Prometheus exposition", response_class=Response)
        async def prometheus_metrics() -> Response:
            return Response(generate_latest(metrics.REGISTRY), media_type=CONTENT_TYPE_LATEST)

    @app.post(
        "/predict",
        summary="Classify one image (JPEG, PNG, WebP, GIF first frame, BMP)",
        response_model=PredictResponse,
        responses=ERROR_RESPONSES,
    )
    async def predict(
        request: Request,
        file: Annotated[UploadFile, File(description="the image")],
        k: Annotated[int, Query(ge=1, le=MAX_TOP_K, description="how many classes in top_k")] = 5,
    ) -> PredictResponse:
        batcher, classifier = state.batcher, state.classifier
        if batcher is None or classifier is None:
            raise NotReady("the model is still loading", headers={"Retry-After": "5"})
        data = await file.read()
        await file.close()  # frees the spooled /tmp copy of a large upload now
        loop = asyncio.get_running_loop()
        deadline = time.monotonic() + settings.request_timeout_seconds
        with metrics.INFLIGHT.track_inprogress():
            try:
                async with asyncio.timeout(settings.request_timeout_seconds):
                    payload = await loop.run_in_executor(
                        decode_pool,
                        preprocess_upload,
                        data,
                        settings.max_image_pixels,
                        tuning.jpeg_on_device,
                    )
                    answer = batcher.enqueue(payload, deadline)
                    prediction = await _unless_client_leaves(request, answer)
            except TimeoutError:
                raise DeadlineExceeded(
                    f"no answer within {settings.request_timeout_seconds:g}s"
                ) from None
        return _to_response(prediction, classifier.categories, k)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        if isinstance(exc, ApiError):
            reason = exc.reason
        else:
            reason = FRAMEWORK_REASONS.get(exc.status_code, f"http_{exc.status_code}")
        return _error_response(request, exc.status_code, reason, exc.detail, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        detail = jsonable_encoder(exc.errors(), custom_encoder={bytes: lambda _: "<bytes>"})
        return _error_response(request, 422, FRAMEWORK_REASONS[422], detail)

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
        # A bug, not bad input: logged with its traceback, answered as JSON like the rest.
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return _error_response(request, 500, "internal_error", "internal server error")

    return app


def _error_response(
    request: Request,
    status: int,
    reason: str,
    detail: object,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    if request.url.path == "/predict":
        metrics.REJECTED.labels(reason).inc()
    return JSONResponse({"error": reason, "detail": detail}, status_code=status, headers=headers)


async def _load_model(
    settings: Settings,
    tuning: Tuning,
    state: ServerState,
    admission: Admission,
    on_fatal: Callable[[], None],
) -> None:
    loop = asyncio.get_running_loop()
    # Loaded, warmed up and run on one thread: cuBLAS/cuDNN handles and CUDA graphs are per
    # thread, so the warm-up must happen where the batches will run.
    worker = model_worker()
    try:
        classifier = await loop.run_in_executor(worker, load_classifier, settings, tuning)
        # Every bucket (compiled or captured now), else batch 1 and the largest: kernels and
        # memory are ready before readiness says so, and the batch times are measured.
        sizes = sorted({1, tuning.max_batch_size, *tuning.batch_buckets})
        started = time.monotonic()
        timings = await loop.run_in_executor(worker, classifier.warm_up, sizes)
    except WeightsError as exc:
        log.error("%s", exc)
        on_fatal()
        return
    except Exception:
        log.exception("the model could not be loaded; stopping")
        on_fatal()
        return
    warm_up_s = time.monotonic() - started
    metrics.COMPILE_SECONDS.set(warm_up_s)
    service_time = ServiceTime()
    for size, seconds in timings.items():
        service_time.observe(size, seconds)
    log.info(
        "warm-up took %.1fs (MODEL_COMPILE=%s, buckets built: %s); batch seconds: %s",
        warm_up_s,
        tuning.compile,
        list(classifier.runner.buckets) or "none",
        {size: round(seconds, 4) for size, seconds in timings.items()},
    )
    batcher: Batcher[object, Prediction] = Batcher(
        classifier.run,
        prepare_batch=classifier.prepare,
        pipeline=tuning.pipeline,
        max_batch_size=tuning.max_batch_size,
        max_wait_s=settings.max_batch_wait_ms / 1000.0,
        max_queue_size=settings.max_queue_size,
        service_time=service_time,
        worker=worker,
        on_fatal=on_fatal,
        in_hand=lambda: admission.active,
    )
    batcher.start()
    state.classifier, state.batcher = classifier, batcher
    metrics.PREDICTED_WAIT.set_function(lambda: batcher.predicted_wait(admission.active))
    metrics.SERVICE_RATE.set_function(batcher.images_per_second)
    metrics.MODEL_INFO.labels(
        model=MODEL_NAME,
        weights=weights_label(settings.model_weights),
        device=classifier.device.type,
        dtype=str(classifier.dtype).removeprefix("torch."),
    ).set(1)
    if classifier.device.type == "cuda":
        import torch

        metrics.GPU_MEMORY_ALLOCATED.set_function(
            lambda: torch.cuda.memory_allocated(classifier.device)
        )
    if not state.draining:
        metrics.READY.set(1)
        log.info(
            "ready: max_batch_size=%d max_batch_wait_ms=%g max_queue_delay_ms=%g "
            "pipeline=%s jpeg_decode=%s",
            tuning.max_batch_size,
            settings.max_batch_wait_ms,
            tuning.max_queue_delay_s * 1000,
            "on" if tuning.pipeline else "off",
            "device" if tuning.jpeg_on_device else "cpu",
        )


async def _unless_client_leaves(request: Request, work: Awaitable[T]) -> T:
    """Await `work`, but give up (and cancel it) if the client disconnects first."""
    work_task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_disconnected(request))
    try:
        await asyncio.wait({work_task, watcher}, return_when=asyncio.FIRST_COMPLETED)
        if work_task.done():
            return work_task.result()
        raise ClientDisconnected("the client closed the connection before the answer")
    finally:
        work_task.cancel()
        watcher.cancel()


async def _disconnected(request: Request) -> None:
    # The body has been read, so the next ASGI message can only be the disconnect.
    while (await request.receive())["type"] != "http.disconnect":
        pass


def _to_response(prediction: Prediction, categories: list[str], k: int) -> PredictResponse:
    labels = [
        Label(class_=categories[int(index)], index=int(index), score=float(score))
        for index, score in zip(prediction.indices[:k], prediction.scores[:k], strict=True)
    ]
    best = labels[0]
    return PredictResponse(class_=best.class_, index=best.index, score=best.score, top_k=labels)
