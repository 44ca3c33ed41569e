"""ASGI middleware that refuses upload requests at once when the server is already full.

The batch queue is bounded, but by the time a request reaches it its body has been read
(spooled to /tmp above 1 MiB) and decoded. Under overload that work piles up in front of the
queue. This counts the upload requests being handled and, past `limit`, answers 503
queue_full before reading the body. The error is raised from `receive`, inside the route, so
it gets the same JSON answer and metrics as every other rejection.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import QueueFull


class AdmissionMiddleware:
    def __init__(self, app: ASGIApp, limit: int, paths: frozenset[str]) -> None:
        self.app = app
        self.limit = limit
        self.paths = paths
        self.active = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in self.paths:
            await self.app(scope, receive, send)
            return
        if self.active >= self.limit:

            async def refuse() -> Message:
                raise QueueFull(
                    f"the server is full ({self.active} requests in hand); retry later",
                    headers={"Retry-After": "1"},
                )

            await self.app(scope, refuse, send)
            return
        self.active += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.active -= 1
