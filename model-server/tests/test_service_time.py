"""The batch-time estimate that admission control predicts queue waits from."""

from __future__ import annotations

import pytest

from model_server.service_time import EWMA_WEIGHT, ServiceTime


def test_before_any_batch_the_prior_per_image_cost_is_used():
    estimate = ServiceTime(prior_seconds_per_image=0.25)
    assert estimate.batch_seconds(4) == pytest.approx(1.0)
    assert estimate.batch_seconds(0) == 0


def test_a_measured_size_follows_its_batches_as_a_moving_average():
    estimate = ServiceTime()
    estimate.observe(8, 1.0)
    assert estimate.batch_seconds(8) == 1.0, "the first measurement is taken as it is"
    estimate.observe(8, 2.0)
    assert estimate.batch_seconds(8) == pytest.approx(1.0 + EWMA_WEIGHT * 1.0)
    for _ in range(60):
        estimate.observe(8, 2.0)
    assert estimate.batch_seconds(8) == pytest.approx(2.0, rel=1e-3), "a slower machine is learnt"


def test_unmeasured_sizes_are_interpolated_between_and_scaled_beyond_the_measured_ones():
    estimate = ServiceTime()
    estimate.observe(2, 0.2)
    estimate.observe(8, 0.5)
    assert estimate.batch_seconds(5) == pytest.approx(0.35), "linear between 2 and 8"
    assert estimate.batch_seconds(16) == pytest.approx(1.0), "per-image cost of the 8 above it"
    assert estimate.batch_seconds(1) == pytest.approx(0.1), "per-image cost of the 2 below it"
    assert estimate.measured() == {2: 0.2, 8: 0.5}


def test_nonsense_observations_are_ignored():
    estimate = ServiceTime(prior_seconds_per_image=0.1)
    estimate.observe(0, 1.0)
    estimate.observe(4, -1.0)
    assert estimate.measured() == {}
