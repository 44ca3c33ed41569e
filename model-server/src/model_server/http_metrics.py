"""ASGI middleware that records every HTTP request in http_request_duration_seconds and
http_requests_total, labelled by route template (never by raw path, which is unbounded)."""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import metrics


class HttpMetricsMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets if the app raises before answering

        async def send_and_record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_record_status)
        finally:
            # The router stores the matched route in the scope; unmatched paths share a label.
            route = scope.get("route")
            labels = (scope["method"], getattr(route, "path", "unmatched"), str(status))
            metrics.HTTP_REQUEST_DURATION.labels(*labels).observe(time.perf_counter() - started)
            metrics.HTTP_REQUESTS.labels(*labels).inc()
