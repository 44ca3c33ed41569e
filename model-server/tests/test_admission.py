"""Admission control: an upload is refused before its body is read when the server is full or
when the work in hand would keep it waiting too long."""

from __future__ import annotations

import asyncio

import pytest

from model_server.admission import Admission, AdmissionMiddleware
from model_server.batcher import Batcher, Forecast
from model_server.errors import QueueFull, QueueWaitTooLong
from model_server.service_time import ServiceTime

pytestmark = pytest.mark.anyio
SCOPE = {"type": "http", "path": "/predict"}


async def receive():
    return {"type": "http.request", "body": b"x", "more_body": False}


class HeldRoute:
    """An ASGI app that reads the body, as a route does first, then waits to be released."""

    def __init__(self) -> None:
        self.body_reads = 0
        self.release = asyncio.Event()

    async def __call__(self, scope, receive, send) -> None:
        await receive()
        self.body_reads += 1
        await self.release.wait()


async def admit(middleware: AdmissionMiddleware, route: HeldRoute) -> asyncio.Task[None]:
    """Start one request and return once it is inside the route, its body read."""
    reads = route.body_reads
    task = asyncio.create_task(middleware(SCOPE, receive, None))
    while route.body_reads == reads:
        assert not task.done(), task.exception()
        await asyncio.sleep(0)
    return task


def no_wait(in_hand: int) -> Forecast:
    return Forecast(wait_s=0.0, batches_ahead=0)


async def test_past_the_limit_the_body_is_never_read_and_the_queue_is_full():
    route = HeldRoute()
    admission = Admission(limit=1, max_wait_s=1.0, forecast=no_wait)
    middleware = AdmissionMiddleware(route, admission, paths=frozenset({"/predict"}))
    first = await admit(middleware, route)
    with pytest.raises(QueueFull) as refused:
        # Bounded: an admitted request would wait in the held route for ever.
        await asyncio.wait_for(middleware(SCOPE, receive, None), timeout=10)
    assert refused.value.status_code == 503 and refused.value.headers == {"Retry-After": "1"}
    assert refused.value.detail == "the server is full (1 requests in hand); retry later"
    assert route.body_reads == 1, "the refused request's body was read"
    route.release.set()
    await first
    assert admission.active == 0
    await middleware(SCOPE, receive, None)  # room again
    assert route.body_reads == 2


def one_batch_each(in_hand: int) -> Forecast:
    """Batches of one image, 0.4 s each, the model idle: each request in hand is a batch."""
    return Forecast(wait_s=0.4 * in_hand, batches_ahead=in_hand)


async def test_a_request_predicted_to_wait_too_long_is_refused_unread_with_that_wait():
    # Each request in hand adds 0.4 s of predicted wait; at most 1 s is allowed.
    route = HeldRoute()
    admission = Admission(limit=100, max_wait_s=1.0, forecast=one_batch_each)
    middleware = AdmissionMiddleware(route, admission, paths=frozenset({"/predict"}))
    admitted = [await admit(middleware, route) for _ in range(3)]  # waits 0, 0.4, 0.8
    with pytest.raises(QueueWaitTooLong) as refused:
        await middleware(SCOPE, receive, None)  # would wait 1.2 s
    assert refused.value.status_code == 503
    assert refused.value.reason == "queue_wait_too_long"
    assert refused.value.headers == {"Retry-After": "2"}, "the predicted 1.2 s, rounded up"
    assert refused.value.detail == (
        "the work in hand would keep this request waiting about 1.20s, over the limit of 1s; "
        "retry later"
    )
    assert route.body_reads == 3
    route.release.set()
    await asyncio.gather(*admitted)
    await middleware(SCOPE, receive, None)  # nothing in hand: admitted again
    assert route.body_reads == 4


def admission_over_a_batcher(
    batch_size: int, batch_seconds: float, max_wait_s: float
) -> tuple[Admission, ServiceTime]:
    """Admission in front of an idle batcher whose batches are known to take batch_seconds."""
    estimate = ServiceTime()
    estimate.observe(batch_size, batch_seconds)
    batcher: Batcher[int, int] = Batcher(
        list, max_batch_size=batch_size, max_wait_s=0, max_queue_size=64, service_time=estimate
    )
    return Admission(limit=100, max_wait_s=max_wait_s, forecast=batcher.forecast), estimate


async def test_admission_follows_the_batchers_measured_batch_time():
    # A model known to take 1 s per batch of 2, and a 1.5 s limit: the next batch plus one
    # full batch ahead fit (up to 3 in hand), a second full batch ahead does not.
    admission, estimate = admission_over_a_batcher(2, 1.0, max_wait_s=1.5)
    for in_hand, admitted in [(0, True), (1, True), (2, True), (3, True), (4, False)]:
        admission.active = in_hand
        assert (admission.refusal() is None) is admitted, in_hand
    for _ in range(2):  # the model got faster: the estimate moves from 1.0 to 0.68 s a batch
        estimate.observe(2, 0.1)
    admission.active = 4
    assert admission.refusal() is None


class RecordingApp:
    """An ASGI app that reads the body, as a route does, and records what it was called with."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    async def __call__(self, scope, receive, send) -> None:
        self.calls.append((scope, receive, send))
        if scope["type"] == "http":
            await receive()


async def send(message) -> None:
    pass


@pytest.mark.parametrize(
    "scope", [{"type": "http", "path": "/health"}, {"type": "lifespan"}], ids=["health", "lifespan"]
)
async def test_other_paths_and_lifespan_pass_through_uncounted_even_when_full(scope):
    app = RecordingApp()
    full = Admission(limit=0, max_wait_s=0.0, forecast=one_batch_each)
    await AdmissionMiddleware(app, full, paths=frozenset({"/predict"}))(scope, receive, send)
    assert app.calls == [(scope, receive, send)]


async def test_an_admitted_request_reaches_the_app_as_it_came():
    app = RecordingApp()
    admission = Admission(limit=1, max_wait_s=1.0, forecast=no_wait)
    await AdmissionMiddleware(app, admission, paths=frozenset({"/predict"}))(SCOPE, receive, send)
    assert app.calls == [(SCOPE, receive, send)]


async def test_a_refused_request_reaches_the_app_whose_body_read_raises_the_refusal():
    # The route answers the refusal like any other error: same JSON, same metrics.
    app = RecordingApp()
    full = Admission(limit=0, max_wait_s=1.0, forecast=no_wait)
    with pytest.raises(QueueFull):
        await AdmissionMiddleware(app, full, paths=frozenset({"/predict"}))(SCOPE, receive, send)
    ((scope, body, answer),) = app.calls
    assert (scope, answer) == (SCOPE, send) and body is not receive


async def test_a_predicted_wait_exactly_at_the_limit_is_admitted():
    at_the_limit = Admission(
        limit=100, max_wait_s=0.5, forecast=lambda in_hand: Forecast(wait_s=0.5, batches_ahead=1)
    )
    assert at_the_limit.refusal() is None


async def test_a_request_that_joins_the_next_batch_is_never_refused_for_time():
    # Batches of 8 take 5 s and the limit is 1 s: refusing the requests that would start with
    # the next batch would leave the model without work; only those behind a full batch wait
    # longer than needed.
    admission, _ = admission_over_a_batcher(8, 5.0, max_wait_s=1.0)
    for in_hand in range(8):
        admission.active = in_hand
        assert admission.refusal() is None, in_hand
    admission.active = 8
    refusal = admission.refusal()
    assert isinstance(refusal, QueueWaitTooLong)
    assert refusal.headers == {"Retry-After": "5"}
    # Nor while a batch is running with 4 s to go: joining the next batch, it waits only for
    # the running one, which no refusal shortens.
    busy = Admission(
        limit=100,
        max_wait_s=1.0,
        forecast=lambda in_hand: Forecast(
            wait_s=4.0 + 5.0 * (in_hand // 8), batches_ahead=in_hand // 8
        ),
    )
    busy.active = 7
    assert busy.refusal() is None
    busy.active = 8
    assert isinstance(busy.refusal(), QueueWaitTooLong)
