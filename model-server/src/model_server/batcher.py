"""Dynamic batching: a bounded queue in front of one model worker thread.

Requests wait in an asyncio queue. The batching loop takes the oldest one, then keeps taking
until the batch holds `max_batch_size` items or the oldest item has waited `max_wait_s`, and
runs the batch on its own single worker thread (which owns the GPU). While a batch runs, the
next one fills up, so under load batches grow by themselves and at low load the added latency
is at most `max_wait_s`.

A caller that stops waiting (client gone, deadline passed) cancels its future; the loop drops
such items before they reach the model.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from . import metrics
from .errors import InferenceFailed, QueueFull, ShuttingDown

log = logging.getLogger(__name__)

In = TypeVar("In")
Out = TypeVar("Out")


@dataclass
class _Item(Generic[In, Out]):
    payload: In
    future: asyncio.Future[Out]
    enqueued_at: float = field(default_factory=time.monotonic)


class Batcher(Generic[In, Out]):
    def __init__(
        self,
        run_batch: Callable[[list[In]], Sequence[Out]],
        *,
        max_batch_size: int,
        max_wait_s: float,
        max_queue_size: int,
        worker: ThreadPoolExecutor | None = None,
        on_fatal: Callable[[], None] = lambda: None,
        max_consecutive_failures: int = 3,
    ) -> None:
        """`worker`: the single thread that owns the model (pass the one that loaded it, so
        per-thread CUDA state is warm). `on_fatal`: called when the batcher cannot go on (its
        loop died, or `max_consecutive_failures` batches failed in a row, as after a GPU
        fault), so that the process exits and Kubernetes replaces it."""
        self._run_batch = run_batch
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_s
        self._queue: asyncio.Queue[_Item[In, Out]] = asyncio.Queue(maxsize=max_queue_size)
        self._worker = worker or model_worker()
        self._on_fatal = on_fatal
        self._max_failures = max_consecutive_failures
        self._failures = 0
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._running: list[_Item[In, Out]] = []

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="batcher")
        self._task.add_done_callback(self._loop_ended)

    def _loop_ended(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("the batching loop died", exc_info=task.exception())
            self._on_fatal()

    @property
    def pending(self) -> int:
        """Items queued or in the batch being run."""
        return self._queue.qsize() + len(self._running)

    async def submit(self, payload: In) -> Out:
        """Queue one item and wait for its result. Raises QueueFull or ShuttingDown at once."""
        if self._closing:
            raise ShuttingDown("the server is shutting down", headers={"Retry-After": "1"})
        item: _Item[In, Out] = _Item(payload, asyncio.get_running_loop().create_future())
        try:
            self._queue.put_nowait(item)
        except asyncio.QueueFull:
            raise QueueFull(
                f"the inference queue is full ({self._queue.maxsize} waiting); retry later",
                headers={"Retry-After": "1"},
            ) from None
        try:
            return await item.future
        finally:
            # Our caller gave up (cancelled): make sure the loop skips this item.
            item.future.cancel()

    async def stop(self, timeout_s: float) -> None:
        """Refuse new items, let queued ones finish (up to timeout_s), then stop the loop."""
        self._closing = True
        deadline = time.monotonic() + timeout_s
        while self.pending and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        if self._task:
            self._task.cancel()
            await asyncio.wait({self._task}, timeout=1.0)  # never hang the shutdown on it
        queued = [self._queue.get_nowait() for _ in range(self._queue.qsize())]
        left = [item for item in self._running + queued if not item.future.done()]
        for item in left:
            item.future.set_exception(ShuttingDown("the server stopped before this request ran"))
        if left:
            log.warning("stopped with %d requests unanswered after %.1fs", len(left), timeout_s)
        self._worker.shutdown(wait=False)

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            # Items stay in self._running until the next batch starts, so that stop() can
            # answer them if it cancels this loop mid-batch.
            self._running = []
            await self._collect_batch()
            # Callers that went away while we waited are dropped here, before the model.
            live = [item for item in self._running if not item.future.done()]
            if live:
                await self._run(loop, live)

    async def _collect_batch(self) -> None:
        first = await self._queue.get()
        self._running.append(first)
        deadline = first.enqueued_at + self.max_wait_s
        while len(self._running) < self.max_batch_size:
            remaining = deadline - time.monotonic()
            try:
                if remaining <= 0:
                    item = self._queue.get_nowait()  # take what is already there, wait no more
                else:
                    item = await asyncio.wait_for(self._queue.get(), remaining)
            except (asyncio.QueueEmpty, TimeoutError):
                break
            self._running.append(item)

    async def _run(self, loop: asyncio.AbstractEventLoop, batch: list[_Item[In, Out]]) -> None:
        started = time.monotonic()
        for item in batch:
            metrics.QUEUE_WAIT.observe(started - item.enqueued_at)
        metrics.BATCH_SIZE.observe(len(batch))
        try:
            results = await loop.run_in_executor(
                self._worker, self._run_batch, [item.payload for item in batch]
            )
            answers = list(zip(batch, results, strict=True))
        except Exception as exc:
            log.exception("a batch of %d failed", len(batch))
            for item in batch:
                if not item.future.done():
                    item.future.set_exception(InferenceFailed(f"inference failed: {exc}"))
            self._failures += 1
            if self._failures >= self._max_failures:
                log.error("%d batches failed in a row; giving up", self._failures)
                self._on_fatal()
            return
        finally:
            metrics.COMPUTE.observe(time.monotonic() - started)
        self._failures = 0
        for item, result in answers:
            if not item.future.done():
                item.future.set_result(result)


def model_worker() -> ThreadPoolExecutor:
    """The one thread that loads, warms up and runs the model."""
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="model-worker")
