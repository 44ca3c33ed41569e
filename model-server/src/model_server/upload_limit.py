"""ASGI middleware that caps the request body of the upload routes.

The cap is enforced while the body streams in, so an oversized upload is never held in
memory: a declared Content-Length over the cap is refused before the first byte is read,
and a chunked body is refused as soon as it passes the cap. The error is raised from
`receive`, inside the route, so it gets the same JSON answer and metrics as every other
rejection. (Starlette's own body limit answers in plain text.)
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import UploadTooLarge


class UploadLimitMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int, paths: frozenset[str]) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.paths = paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in self.paths:
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        too_large = UploadTooLarge(f"the upload is larger than {self.max_bytes} bytes")
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
                raise too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise too_large
            return message

        await self.app(scope, limited_receive, send)
