"""How long a batch takes, learnt from the batches the model really ran.

Admission by time needs to know how long the work already in the server will take. The
model's speed depends on the device, the dtype, the batch size and on what else competes for
the machine, so it is measured, not configured: every finished batch updates an
exponentially weighted moving average (EWMA) of the seconds a batch of that size took. The
warm-up before readiness gives the first measurements, so the estimate is real from the first
request on.

A size never measured is estimated from its measured neighbours: linearly between the two
nearest, and at the per-image cost of the nearest one outside them (a batch of 6 between
measured 4 and 8 is interpolated; a batch of 16 above a measured 8 costs twice the 8).
"""

from __future__ import annotations

import bisect
import threading

# Weight of the newest batch: about the last five batches decide the estimate, quick enough
# to follow a machine that got slower (another process, thermal limits), slow enough not to
# jump with one outlier.
EWMA_WEIGHT = 0.2


class ServiceTime:
    def __init__(self, prior_seconds_per_image: float = 0.1) -> None:
        """`prior_seconds_per_image` is used only until the first batch is measured."""
        self._prior = prior_seconds_per_image
        self._seconds: dict[int, float] = {}
        self._sizes: list[int] = []  # measured sizes, sorted
        # Written from the event loop, read by the metrics exporter's thread.
        self._lock = threading.Lock()

    def observe(self, batch_size: int, seconds: float) -> None:
        """Record that a batch of `batch_size` took `seconds`."""
        if batch_size < 1 or seconds < 0:
            return
        with self._lock:
            old = self._seconds.get(batch_size)
            if old is None:
                bisect.insort(self._sizes, batch_size)
                self._seconds[batch_size] = seconds
            else:
                self._seconds[batch_size] = old + EWMA_WEIGHT * (seconds - old)

    def batch_seconds(self, batch_size: int) -> float:
        """The expected seconds for one batch of `batch_size`."""
        if batch_size < 1:
            return 0.0
        with self._lock:
            sizes, seconds = self._sizes, self._seconds
            if not sizes:
                return self._prior * batch_size
            if batch_size in seconds:
                return seconds[batch_size]
            at = bisect.bisect_left(sizes, batch_size)
            if at == 0:  # below the smallest measured size: its per-image cost
                return seconds[sizes[0]] * batch_size / sizes[0]
            if at == len(sizes):  # above the largest: its per-image cost
                return seconds[sizes[-1]] * batch_size / sizes[-1]
            low, high = sizes[at - 1], sizes[at]
            share = (batch_size - low) / (high - low)
            return seconds[low] + share * (seconds[high] - seconds[low])

    def measured(self) -> dict[int, float]:
        """Batch size -> current estimate, for the sizes measured so far."""
        with self._lock:
            return dict(self._seconds)
