"""Dynamic batching: a bounded queue in front of one model worker thread.

Requests wait in an asyncio queue. The batching loop takes the oldest one, then keeps taking
until the batch holds `max_batch_size` items, the oldest item has waited `max_wait_s`, or no
other request is on its way (none queued, none in the server still uploading or decoding):
so a lone request runs at once, and under load batches fill up by themselves while the
model is busy.

A batch goes through two stages: `prepare_batch` (assemble the model input: stack, copy to
the device, decode on the device) and `run_batch` (the model). With `pipeline`, the next
batch is collected and prepared on a feeder thread while the current one runs on the model
thread; without it, the model thread does both, one batch at a time.

Every batch's duration feeds a `ServiceTime` estimate, from which `forecast` tells
admission control how long a new request would queue. Items whose deadline cannot be met
any more are dropped before they reach the model (DeadlineUnreachable), and so are items
whose caller stopped waiting (client gone, deadline passed): their futures are cancelled.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from . import metrics
from .errors import DeadlineUnreachable, InferenceFailed, QueueFull, ShuttingDown, retry_after
from .service_time import ServiceTime

log = logging.getLogger(__name__)

In = TypeVar("In")
Out = TypeVar("Out")


@dataclass(frozen=True)
class Forecast:
    """When a new request's batch would start."""

    wait_s: float  # seconds until then: the running batch's rest and the full batches ahead
    batches_ahead: int  # full batches that run before the one it joins


@dataclass(eq=False)  # identity, so that items can be kept in a set
class _Item(Generic[In, Out]):
    payload: In
    future: asyncio.Future[Out]
    deadline: float  # time.monotonic() by which the answer is due
    enqueued_at: float = field(default_factory=time.monotonic)


@dataclass
class _Prepared(Generic[In, Out]):
    items: list[_Item[In, Out]]
    model_input: Any
    prepare_s: float


class Batcher(Generic[In, Out]):
    def __init__(
        self,
        run_batch: Callable[[Any], Sequence[Out | Exception]],
        *,
        max_batch_size: int,
        max_wait_s: float,
        max_queue_size: int,
        prepare_batch: Callable[[list[In]], Any] = list,
        pipeline: bool = False,
        service_time: ServiceTime | None = None,
        worker: ThreadPoolExecutor | None = None,
        on_fatal: Callable[[], None] = lambda: None,
        max_consecutive_failures: int = 3,
        in_hand: Callable[[], int] = lambda: 0,
    ) -> None:
        """`prepare_batch(payloads)` returns the model input; `run_batch(model_input)` returns
        one result per payload, in order; a result that is an Exception fails only its own
        request. `worker`: the single thread that owns the model (pass the one that loaded
        it, so per-thread CUDA state is warm). `on_fatal`: called when the batcher cannot go
        on (its loop died, or `max_consecutive_failures` batches failed in a row, as after a
        GPU fault), so that the process exits and Kubernetes replaces it. `in_hand()`: the
        requests in the server, queued here or not yet (uploading, decoding); those not yet
        queued are the company a batch may wait for."""
        self._run_batch = run_batch
        self._prepare_batch = prepare_batch
        self.pipeline = pipeline
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_s
        self.service_time = service_time or ServiceTime()
        self._queue: asyncio.Queue[_Item[In, Out]] = asyncio.Queue(maxsize=max_queue_size)
        # With a pipeline: hands a prepared batch to the model; join() returns once it is taken.
        self._handoff: asyncio.Queue[_Prepared[In, Out]] = asyncio.Queue(maxsize=1)
        self._worker = worker or model_worker()
        self._feeder = (
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="batch-feeder")
            if pipeline
            else self._worker
        )
        self._on_fatal = on_fatal
        self._max_failures = max_consecutive_failures
        self._failures = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False
        self._in_hand = in_hand
        self._waiting: set[_Item[In, Out]] = set()  # submitted, caller still waiting
        self._running_size = 0
        self._running_since = 0.0

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        loops = (
            [("batch-feeder", self._feed), ("batch-runner", self._run_loop)]
            if self.pipeline
            else [("batcher", self._serial_loop)]
        )
        for name, body in loops:
            task = loop.create_task(body(), name=name)
            task.add_done_callback(self._loop_ended)
            self._tasks.append(task)

    def _loop_ended(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("the batching loop died", exc_info=task.exception())
            self._on_fatal()

    @property
    def pending(self) -> int:
        """Items whose caller still waits for an answer (queued, being prepared or run)."""
        return len(self._waiting)

    def forecast(self, in_hand: int) -> Forecast:
        """What a request arriving now can expect, when `in_hand` requests are already in
        the server (being read, decoded, queued or run)."""
        ahead = max(0, in_hand - self._running_size)
        full_batches_ahead = ahead // self.max_batch_size
        wait = self._running_remaining() + full_batches_ahead * self.service_time.batch_seconds(
            self.max_batch_size
        )
        return Forecast(wait_s=wait, batches_ahead=full_batches_ahead)

    def predicted_wait(self, in_hand: int) -> float:
        """Seconds a request arriving now would wait before its batch starts."""
        return self.forecast(in_hand).wait_s

    def _running_remaining(self) -> float:
        """Expected seconds until the batch on the model now is done (0 when idle)."""
        if not self._running_size:
            return 0.0
        elapsed = time.monotonic() - self._running_since
        return max(0.0, self.service_time.batch_seconds(self._running_size) - elapsed)

    def images_per_second(self) -> float:
        """The estimated rate at full batches: what this server can take under load."""
        seconds = self.service_time.batch_seconds(self.max_batch_size)
        return self.max_batch_size / seconds if seconds > 0 else math.inf

    def enqueue(self, payload: In, deadline: float = math.inf) -> asyncio.Future[Out]:
        """Queue one item; its future gets the result. Raises QueueFull or ShuttingDown at
        once. The future fails with DeadlineUnreachable if the item is dropped because it
        could not finish by `deadline` (a time.monotonic() value). Cancel the future to
        withdraw the item: the loop skips it."""
        if self._closing:
            raise ShuttingDown("the server is shutting down", headers={"Retry-After": "1"})
        item: _Item[In, Out] = _Item(payload, asyncio.get_running_loop().create_future(), deadline)
        try:
            self._queue.put_nowait(item)
        except asyncio.QueueFull:
            raise QueueFull(
                f"the inference queue is full ({self._queue.maxsize} waiting); retry later",
                headers={"Retry-After": "1"},
            ) from None
        self._waiting.add(item)
        item.future.add_done_callback(lambda _: self._waiting.discard(item))
        return item.future

    async def submit(self, payload: In, deadline: float = math.inf) -> Out:
        """enqueue() and wait for the result; a caller that gives up withdraws the item."""
        future = self.enqueue(payload, deadline)
        try:
            return await future
        finally:
            future.cancel()

    async def stop(self, timeout_s: float) -> None:
        """Refuse new items, let queued ones finish (up to timeout_s), then stop the loop."""
        self._closing = True
        deadline = time.monotonic() + timeout_s
        while self.pending and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=1.0)  # never hang the shutdown on them
        left = [item for item in self._waiting if not item.future.done()]
        for item in left:
            item.future.set_exception(ShuttingDown("the server stopped before this request ran"))
        if left:
            log.warning("stopped with %d requests unanswered after %.1fs", len(left), timeout_s)
        self._worker.shutdown(wait=False)
        if self._feeder is not self._worker:
            self._feeder.shutdown(wait=False)

    async def _serial_loop(self) -> None:
        """Without a pipeline: collect a batch, prepare and run it on the model thread in one
        go, answer; then the next."""
        while True:
            batch = self._runnable(await self._collect())
            if batch:
                await self._run(batch)

    async def _feed(self) -> None:
        """With a pipeline: collect the next batch and prepare it on the feeder thread while
        the model runs the current one, then hand it over and collect the one after."""
        loop = asyncio.get_running_loop()
        while True:
            batch = self._runnable(await self._collect())
            if not batch:
                continue
            started = time.monotonic()
            try:
                model_input = await loop.run_in_executor(
                    self._feeder, self._prepare_batch, [item.payload for item in batch]
                )
            except Exception as exc:
                self._failed(batch, exc)
                continue
            finally:
                metrics.PREPARE.observe(time.monotonic() - started)
            await self._handoff.put(_Prepared(batch, model_input, time.monotonic() - started))
            await self._handoff.join()  # returns once the model took it

    async def _run_loop(self) -> None:
        while True:
            prepared = await self._handoff.get()
            self._handoff.task_done()
            await self._run(prepared.items, prepared)

    async def _collect(self) -> list[_Item[In, Out]]:
        first = await self._queue.get()
        batch = [first]
        deadline = first.enqueued_at + self.max_wait_s
        while len(batch) < self.max_batch_size:
            if not self._queue.empty():
                batch.append(self._queue.get_nowait())
                continue
            remaining = deadline - time.monotonic()
            on_their_way = self._in_hand() - len(self._waiting)
            if on_their_way <= 0 or remaining <= 0:
                break  # nobody else is coming, or the oldest has waited long enough
            try:
                batch.append(await asyncio.wait_for(self._queue.get(), remaining))
            except TimeoutError:
                break
        return batch

    def _runnable(self, batch: list[_Item[In, Out]]) -> list[_Item[In, Out]]:
        """The items worth running: callers that left are skipped, and items that would
        finish after their deadline are answered now instead of taking the model's time."""
        live = [item for item in batch if not item.future.done()]
        if not live:
            return []
        now = time.monotonic()
        finish = now + self._running_remaining() + self.service_time.batch_seconds(len(live))
        hopeless = [item for item in live if item.deadline < finish]
        for item in hopeless:
            item.future.set_exception(
                DeadlineUnreachable(
                    f"the request would finish {finish - item.deadline:.2f}s after its "
                    "deadline; retry later",
                    headers=retry_after(finish - now),
                )
            )
        return [item for item in live if item.deadline >= finish]

    async def _run(
        self, batch: list[_Item[In, Out]], prepared: _Prepared[In, Out] | None = None
    ) -> None:
        """Run one batch on the model thread, prepared there first unless `prepared`, and
        answer its callers."""
        if all(item.future.done() for item in batch):
            return  # every caller left while the batch waited for the model
        loop = asyncio.get_running_loop()
        started = time.monotonic()
        self._running_size, self._running_since = len(batch), started
        for item in batch:
            metrics.QUEUE_WAIT.observe(started - item.enqueued_at)
        metrics.BATCH_SIZE.observe(len(batch))
        try:
            if prepared is None:
                payloads = [item.payload for item in batch]
                results, prepare_s, run_s = await loop.run_in_executor(
                    self._worker, self._prepare_and_run, payloads
                )
                metrics.PREPARE.observe(prepare_s)
                held_s = prepare_s + run_s  # the model thread does both, in turn
            else:
                results = await loop.run_in_executor(
                    self._worker, self._run_batch, prepared.model_input
                )
                run_s = time.monotonic() - started
                held_s = max(run_s, prepared.prepare_s)  # the two stages overlap
            metrics.COMPUTE.observe(run_s)
            answers = list(zip(batch, results, strict=True))
        except Exception as exc:
            self._failed(batch, exc)
            return
        finally:
            self._running_size = 0
        self.service_time.observe(len(batch), held_s)
        self._failures = 0
        for item, result in answers:
            if item.future.done():
                continue
            if isinstance(result, Exception):
                item.future.set_exception(result)
            else:
                item.future.set_result(result)

    def _prepare_and_run(
        self, payloads: list[In]
    ) -> tuple[Sequence[Out | Exception], float, float]:
        """On the model thread: (results, seconds preparing, seconds running)."""
        started = time.monotonic()
        model_input = self._prepare_batch(payloads)
        prepared = time.monotonic()
        return self._run_batch(model_input), prepared - started, time.monotonic() - prepared

    def _failed(self, batch: list[_Item[In, Out]], exc: Exception) -> None:
        log.error("a batch of %d failed", len(batch), exc_info=exc)
        for item in batch:
            if not item.future.done():
                item.future.set_exception(InferenceFailed(f"inference failed: {exc}"))
        self._failures += 1
        if self._failures >= self._max_failures:
            log.error("%d batches failed in a row; giving up", self._failures)
            self._on_fatal()


def model_worker() -> ThreadPoolExecutor:
    """The one thread that loads, warms up and runs the model."""
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="model-worker")
