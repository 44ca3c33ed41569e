"""The e2e's setup (tools/e2e.plan) refuses broken wiring before it starts anything, naming
the file, the field and the cause: a broken copy of the tree each, seconds not minutes."""

from __future__ import annotations

from pathlib import Path

import pytest

from tools import e2e
from tools.monitoring import WiringError
from tools.render import render


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def setup_error(tree: Path, file: str, old: str, new: str) -> str:
    """Break `file` in the tree copy; return what the e2e's setup says about it."""
    edit(tree / file, old, new)
    with pytest.raises(WiringError) as error:
        e2e.plan({env: render(env, tree) for env in ("dev", "prod")})
    return str(error.value)


def test_the_unbroken_tree_plans_a_scrape_of_the_metrics_port(rendered):
    plan = e2e.plan(rendered)
    assert plan.port_setting == "METRICS_PORT"
    assert plan.target.labels["namespace"] == "swin-t"
    assert set(plan.specs) == {"dev", "prod"}


def test_a_trigger_query_naming_a_metric_the_server_does_not_export_stops_the_e2e(tree_copy):
    message = setup_error(
        tree_copy,
        "apps/swin-t/base/scaledobject-swin-t.yaml",
        'query: namespace:inference_inflight_requests:sum{namespace="swin-t"}',
        'query: sum(inference_inflight_requestz{namespace="swin-t"})',
    )
    assert "apps/swin-t/base/scaledobject-swin-t.yaml" in message
    assert "spec.triggers[0] (inflight-per-replica) metadata.query" in message
    assert "['inference_inflight_requestz']" in message
    assert "model-server/src/model_server/metrics.py" in message


def test_a_recording_rule_reading_a_metric_the_server_does_not_export_stops_the_e2e(tree_copy):
    message = setup_error(
        tree_copy,
        "apps/swin-t/base/prometheusrule-swin-t.yaml",
        "sum by (namespace) (inference_inflight_requests{",
        "sum by (namespace) (inference_requests_in_flight{",
    )
    assert "apps/swin-t/base/prometheusrule-swin-t.yaml" in message
    assert "rule namespace:inference_inflight_requests:sum reads" in message
    assert "['inference_requests_in_flight']" in message


def test_a_service_monitor_port_name_no_service_has_stops_the_e2e(tree_copy):
    monitor = "apps/swin-t/base/servicemonitor-swin-t.yaml"
    message = setup_error(tree_copy, monitor, "port: metrics", "port: metric")
    assert monitor in message
    assert "spec.endpoints[0].port 'metric' is not a port name of any Service" in message
    assert "Service/swin-t (apps/swin-t/base/service-swin-t.yaml" in message
    assert "has ['http', 'metrics']" in message


def test_a_service_monitor_on_the_api_port_stops_the_e2e(tree_copy):
    monitor = "apps/swin-t/base/servicemonitor-swin-t.yaml"
    message = setup_error(tree_copy, monitor, "port: metrics", "port: http")
    assert "reaches container port 8080, where the server" in message
    assert "serves no metrics: PORT 8080, METRICS_PORT 9090" in message
