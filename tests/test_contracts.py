"""Contracts between the parts: each failure names both sides."""

from __future__ import annotations

import re

import pytest
import yaml

from model_server.metrics import exported_metric_names
from tools.monitoring import (
    OTHER_EXPORTERS,
    dashboard_queries,
    promql_metric_names,
    recorded_names,
    scrape_targets,
    server_settings,
    source_metrics,
    unprovided_metrics,
)
from tools.render import Manifest, Rendered

ENVS = ["dev", "prod"]


def one(r: Rendered, app: str, kind: str) -> Manifest:
    found = [m for m in r.app(app).manifests if m.kind == kind]
    assert len(found) == 1, f"{app}: expected one {kind}, found {len(found)}"
    return found[0]


def matches(selector: dict, labels: dict) -> bool:
    return all(labels.get(k) == v for k, v in (selector.get("matchLabels") or {}).items())


@pytest.mark.parametrize("env", ENVS)
def test_the_service_monitor_reaches_the_servers_metrics_port_through_the_service(rendered, env):
    monitor = one(rendered[env], "swin-t", "ServiceMonitor")
    deployment = one(rendered[env], "swin-t", "Deployment")
    targets = scrape_targets(monitor, rendered[env].app("swin-t").manifests)
    assert targets, f"{monitor.where}: no scrape target"
    metrics_port = server_settings(deployment).metrics_port
    for target in targets:
        assert target.container_port == metrics_port, (
            f"{monitor.where}: port {target.port_name!r} reaches container port "
            f"{target.container_port}, but the server serves /metrics on METRICS_PORT "
            f"{metrics_port} ({deployment.where})"
        )


@pytest.mark.parametrize("env", ENVS)
def test_prometheus_selects_the_apps_service_monitor_and_prometheus_rule(rendered, env):
    kps = rendered[env].app("kube-prometheus-stack").helm[0]
    spec = kps.values["prometheus"]["prometheusSpec"]
    for kind, prefix in (("ServiceMonitor", "serviceMonitor"), ("PrometheusRule", "rule")):
        resource = one(rendered[env], "swin-t", kind)
        selector = spec.get(f"{prefix}Selector") or {}
        if spec.get(f"{prefix}SelectorNilUsesHelmValues", True) and not selector:
            # the chart then selects only objects labelled release=<its release name>
            selector = {"matchLabels": {"release": kps.release_name}}
        assert spec.get(f"{prefix}NamespaceSelector", {}) == {}, "all namespaces expected"
        assert matches(selector, resource.obj["metadata"].get("labels", {})), (
            f"{resource.where}: {kind}/{resource.name} is not selected by Prometheus "
            f"({', '.join(kps.value_files)}: prometheus.prometheusSpec.{prefix}Selector "
            f"= {selector})"
        )


def prometheus_url(r: Rendered) -> str:
    kps = r.app("kube-prometheus-stack").helm[0]
    fullname = kps.values.get("fullnameOverride") or kps.release_name
    port = kps.values["prometheus"].get("service", {}).get("port", 9090)
    return f"http://{fullname}-prometheus.{kps.namespace}.svc.cluster.local:{port}"


@pytest.mark.parametrize("env", ENVS)
def test_the_scaled_object_targets_the_deployment_and_queries_the_real_prometheus(rendered, env):
    scaled = one(rendered[env], "swin-t", "ScaledObject")
    deployment = one(rendered[env], "swin-t", "Deployment")
    target = scaled.obj["spec"]["scaleTargetRef"]
    assert (target.get("kind", "Deployment"), target["name"]) == ("Deployment", deployment.name), (
        f"{scaled.where}: scaleTargetRef {target} is not {deployment.where}"
    )
    expected = prometheus_url(rendered[env])
    for trigger in scaled.obj["spec"]["triggers"]:
        assert trigger["metadata"]["serverAddress"] == expected, (
            f"{scaled.where}: trigger {trigger['name']} queries "
            f"{trigger['metadata']['serverAddress']}, but the kube-prometheus-stack "
            f"Application creates {expected}"
        )
    first = scaled.obj["spec"]["triggers"][0]
    recorded = recorded_names([one(rendered[env], "swin-t", "PrometheusRule")])
    assert first["metricType"] == "AverageValue" and "inference_inflight_requests" in (
        source_metrics(first["metadata"]["query"], recorded)
    ), f"{scaled.where}: in-flight requests per replica must be the first trigger"


def queries(r: Rendered) -> list[tuple[str, str]]:
    found = []
    for m in r.app("swin-t").manifests:
        if m.kind == "ScaledObject":
            found += [(m.where, t["metadata"]["query"]) for t in m.obj["spec"]["triggers"]]
        if m.kind == "PrometheusRule":
            found += [
                (m.where, rule["expr"])
                for group in m.obj["spec"]["groups"]
                for rule in group["rules"]
            ]
    found += [(q.where, q.expr) for q in dashboard_queries(r.app("swin-t").manifests)]
    return found


@pytest.mark.parametrize("env", ENVS)
def test_every_metric_the_gitops_side_queries_is_exported_by_the_model_server(rendered, env):
    exported = exported_metric_names()
    recorded = recorded_names([one(rendered[env], "swin-t", "PrometheusRule")])
    checked = 0
    for where, expr in queries(rendered[env]):
        checked += len(promql_metric_names(expr))
        assert not unprovided_metrics(expr, exported, recorded), (
            f"{where}: {sorted(unprovided_metrics(expr, exported, recorded))} in `{expr}` "
            "is neither exported by the model server (model-server/src/model_server/"
            "metrics.py), nor recorded by the PrometheusRule, nor listed in "
            f"tools/monitoring.py OTHER_EXPORTERS ({sorted(OTHER_EXPORTERS)})"
        )
    assert checked >= 10


@pytest.mark.parametrize("env", ENVS)
def test_the_queries_select_the_apps_own_namespace_deployment_service_and_hpa(rendered, env):
    scaled = one(rendered[env], "swin-t", "ScaledObject")
    deployment = one(rendered[env], "swin-t", "Deployment")
    monitor = one(rendered[env], "swin-t", "ServiceMonitor")
    hpa_config = scaled.obj["spec"].get("advanced", {}).get("horizontalPodAutoscalerConfig", {})
    expected = {
        "namespace": deployment.obj["metadata"]["namespace"],
        "deployment": deployment.name,
        # KEDA names the HPA it creates keda-hpa-<ScaledObject> unless told otherwise.
        "horizontalpodautoscaler": hpa_config.get("name", f"keda-hpa-{scaled.name}"),
        "service": scrape_targets(monitor, rendered[env].app("swin-t").manifests)[0].labels[
            "service"
        ],
    }
    seen = set()
    for where, expr in queries(rendered[env]):
        for label, value in re.findall(r'\b(\w+)="([^"]*)"', expr):
            if label in expected:
                seen.add(label)
                assert value == expected[label], (
                    f'{where}: `{label}="{value}"` in `{expr}` should select {expected[label]!r}'
                )
    assert seen == set(expected), f"no query filters on {set(expected) - seen}"


def test_the_promql_reader_finds_metric_names():
    expr = (
        "histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket"
        '{namespace="swin-t", endpoint="/predict"}[2m]))) > 0 or vector(0)'
    )
    assert promql_metric_names(expr) == {"http_request_duration_seconds_bucket"}


@pytest.mark.parametrize("env", ENVS)
def test_time_slicing_replicas_come_from_the_cluster_facts(rendered, env):
    config = rendered[env].app("gpu-operator").helm[0].values["devicePlugin"]["config"]
    sharing = yaml.safe_load(config["data"][config["default"]])
    replicas = sharing["sharing"]["timeSlicing"]["resources"][0]["replicas"]
    assert str(replicas) == rendered[env].facts["gpuTimeSlicingReplicas"], (
        f"platform/gpu-operator/application.yaml time-slicing replicas {replicas} != "
        f"clusters/{env}/cluster-facts.yaml gpuTimeSlicingReplicas"
    )


@pytest.mark.parametrize("env", ENVS)
def test_cluster_autoscaler_minor_version_matches_the_cluster(rendered, env):
    tag = rendered[env].app("cluster-autoscaler").helm[0].values["image"]["tag"]
    version = rendered[env].facts["kubernetesVersion"]
    assert tag.lstrip("v").startswith(version + "."), (
        f"clusters/{env}/values/cluster-autoscaler.yaml image.tag {tag} does not match "
        f"clusters/{env}/cluster-facts.yaml kubernetesVersion {version}"
    )


@pytest.mark.parametrize("env", ENVS)
def test_the_deployment_matches_the_servers_ports_routes_and_drain(rendered, env):
    deployment = one(rendered[env], "swin-t", "Deployment")
    pod = deployment.obj["spec"]["template"]["spec"]
    container = pod["containers"][0]
    settings = server_settings(deployment)
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports["http"] == settings.port, f"{deployment.where}: http port != server PORT"
    assert ports["metrics"] == settings.metrics_port != 0, (
        f"{deployment.where}: metrics port != METRICS_PORT"
    )
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert container["startupProbe"]["httpGet"]["path"] == "/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    pre_stop = container["lifecycle"]["preStop"]["sleep"]["seconds"]
    drain = pre_stop + settings.shutdown_delay_seconds + settings.shutdown_grace_seconds
    assert pod["terminationGracePeriodSeconds"] > drain, (
        f"{deployment.where}: terminationGracePeriodSeconds {pod['terminationGracePeriodSeconds']}"
        f" must exceed preStop + SHUTDOWN_DELAY_SECONDS + SHUTDOWN_GRACE_SECONDS = {drain}"
    )
    # The GPU taint, labels and resource: tests/test_contracts_sources.py, read from tofu.


@pytest.mark.parametrize("env", ENVS)
def test_the_dashboard_shows_when_each_keda_input_is_missing_and_rejections_by_reason(
    rendered, env
):
    scaled = one(rendered[env], "swin-t", "ScaledObject")
    exprs = [q.expr for q in dashboard_queries(rendered[env].app("swin-t").manifests)]
    for trigger in scaled.obj["spec"]["triggers"]:
        query = trigger["metadata"]["query"]
        assert any(f"absent({query})" in expr for expr in exprs), (
            f"configmap-swin-t-dashboard.yaml: no panel shows when `{query}` (ScaledObject "
            f"trigger {trigger['name']}) is missing, i.e. when KEDA falls back"
        )
    assert any(
        "inference_requests_rejected_total" in expr and "by (reason)" in expr for expr in exprs
    ), "configmap-swin-t-dashboard.yaml: no panel shows rejections by reason"
