"""Admission control: refuse an upload at once, before its body is read, when the server
cannot answer it in time.

The batch queue is bounded, but by the time a request reaches it its body has been read
(spooled to /tmp above 1 MiB) and decoded. Under overload that work piles up in front of the
queue, and every request admitted waits behind all the others. So each upload is judged as it
arrives, by two rules:

- time: the work already in hand (queued, being decoded or run) would keep it waiting longer
  than MAX_QUEUE_DELAY_MS, predicted from the measured batch times (Batcher.forecast):
  503 queue_wait_too_long, with Retry-After set to that predicted wait. A request that would
  join the next batch is never refused for time: it waits only for the batch running now,
  which no refusal shortens, and refusing it would leave the model short of work when the
  limit is below one batch time (a slow CPU, a busy machine);
- count: more uploads are in hand than the queue, one batch and the decode threads can hold
  (a bound on memory whatever the estimate says): 503 queue_full.

The error is raised from `receive`, inside the route, so it gets the same JSON answer and
metrics as every other rejection.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .batcher import Forecast
from .errors import ApiError, QueueFull, QueueWaitTooLong, retry_after


class Admission:
    """Counts the uploads in hand and decides whether to take one more."""

    def __init__(self, limit: int, max_wait_s: float, forecast: Callable[[int], Forecast]) -> None:
        """`forecast(in_hand)`: when a new request's batch would start, with `in_hand`
        uploads already in the server."""
        self.limit = limit
        self.max_wait_s = max_wait_s
        self.forecast = forecast
        self.active = 0

    def refusal(self) -> ApiError | None:
        """The error to answer a new upload with now, or None to admit it."""
        if self.active >= self.limit:
            return QueueFull(
                f"the server is full ({self.active} requests in hand); retry later",
                headers={"Retry-After": "1"},
            )
        forecast = self.forecast(self.active)
        if forecast.batches_ahead and forecast.wait_s > self.max_wait_s:
            return QueueWaitTooLong(
                f"the work in hand would keep this request waiting about "
                f"{forecast.wait_s:.2f}s, over the limit of {self.max_wait_s:g}s; retry later",
                headers=retry_after(forecast.wait_s),
            )
        return None


class AdmissionMiddleware:
    def __init__(self, app: ASGIApp, admission: Admission, paths: frozenset[str]) -> None:
        self.app = app
        self.admission = admission
        self.paths = paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in self.paths:
            await self.app(scope, receive, send)
            return
        refusal = self.admission.refusal()
        if refusal is not None:

            async def refuse() -> Message:
                raise refusal

            await self.app(scope, refuse, send)
            return
        self.admission.active += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.admission.active -= 1
