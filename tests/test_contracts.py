"""Contracts between the parts: each failure names both sides."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from model_server.config import Settings
from model_server.metrics import exported_metric_names
from tools.render import Manifest, Rendered

ENVS = ["dev", "prod"]
# Metrics that other exporters provide, used by the dashboard next to the server's own.
OTHER_EXPORTERS = {"DCGM_FI_DEV_GPU_UTIL": "NVIDIA DCGM exporter (gpu-operator)"}
PROMQL_WORDS = {
    "sum",
    "avg",
    "min",
    "max",
    "count",
    "rate",
    "irate",
    "increase",
    "histogram_quantile",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "and",
    "or",
    "unless",
    "vector",
    "le",
    "bool",
    "offset",
    "abs",
    "clamp_min",
    "clamp_max",
    "topk",
    "bottomk",
}


def one(r: Rendered, app: str, kind: str) -> Manifest:
    found = [m for m in r.app(app).manifests if m.kind == kind]
    assert len(found) == 1, f"{app}: expected one {kind}, found {len(found)}"
    return found[0]


def matches(selector: dict, labels: dict) -> bool:
    return all(labels.get(k) == v for k, v in (selector.get("matchLabels") or {}).items())


@pytest.mark.parametrize("env", ENVS)
def test_the_service_monitor_selects_the_app_service_and_its_port_by_name(rendered, env):
    monitor = one(rendered[env], "swin-t", "ServiceMonitor")
    services = [m for m in rendered[env].app("swin-t").manifests if m.kind == "Service"]
    selected = [
        s
        for s in services
        if matches(monitor.obj["spec"]["selector"], s.obj["metadata"].get("labels", {}))
    ]
    assert selected, f"{monitor.where}: selector matches no Service of the app"
    for endpoint in monitor.obj["spec"]["endpoints"]:
        for service in selected:
            ports = {p.get("name") for p in service.obj["spec"]["ports"]}
            if endpoint["port"] not in ports and service.name == "swin-t":
                pytest.fail(
                    f"{monitor.where}: port {endpoint['port']!r} is not a port name of "
                    f"{service.where} ({sorted(ports)})"
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
    kinds = [t["metricType"] for t in scaled.obj["spec"]["triggers"]]
    assert (
        kinds[0] == "AverageValue"
        and "inference_inflight_requests"
        in (scaled.obj["spec"]["triggers"][0]["metadata"]["query"])
    ), "in-flight per replica first"


def promql_metric_names(expr: str) -> set[str]:
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # strings
    expr = re.sub(r"\{[^}]*\}", "", expr)  # label matchers
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # ranges
    expr = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", "", expr)  # grouping labels
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", expr):
        token, rest = match.group(), expr[match.end() :].lstrip()
        if token not in PROMQL_WORDS and not rest.startswith("(") and not token.isdigit():
            names.add(token)
    return names


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
        if m.kind == "ConfigMap" and m.obj["metadata"].get("labels", {}).get("grafana_dashboard"):
            for text in m.obj["data"].values():
                found += [
                    (m.where, target["expr"])
                    for panel in json.loads(text)["panels"]
                    for target in panel.get("targets", [])
                ]
    return found


@pytest.mark.parametrize("env", ENVS)
def test_every_metric_the_gitops_side_queries_is_exported_by_the_model_server(rendered, env):
    exported = exported_metric_names()
    checked = 0
    for where, expr in queries(rendered[env]):
        for name in promql_metric_names(expr):
            checked += 1
            assert name in exported or name in OTHER_EXPORTERS, (
                f"{where}: `{name}` in `{expr}` is not exported by the model server "
                "(model-server/src/model_server/metrics.py)"
            )
    assert checked >= 10


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
    env_vars = {e["name"]: e["value"] for e in container.get("env", [])}
    settings = Settings(**{k.lower(): v for k, v in env_vars.items()})
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
    assert {
        "key": "nvidia.com/gpu",
        "operator": "Equal",
        "value": "true",
        "effect": "NoSchedule",
    } in pod["tolerations"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
