"""Reading a /metrics scrape with prometheus_client's own parser."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

Samples = dict[str, list[tuple[dict[str, str], float]]]


def parse_metrics(text: str) -> Samples:
    """Series name (with suffix) -> [(labels, value)]."""
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples.setdefault(s.name, []).append((s.labels, s.value))
    return samples


def sample(samples: Samples, name: str, **labels: str) -> float:
    """Sum of the series `name` whose labels include `labels`. No such series fails the test:
    a gauge that is gone is not a gauge back at 0."""
    matching = [
        value
        for series_labels, value in samples.get(name, [])
        if all(series_labels.get(k) == v for k, v in labels.items())
    ]
    if not matching:
        present = [labels for labels, _value in samples.get(name, [])]
        raise AssertionError(
            f"no series {name}{labels or ''} in the scrape"
            + (f" (series of that name: {present})" if present else " (no series of that name)")
        )
    return sum(matching)


def sample_or_zero(samples: Samples, name: str, **labels: str) -> float:
    """As sample(), 0 where the series does not exist yet: only for a scrape taken before the
    traffic that creates it (a labelled counter appears with its first increment)."""
    try:
        return sample(samples, name, **labels)
    except AssertionError:
        return 0.0
