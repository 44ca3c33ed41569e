"""AdmissionMiddleware: past its limit, an upload is refused before its body is read."""

from __future__ import annotations

import asyncio

import pytest

from model_server.admission import AdmissionMiddleware
from model_server.errors import QueueFull

pytestmark = pytest.mark.anyio


async def test_past_the_limit_the_body_is_never_read_and_the_queue_is_full():
    release = asyncio.Event()
    body_reads = []

    async def app(scope, receive, send):
        body_reads.append(await receive())  # what a route does first: read the body
        await release.wait()

    middleware = AdmissionMiddleware(app, limit=1, paths=frozenset({"/predict"}))
    scope = {"type": "http", "path": "/predict"}

    async def receive():
        return {"type": "http.request", "body": b"x", "more_body": False}

    first = asyncio.create_task(middleware(scope, receive, None))
    await asyncio.sleep(0.01)
    with pytest.raises(QueueFull) as refused:
        await middleware(scope, receive, None)
    assert refused.value.status_code == 503 and refused.value.headers == {"Retry-After": "1"}
    assert len(body_reads) == 1, "the refused request's body was read"
    release.set()
    await first
    assert middleware.active == 0
    await middleware(scope, receive, None)  # room again
    assert len(body_reads) == 2


async def test_other_paths_are_not_counted():
    async def app(scope, receive, send):
        await asyncio.sleep(0)

    middleware = AdmissionMiddleware(app, limit=0, paths=frozenset({"/predict"}))
    await middleware({"type": "http", "path": "/health"}, None, None)
