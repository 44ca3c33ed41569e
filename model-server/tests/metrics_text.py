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
    """Sum of the series `name` whose labels include `labels`; 0 when there is none."""
    return sum(
        value
        for series_labels, value in samples.get(name, [])
        if all(series_labels.get(k) == v for k, v in labels.items())
    )
