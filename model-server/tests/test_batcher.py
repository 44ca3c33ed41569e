"""The dynamic batcher on its own, with a fake model that records the batches it is given."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from model_server.batcher import Batcher
from model_server.errors import InferenceFailed, QueueFull, ShuttingDown

pytestmark = pytest.mark.anyio


class FakeModel:
    """Doubles every input. Can be held (blocked) to let a queue build up behind it."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.started = threading.Event()
        self.release = threading.Event()
        self.release.set()

    def hold(self) -> None:
        self.release.clear()

    def __call__(self, batch: list[int]) -> list[int]:
        self.batches.append(list(batch))
        self.started.set()
        assert self.release.wait(10), "test never released the model"
        return [x * 2 for x in batch]


async def wait_until(condition, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.001)


def make_batcher(model: FakeModel, **options) -> Batcher[int, int]:
    settings = {"max_batch_size": 4, "max_wait_s": 0.05, "max_queue_size": 64, **options}
    batcher: Batcher[int, int] = Batcher(model, **settings)
    batcher.start()
    return batcher


async def test_each_caller_gets_the_result_for_its_own_item_in_submission_order():
    model = FakeModel()
    batcher = make_batcher(model, max_batch_size=8)
    results = await asyncio.gather(*(batcher.submit(i) for i in range(20)))
    assert results == [2 * i for i in range(20)]
    flattened = [x for batch in model.batches for x in batch]
    assert flattened == list(range(20)), "batches must keep arrival order"
    await batcher.stop(timeout_s=1)


async def test_batches_never_exceed_max_batch_size_and_fill_up_under_load():
    model = FakeModel()
    model.hold()
    batcher = make_batcher(model, max_batch_size=4, max_wait_s=1.0)
    tasks = [asyncio.create_task(batcher.submit(i)) for i in range(11)]
    await wait_until(model.started.is_set)
    model.release.set()
    assert await asyncio.gather(*tasks) == [2 * i for i in range(11)]
    assert [len(b) for b in model.batches] == [4, 4, 3]
    await batcher.stop(timeout_s=1)


async def test_a_lone_item_waits_at_most_max_wait_for_company():
    model = FakeModel()
    batcher = make_batcher(model, max_batch_size=8, max_wait_s=0.2)
    started = time.monotonic()
    assert await batcher.submit(7) == 14
    waited = time.monotonic() - started
    assert 0.19 <= waited < 2.0, f"waited {waited:.3f}s for a 0.2s max wait"
    assert model.batches == [[7]]
    await batcher.stop(timeout_s=1)


async def test_items_arriving_within_max_wait_share_one_batch():
    model = FakeModel()
    batcher = make_batcher(model, max_batch_size=8, max_wait_s=0.3)
    first = asyncio.create_task(batcher.submit(1))
    await asyncio.sleep(0.05)
    second = asyncio.create_task(batcher.submit(2))
    assert await asyncio.gather(first, second) == [2, 4]
    assert model.batches == [[1, 2]]
    await batcher.stop(timeout_s=1)


async def test_with_zero_max_wait_an_item_runs_without_waiting():
    model = FakeModel()
    batcher = make_batcher(model, max_wait_s=0.0)
    started = time.monotonic()
    assert await batcher.submit(3) == 6
    assert time.monotonic() - started < 0.1
    await batcher.stop(timeout_s=1)


async def test_a_caller_that_goes_away_while_queued_is_never_run_and_others_are_answered():
    model = FakeModel()
    model.hold()
    batcher = make_batcher(model, max_batch_size=1)
    running = asyncio.create_task(batcher.submit(1))
    await wait_until(model.started.is_set)  # item 1 is in the model; the rest will queue
    leaving = asyncio.create_task(batcher.submit(2))
    staying = asyncio.create_task(batcher.submit(3))
    await asyncio.sleep(0.01)
    leaving.cancel()  # what the HTTP layer does when the client disconnects
    model.release.set()
    assert await running == 2
    assert await staying == 6
    with pytest.raises(asyncio.CancelledError):
        await leaving
    assert model.batches == [[1], [3]], "the departed caller's item reached the model"
    assert batcher.pending == 0
    await batcher.stop(timeout_s=1)


async def test_a_full_queue_rejects_at_once_with_retry_after():
    model = FakeModel()
    model.hold()
    batcher = make_batcher(model, max_batch_size=1, max_queue_size=2)
    in_model = asyncio.create_task(batcher.submit(0))
    await wait_until(model.started.is_set)
    queued = [asyncio.create_task(batcher.submit(i)) for i in (1, 2)]
    await asyncio.sleep(0.01)
    started = time.monotonic()
    with pytest.raises(QueueFull) as rejected:
        await batcher.submit(3)
    assert time.monotonic() - started < 0.05, "a full queue must answer at once"
    assert rejected.value.status_code == 503
    assert rejected.value.headers == {"Retry-After": "1"}
    model.release.set()
    assert await asyncio.gather(in_model, *queued) == [0, 2, 4]
    await batcher.stop(timeout_s=1)


async def test_a_failing_batch_fails_its_callers_and_the_next_batch_still_runs():
    calls = []

    def flaky(batch: list[int]) -> list[int]:
        calls.append(batch)
        if len(calls) == 1:
            raise RuntimeError("CUDA error: out of memory")
        return [x * 2 for x in batch]

    batcher: Batcher[int, int] = Batcher(flaky, max_batch_size=4, max_wait_s=0.01, max_queue_size=8)
    batcher.start()
    with pytest.raises(InferenceFailed, match="out of memory"):
        await batcher.submit(1)
    assert await batcher.submit(2) == 4
    await batcher.stop(timeout_s=1)


async def test_stop_finishes_queued_work_then_refuses_new_items():
    model = FakeModel()
    model.hold()
    batcher = make_batcher(model, max_batch_size=2)
    tasks = [asyncio.create_task(batcher.submit(i)) for i in range(5)]
    await wait_until(model.started.is_set)
    stopping = asyncio.create_task(batcher.stop(timeout_s=5))
    await asyncio.sleep(0.01)
    with pytest.raises(ShuttingDown):
        await batcher.submit(99)
    model.release.set()
    await stopping
    assert await asyncio.gather(*tasks) == [0, 2, 4, 6, 8]


async def test_stop_answers_what_it_could_not_finish_in_time():
    model = FakeModel()
    model.hold()
    batcher = make_batcher(model, max_batch_size=1)
    tasks = [asyncio.create_task(batcher.submit(i)) for i in range(3)]
    await wait_until(model.started.is_set)
    await batcher.stop(timeout_s=0.05)
    model.release.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(r, ShuttingDown) for r in results), results


async def test_batches_failing_again_and_again_call_on_fatal_so_the_pod_is_replaced():
    fatal = []

    def broken(batch: list[int]) -> list[int]:
        raise RuntimeError("CUDA error: an illegal memory access was encountered")

    batcher: Batcher[int, int] = Batcher(
        broken,
        max_batch_size=1,
        max_wait_s=0,
        max_queue_size=8,
        on_fatal=lambda: fatal.append(True),
        max_consecutive_failures=3,
    )
    batcher.start()
    for attempt in range(3):
        with pytest.raises(InferenceFailed):
            await batcher.submit(attempt)
        assert len(fatal) == (1 if attempt == 2 else 0)
    await batcher.stop(timeout_s=1)


async def test_a_model_that_answers_the_wrong_number_of_results_fails_the_batch_not_the_loop():
    batcher: Batcher[int, int] = Batcher(
        lambda batch: [], max_batch_size=4, max_wait_s=0, max_queue_size=8
    )
    batcher.start()
    with pytest.raises(InferenceFailed):
        await batcher.submit(1)
    with pytest.raises(InferenceFailed):
        await batcher.submit(2)  # the loop is still alive to answer
    await batcher.stop(timeout_s=1)


async def test_a_dead_batching_loop_calls_on_fatal():
    fatal = []
    batcher: Batcher[int, int] = Batcher(
        lambda b: b,
        max_batch_size=1,
        max_wait_s=0,
        max_queue_size=8,
        on_fatal=lambda: fatal.append(True),
    )

    async def crash() -> None:
        raise RuntimeError("bug in the loop")

    batcher._loop = crash  # the loop itself fails, whatever the reason
    batcher.start()
    await asyncio.sleep(0.01)
    assert fatal == [True]
