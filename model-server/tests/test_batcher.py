"""The dynamic batcher on its own, with a fake model that records the batches it is given."""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import time

import pytest

from model_server import metrics
from model_server.batcher import Batcher, Forecast, model_worker
from model_server.errors import (
    CorruptImage,
    DeadlineUnreachable,
    InferenceFailed,
    QueueFull,
    ShuttingDown,
)
from model_server.service_time import ServiceTime

pytestmark = pytest.mark.anyio
BATCHER_LOG = Batcher.__module__


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


async def test_a_lone_item_runs_at_once_when_nothing_else_is_on_its_way():
    # Concurrency 1: waiting MAX_BATCH_WAIT_MS for company that cannot come is pure latency.
    model = FakeModel()
    batcher = make_batcher(model, max_batch_size=8, max_wait_s=30.0)
    assert await asyncio.wait_for(batcher.submit(7), timeout=10) == 14
    assert model.batches == [[7]]
    await batcher.stop(timeout_s=1)


@pytest.mark.parametrize("max_wait_s", [30.0, 0.9])
async def test_a_batch_waits_for_a_request_still_on_its_way_and_takes_it_along(max_wait_s):
    model = FakeModel()
    in_hand = 2  # two requests in the server: one queued below, one still being decoded
    batcher = make_batcher(model, max_batch_size=8, max_wait_s=max_wait_s, in_hand=lambda: in_hand)
    first = batcher.enqueue(1)
    await wait_until(batcher._queue.empty)  # the batcher took item 1 and waits for more
    second = batcher.enqueue(2)
    assert await asyncio.wait_for(asyncio.gather(first, second), timeout=10) == [2, 4]
    assert model.batches == [[1, 2]]
    await batcher.stop(timeout_s=1)


async def test_a_request_that_never_arrives_holds_the_batch_at_most_max_wait():
    model = FakeModel()
    # One more request in the server than queued: e.g. a decode that ends in a 400.
    batcher = make_batcher(model, max_batch_size=8, max_wait_s=0.05, in_hand=lambda: 2)
    assert await asyncio.wait_for(batcher.submit(3), timeout=10) == 6
    assert model.batches == [[3]]
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
    assert rejected.value.detail == "the inference queue is full (2 waiting); retry later"
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
    with pytest.raises(ShuttingDown) as refused:
        await batcher.submit(99)
    assert refused.value.detail == "the server is shutting down"
    assert refused.value.headers == {"Retry-After": "1"}, "clients retry on another pod"
    model.release.set()
    await stopping
    assert await asyncio.gather(*tasks) == [0, 2, 4, 6, 8]


async def test_stop_answers_what_it_could_not_finish_in_time(caplog):
    model = FakeModel()
    model.hold()
    batcher = make_batcher(model, max_batch_size=1)
    tasks = [asyncio.create_task(batcher.submit(i)) for i in range(3)]
    await wait_until(model.started.is_set)
    with caplog.at_level(logging.WARNING, logger=BATCHER_LOG):
        await batcher.stop(timeout_s=0.05)
    model.release.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(r, ShuttingDown) for r in results), results
    assert {r.detail for r in results} == {"the server stopped before this request ran"}
    assert [r.getMessage() for r in caplog.records] == [
        "stopped with 3 requests unanswered after 0.1s"
    ]


async def test_batches_failing_again_and_again_call_on_fatal_so_the_pod_is_replaced(caplog):
    fatal = []

    def broken(batch: list[int]) -> list[int]:
        raise RuntimeError("CUDA error: an illegal memory access was encountered")

    batcher: Batcher[int, int] = Batcher(
        broken,
        max_batch_size=1,
        max_wait_s=0,
        max_queue_size=8,
        on_fatal=lambda: fatal.append(True),
    )  # the default: three in a row, as model-server/README.md says
    batcher.start()
    with caplog.at_level(logging.ERROR, logger=BATCHER_LOG):
        for attempt in range(3):
            with pytest.raises(InferenceFailed):
                await batcher.submit(attempt)
            assert len(fatal) == (1 if attempt == 2 else 0)
    assert caplog.records[-1].getMessage() == "3 batches failed in a row; giving up"
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

    batcher._collect = crash  # the loop itself fails, whatever the reason
    batcher.start()
    await asyncio.sleep(0.01)
    assert fatal == [True]


def seeded(batch_size: int, seconds: float) -> ServiceTime:
    estimate = ServiceTime()
    estimate.observe(batch_size, seconds)
    return estimate


# Both loops: without a pipeline and with one, where the next batch is collected (and the
# deadlines judged) while the current one still runs.
@pytest.mark.parametrize("pipeline", [False, True])
async def test_an_item_whose_deadline_passed_in_the_queue_never_reaches_the_model(pipeline):
    model = FakeModel()
    model.hold()
    batcher = make_batcher(model, max_batch_size=1, pipeline=pipeline)
    running = asyncio.create_task(batcher.submit(0))
    await wait_until(model.started.is_set)
    expired = batcher.enqueue(1, deadline=time.monotonic())  # due now: over once the model frees
    staying = asyncio.create_task(batcher.submit(2))
    model.release.set()
    assert await running == 0
    assert await staying == 4
    assert model.batches == [[0], [2]], "the expired item reached the model"
    dropped = expired.exception()  # answered before the item queued after it
    assert isinstance(dropped, DeadlineUnreachable), dropped
    assert dropped.status_code == 503 and int(dropped.headers["Retry-After"]) >= 1
    await batcher.stop(timeout_s=1)


@pytest.mark.parametrize("pipeline", [False, True])
async def test_an_item_that_cannot_finish_before_its_deadline_is_dropped_before_the_model(
    pipeline,
):
    # Batches are known to take 100 s here; an item due in 50 s cannot make it.
    model = FakeModel()
    model.hold()
    batcher = make_batcher(
        model, max_batch_size=1, service_time=seeded(1, 100.0), pipeline=pipeline
    )
    running = asyncio.create_task(batcher.submit(0))
    await wait_until(model.started.is_set)
    hopeless = batcher.enqueue(1, deadline=time.monotonic() + 50)
    patient = batcher.enqueue(2)  # no deadline
    model.release.set()
    assert await running == 0
    assert await patient == 4
    assert model.batches == [[0], [2]], "the item that could not make it reached the model"
    dropped = hopeless.exception()
    assert isinstance(dropped, DeadlineUnreachable), dropped
    # Judged once batch 0 is done (no pipeline: at most its own 100 s to go) or while batch 0
    # still runs (pipeline: up to 100 s left of it, then its own 100 s): at most 150 s late.
    late = re.fullmatch(
        r"the request would finish (\d+\.\d\d)s after its deadline; retry later", dropped.detail
    )
    assert late, dropped.detail
    assert 0 < float(late[1]) <= 150
    assert 1 <= int(dropped.headers["Retry-After"]) <= 200, "retry once the queue is served"
    await batcher.stop(timeout_s=1)


async def test_predicted_wait_counts_the_full_batches_ahead_and_the_running_remainder():
    model = FakeModel()
    model.hold()
    batcher = make_batcher(model, max_batch_size=4, service_time=seeded(4, 1.0))
    assert batcher.predicted_wait(0) == 0, "idle: a new request runs at once"
    assert batcher.predicted_wait(3) == 0, "it joins the next batch with the 3 ahead"
    assert batcher.predicted_wait(4) == pytest.approx(1.0), "one full batch ahead"
    assert batcher.predicted_wait(9) == pytest.approx(2.0)
    running = [asyncio.create_task(batcher.submit(i)) for i in range(4)]
    await wait_until(model.started.is_set)
    assert model.batches == [[0, 1, 2, 3]]
    # 4 in hand, all running: only what is left of that batch (it started a moment ago).
    assert 0.5 < batcher.predicted_wait(4) <= 1.0
    assert 1.5 < batcher.predicted_wait(8) <= 2.0
    assert batcher.images_per_second() == pytest.approx(4.0)
    model.release.set()
    await asyncio.gather(*running)
    await batcher.stop(timeout_s=1)


async def test_every_batch_run_updates_the_batch_time_estimate():
    estimate = ServiceTime()
    batcher = make_batcher(FakeModel(), max_batch_size=2, service_time=estimate)
    await asyncio.gather(batcher.submit(1), batcher.submit(2))
    assert set(estimate.measured()) == {2}
    await batcher.stop(timeout_s=1)


async def test_a_result_that_is_an_error_fails_only_its_own_caller():
    def model(batch: list[int]) -> list[int | Exception]:
        return [CorruptImage("not decodable") if x < 0 else x * 2 for x in batch]

    batcher: Batcher[int, int] = Batcher(model, max_batch_size=4, max_wait_s=1, max_queue_size=8)
    batcher.start()
    good, bad = batcher.enqueue(1), batcher.enqueue(-1)
    assert await good == 2
    with pytest.raises(CorruptImage):
        await bad
    await batcher.stop(timeout_s=1)


class StagedModel:
    """prepare() and run() as separate stages, recording which thread ran each; run() can be
    held like FakeModel."""

    def __init__(self) -> None:
        self.prepared: list[list[int]] = []
        self.threads: dict[str, set[str]] = {"prepare": set(), "run": set()}
        self.running = threading.Event()
        self.release = threading.Event()

    def prepare(self, payloads: list[int]) -> list[int]:
        self.threads["prepare"].add(threading.current_thread().name)
        self.prepared_on = threading.current_thread()
        self.prepared.append(list(payloads))
        return [x * 10 for x in payloads]

    def run(self, model_input: list[int]) -> list[int]:
        self.threads["run"].add(threading.current_thread().name)
        self.running.set()
        assert self.release.wait(10), "test never released the model"
        return [x + 1 for x in model_input]

    def batcher(self, *, pipeline: bool, max_batch_size: int, **options) -> Batcher[int, int]:
        """A started batcher over these two stages, which never waits for company."""
        batcher: Batcher[int, int] = Batcher(
            self.run,
            prepare_batch=self.prepare,
            pipeline=pipeline,
            max_batch_size=max_batch_size,
            max_wait_s=0,
            max_queue_size=16,
            **options,
        )
        batcher.start()
        return batcher


@pytest.mark.parametrize("pipeline", [True, False])
async def test_prepare_feeds_run_and_each_caller_gets_its_own_result(pipeline):
    model = StagedModel()
    model.release.set()
    batcher = model.batcher(pipeline=pipeline, max_batch_size=4)
    results = await asyncio.gather(*(batcher.submit(i) for i in range(6)))
    assert results == [i * 10 + 1 for i in range(6)]
    same_thread = model.threads["prepare"] == model.threads["run"]
    assert same_thread is not pipeline, model.threads
    await batcher.stop(timeout_s=1)


async def test_with_a_pipeline_the_next_batch_is_prepared_while_the_current_one_runs():
    model = StagedModel()
    batcher = model.batcher(pipeline=True, max_batch_size=2)
    first = [asyncio.create_task(batcher.submit(i)) for i in (0, 1)]
    await wait_until(model.running.is_set)  # batch [0, 1] is in the model, held there
    second = [asyncio.create_task(batcher.submit(i)) for i in (2, 3)]
    await wait_until(lambda: len(model.prepared) == 2)  # prepared while [0, 1] still runs
    assert model.prepared == [[0, 1], [2, 3]]
    model.release.set()
    assert await asyncio.gather(*first, *second) == [1, 11, 21, 31]
    await batcher.stop(timeout_s=1)


async def test_without_a_pipeline_a_batch_is_collected_only_once_the_model_is_free():
    model = StagedModel()
    batcher = model.batcher(pipeline=False, max_batch_size=2)
    first = asyncio.create_task(batcher.submit(0))
    await wait_until(model.running.is_set)
    later = [asyncio.create_task(batcher.submit(i)) for i in (1, 2)]
    await wait_until(lambda: batcher._queue.qsize() == 2)
    assert model.prepared == [[0]], "nothing is taken from the queue while the model runs"
    model.release.set()
    assert await asyncio.gather(first, *later) == [1, 11, 21]
    assert model.prepared == [[0], [1, 2]], "what queued meanwhile ran as one batch"
    await batcher.stop(timeout_s=1)


def observed_sum(histogram) -> float:
    """The running total of seconds a histogram of the server's registry has observed."""
    (family,) = histogram.collect()
    return sum(s.value for s in family.samples if s.name.endswith("_sum"))


@pytest.mark.parametrize("pipeline", [False, True])
async def test_the_durations_recorded_are_the_real_ones(pipeline):
    # Queue wait, prepare and compute times go to the metrics and the batch time to the
    # estimate that admission trusts: each is bounded by how long the batch really took.
    histograms = (metrics.QUEUE_WAIT, metrics.PREPARE, metrics.COMPUTE)
    before = [observed_sum(h) for h in histograms]
    model = StagedModel()
    model.release.set()
    estimate = ServiceTime()
    batcher = model.batcher(pipeline=pipeline, max_batch_size=2, service_time=estimate)
    started = time.monotonic()
    assert await asyncio.gather(batcher.submit(1), batcher.submit(2)) == [11, 21]
    elapsed = time.monotonic() - started
    await batcher.stop(timeout_s=1)
    for histogram, old in zip(histograms, before, strict=True):
        assert 0 <= observed_sum(histogram) - old <= 2 * elapsed, histogram
    assert 0 <= estimate.batch_seconds(2) <= elapsed, estimate.measured()


async def test_when_no_batch_runs_nothing_is_left_of_the_last_one():
    # A finished batch, of a size estimated to take long, leaves no running remainder behind.
    estimate = seeded(1, 100.0)
    batcher = make_batcher(FakeModel(), max_batch_size=1, service_time=estimate)
    assert await batcher.submit(1) == 2
    assert batcher.forecast(0) == Forecast(wait_s=0.0, batches_ahead=0)
    assert batcher.forecast(1) == Forecast(wait_s=estimate.batch_seconds(1), batches_ahead=1)
    await batcher.stop(timeout_s=1)


async def test_a_batch_that_overruns_its_estimate_adds_no_wait_of_its_own():
    model = FakeModel()
    model.hold()
    batcher = make_batcher(model, max_batch_size=4, service_time=seeded(4, 0.001))
    running = asyncio.create_task(batcher.submit(1))
    await wait_until(model.started.is_set)
    await asyncio.sleep(0.01)  # past its 1 ms estimate, still running
    assert batcher.forecast(1).wait_s == 0.0, "the overrun is not known, so not predicted"
    model.release.set()
    assert await running == 2
    await batcher.stop(timeout_s=1)


def test_capacity_is_images_per_second_at_full_batches():
    measured = Batcher(
        list, max_batch_size=4, max_wait_s=0, max_queue_size=1, service_time=seeded(4, 2.0)
    )
    assert measured.images_per_second() == pytest.approx(2.0)
    instant = Batcher(
        list, max_batch_size=4, max_wait_s=0, max_queue_size=1, service_time=seeded(4, 0.0)
    )
    assert instant.images_per_second() == float("inf"), "no division by a zero batch time"


async def test_a_submitted_item_keeps_its_deadline():
    batcher = make_batcher(FakeModel(), service_time=seeded(1, 100.0))
    with pytest.raises(DeadlineUnreachable):
        await batcher.submit(1, deadline=time.monotonic() + 1)
    await batcher.stop(timeout_s=1)


async def test_a_caller_that_leaves_while_its_batch_runs_leaves_the_others_answered():
    model = FakeModel()
    model.hold()
    batcher = make_batcher(model, max_batch_size=3, max_wait_s=1.0, in_hand=lambda: 3)
    leaving, *staying = (batcher.enqueue(i) for i in range(3))
    await wait_until(model.started.is_set)
    assert model.batches == [[0, 1, 2]]
    leaving.cancel()
    model.release.set()
    assert await asyncio.wait_for(asyncio.gather(*staying), timeout=10) == [2, 4]
    await batcher.stop(timeout_s=1)


async def test_failures_that_are_not_in_a_row_never_give_up(caplog):
    fatal = []

    def every_other(batch: list[int]) -> list[int]:
        if batch[0] % 2:
            raise RuntimeError("CUDA error: out of memory")
        return [x * 2 for x in batch]

    batcher: Batcher[int, int] = Batcher(
        every_other,
        max_batch_size=1,
        max_wait_s=0,
        max_queue_size=8,
        on_fatal=lambda: fatal.append(True),
        max_consecutive_failures=2,
    )
    batcher.start()
    with caplog.at_level(logging.ERROR, logger=BATCHER_LOG):
        for item in range(6):
            if item % 2:
                with pytest.raises(InferenceFailed, match="out of memory"):
                    await batcher.submit(item)
            else:
                assert await batcher.submit(item) == 2 * item
    assert fatal == []
    failures = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert [r.getMessage() for r in failures] == ["a batch of 1 failed"] * 3
    assert all(r.exc_info and "out of memory" in str(r.exc_info[1]) for r in failures)
    await batcher.stop(timeout_s=1)


@pytest.mark.parametrize("pipeline", [False, True])
async def test_a_failing_prepare_fails_its_callers_and_the_next_batch_still_runs(pipeline):
    fatal = []

    def prepare(payloads: list[int]) -> list[int]:
        if payloads == [1]:
            raise RuntimeError("cannot stack a tensor of shape (0,)")
        return payloads

    batcher: Batcher[int, int] = Batcher(
        lambda batch: [x * 2 for x in batch],
        prepare_batch=prepare,
        pipeline=pipeline,
        max_batch_size=1,
        max_wait_s=0,
        max_queue_size=8,
        on_fatal=lambda: fatal.append(True),
        max_consecutive_failures=1,
    )
    batcher.start()
    with pytest.raises(InferenceFailed) as failed:
        await batcher.submit(1)
    assert failed.value.detail == "inference failed: cannot stack a tensor of shape (0,)"
    assert fatal == [True], "a failed prepare counts as a failed batch"
    assert await asyncio.wait_for(batcher.submit(2), timeout=10) == 4, "the loop goes on"
    await batcher.stop(timeout_s=1)


async def test_a_dead_batching_loop_is_logged_with_its_exception(caplog):
    batcher: Batcher[int, int] = Batcher(
        lambda b: b, max_batch_size=1, max_wait_s=0, max_queue_size=8
    )

    async def crash() -> None:
        raise RuntimeError("bug in the loop")

    batcher._collect = crash
    with caplog.at_level(logging.ERROR, logger=BATCHER_LOG):
        batcher.start()
        await wait_until(lambda: caplog.records)
    (record,) = caplog.records
    assert record.getMessage() == "the batching loop died"
    assert "bug in the loop" in str(record.exc_info[1])


@pytest.mark.parametrize("pipeline", [False, True])
async def test_a_clean_stop_is_no_fatal_error(pipeline, caplog):
    fatal = []
    batcher: Batcher[int, int] = Batcher(
        lambda b: b,
        pipeline=pipeline,
        max_batch_size=1,
        max_wait_s=0,
        max_queue_size=8,
        on_fatal=lambda: fatal.append(True),
    )
    batcher.start()
    assert await batcher.submit(1) == 1
    with caplog.at_level(logging.WARNING):
        await batcher.stop(timeout_s=1)
        await asyncio.sleep(0.01)  # the loops' done-callbacks run after stop
    assert fatal == []
    assert [r.getMessage() for r in caplog.records] == []


@pytest.mark.parametrize("pipeline", [False, True])
async def test_the_model_runs_on_the_worker_thread_that_loaded_it(pipeline):
    # CUDA state is per thread: the thread that loaded and warmed up the model runs it. With a
    # pipeline, batches are prepared on a thread of their own. Thread and task names are what
    # a stack dump (py-spy, faulthandler) shows.
    worker = model_worker()
    loaded_on = worker.submit(threading.current_thread).result()
    model = StagedModel()
    model.release.set()
    batcher = model.batcher(pipeline=pipeline, max_batch_size=2, worker=worker)
    assert await batcher.submit(1) == 11
    assert model.threads["run"] == {loaded_on.name}
    assert loaded_on.name.startswith("model-worker")
    (prepared_on,) = model.threads["prepare"]
    assert prepared_on.startswith("batch-feeder" if pipeline else "model-worker")
    loops = {task.get_name() for task in batcher._tasks}
    assert loops == ({"batch-feeder", "batch-runner"} if pipeline else {"batcher"})
    await batcher.stop(timeout_s=1)


def test_the_model_worker_is_one_thread_that_runs_one_call_at_a_time():
    worker = model_worker()
    second_submitted = threading.Event()

    def first() -> int:
        assert second_submitted.wait(10)
        return threading.get_ident()

    running = worker.submit(first)
    queued = worker.submit(threading.get_ident)
    second_submitted.set()
    assert running.result(10) == queued.result(10), "a second thread ran the model"
    worker.shutdown()


@pytest.mark.parametrize("stage", ["prepare", "run"])
async def test_stop_never_waits_for_a_stuck_thread(stage):
    # A GPU call that never returns must not hang the shutdown: stop() returns, the pod exits.
    # The stuck stage is let go 5 s later, by a timer, so that a hang here ends too.
    stuck = threading.Event()
    entered = threading.Event()

    def hang(payloads):
        entered.set()
        stuck.wait(30)
        return payloads

    stages = {"prepare_batch": hang} if stage == "prepare" else {}
    run_batch = hang if stage == "run" else (lambda batch: batch)
    batcher: Batcher[int, int] = Batcher(
        run_batch, pipeline=True, max_batch_size=1, max_wait_s=0, max_queue_size=8, **stages
    )
    batcher.start()
    task = asyncio.create_task(batcher.submit(1))
    await wait_until(entered.is_set)
    timer = threading.Timer(5, stuck.set)
    timer.start()
    await batcher.stop(timeout_s=0.05)
    assert not stuck.is_set(), "stop() waited for the stuck thread"
    timer.cancel()
    stuck.set()
    with pytest.raises(ShuttingDown):
        await task


async def test_stop_ends_the_feeder_thread():
    model = StagedModel()
    model.release.set()
    batcher = model.batcher(pipeline=True, max_batch_size=1)
    assert await batcher.submit(1) == 11
    await batcher.stop(timeout_s=1)
    model.prepared_on.join(5)
    assert not model.prepared_on.is_alive(), "the feeder thread outlived stop()"
