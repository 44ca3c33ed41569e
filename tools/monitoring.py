"""The app's monitoring objects read the way Prometheus and KEDA read them.

- which metric names a PromQL expression uses, and whether something provides each one
  (the model server's own definitions, a recording rule, or a named other exporter);
- the scrape job the Prometheus Operator would make of a ServiceMonitor, its port name
  resolved through the Service to the Deployment's container port;
- the plain rule file Prometheus would load from a PrometheusRule.

Every mismatch raises WiringError naming the object, its file and the field.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from tools.render import Manifest

# Metrics that other exporters provide, used next to the server's own by the app's queries.
KUBE_STATE_METRICS = "kube-state-metrics (kube-prometheus-stack)"
OTHER_EXPORTERS = {
    "DCGM_FI_DEV_GPU_UTIL": "NVIDIA DCGM exporter (gpu-operator)",
    "kube_deployment_status_replicas_available": KUBE_STATE_METRICS,
    "kube_horizontalpodautoscaler_status_desired_replicas": KUBE_STATE_METRICS,
    "kube_horizontalpodautoscaler_spec_max_replicas": KUBE_STATE_METRICS,
    "kube_horizontalpodautoscaler_status_condition": KUBE_STATE_METRICS,
    "up": "Prometheus itself (one series per scrape target)",
}
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
    "absent",
    "clamp_min",
    "clamp_max",
    "topk",
    "bottomk",
}
# The Prometheus Operator's defaults (Prometheus CRD: scrapeInterval, evaluationInterval).
OPERATOR_SCRAPE_INTERVAL = "30s"
OPERATOR_EVALUATION_INTERVAL = "30s"


class WiringError(Exception):
    """Two parts of the monitoring wiring disagree; the message names the file and field."""


def promql_metric_names(expr: str) -> set[str]:
    """The metric names an expression selects (a reader for our queries, not a parser)."""
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


# The series names each metric type puts on a /metrics page.
SERIES_SUFFIXES = {
    "counter": ("_total",),
    "histogram": ("_bucket", "_sum", "_count"),
    "summary": ("_sum", "_count", ""),
    "gauge": ("",),
    "untyped": ("",),
    "info": ("_info",),
}


def series_on_the_wire(text: str) -> set[str]:
    """Every series name a /metrics page announces: from each family's TYPE (a labelled
    family with no sample yet still announces itself) and from the samples present."""
    from prometheus_client.parser import text_string_to_metric_families

    names = set()
    for family in text_string_to_metric_families(text):
        names |= {family.name + suffix for suffix in SERIES_SUFFIXES[family.type]}
        names |= {s.name for s in family.samples}
    return names


def server_settings(deployment: Manifest):
    """The model server's Settings as the Deployment's first container configures them."""
    from model_server.config import Settings

    container = deployment.obj["spec"]["template"]["spec"]["containers"][0]
    env_vars = {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}
    return Settings(**{k.lower(): v for k, v in env_vars.items()})


def rule_groups(rule: Manifest) -> list[dict]:
    return rule.obj.get("spec", {}).get("groups", [])


def recorded_names(rules: list[Manifest]) -> dict[str, str]:
    """Recording rule name -> its expression, over every PrometheusRule given."""
    return {
        r["record"]: r["expr"]
        for rule in rules
        for group in rule_groups(rule)
        for r in group.get("rules", [])
        if "record" in r
    }


def source_metrics(expr: str, recorded: dict[str, str]) -> set[str]:
    """The scraped metric names behind an expression, recording rules followed through."""
    found: set[str] = set()
    for name in promql_metric_names(expr):
        if name in recorded:
            found |= source_metrics(
                recorded[name], {k: v for k, v in recorded.items() if k != name}
            )
        else:
            found.add(name)
    return found


def unprovided_metrics(expr: str, exported: set[str], recorded: dict[str, str]) -> set[str]:
    """Names in `expr` that neither the server, a recording rule nor another exporter gives."""
    return {
        name
        for name in promql_metric_names(expr)
        if name not in exported and name not in recorded and name not in OTHER_EXPORTERS
    }


@dataclass(frozen=True)
class PanelQuery:
    """One query of a Grafana dashboard panel."""

    where: str
    panel: str
    ref_id: str
    expr: str


def dashboard_queries(manifests: list[Manifest]) -> list[PanelQuery]:
    """Every panel query of the dashboards (ConfigMaps labelled for Grafana's sidecar)."""
    found = []
    for m in manifests:
        if m.kind != "ConfigMap" or not m.obj["metadata"].get("labels", {}).get(
            "grafana_dashboard"
        ):
            continue
        for key, text in m.obj.get("data", {}).items():
            for panel in json.loads(text)["panels"]:
                for target in panel.get("targets", []):
                    found.append(
                        PanelQuery(
                            f"{m.where} data[{key}]",
                            panel["title"],
                            target["refId"],
                            target["expr"],
                        )
                    )
    return found


# --- durations ------------------------------------------------------------------------------

_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
_DURATION = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")


def seconds(duration: str) -> float:
    """A Prometheus duration ('1m30s', '10m') in seconds."""
    parts = _DURATION.findall(duration)
    if not parts or "".join(n + u for n, u in parts) != duration:
        raise ValueError(f"not a Prometheus duration: {duration!r}")
    return sum(int(n) * _UNITS[u] for n, u in parts)


def duration(value: float) -> str:
    """Seconds as a Prometheus duration, to the millisecond."""
    ms = round(value * 1000)
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"


def rule_file(rule: Manifest, time_scale: float = 1.0) -> dict:
    """The rule file Prometheus loads from a PrometheusRule (its spec.groups).

    `time_scale` > 1 divides every `for:`, `keep_firing_for:` and group `interval:` by that
    factor. Only the end-to-end test uses it, to fit a 10-minute `for:` into a run of a few
    minutes; the promtool rule tests use the file as written (time_scale 1). The PromQL
    itself, range windows included, is never changed.
    """
    groups = []
    for group in rule_groups(rule):
        group = dict(group)
        if time_scale != 1 and "interval" in group:
            group["interval"] = duration(seconds(group["interval"]) / time_scale)
        rules = []
        for r in group.get("rules", []):
            r = dict(r)
            for key in ("for", "keep_firing_for"):
                if time_scale != 1 and key in r:
                    r[key] = duration(seconds(r[key]) / time_scale)
            rules.append(r)
        group["rules"] = rules
        groups.append(group)
    return {"groups": groups}


# --- ServiceMonitor -> scrape job --------------------------------------------------------------


@dataclass(frozen=True)
class ScrapeTarget:
    """One ServiceMonitor endpoint, resolved to the container port Prometheus would scrape."""

    job_name: str
    container: str
    container_port: int
    port_name: str
    path: str
    scheme: str
    honor_labels: bool
    interval: str
    labels: dict[str, str]  # the target labels the Operator sets

    def scrape_config(self, address: str, time_scale: float = 1.0) -> dict:
        """A Prometheus scrape_configs entry for this target at `address` (host:port).

        `time_scale` divides the scrape interval (end-to-end test only, see rule_file).
        """
        interval = duration(seconds(self.interval) / time_scale)
        return {
            "job_name": self.job_name,
            "honor_labels": self.honor_labels,
            "metrics_path": self.path,
            "scheme": self.scheme,
            "scrape_interval": interval,
            "scrape_timeout": interval,
            "static_configs": [{"targets": [address], "labels": self.labels}],
        }


def _matches(selector: dict, labels: dict) -> bool:
    return all(labels.get(k) == v for k, v in (selector.get("matchLabels") or {}).items())


def _pod_labels(deployment: Manifest) -> dict:
    return deployment.obj["spec"]["template"].get("metadata", {}).get("labels", {})


def scrape_targets(
    monitor: Manifest, manifests: list[Manifest], default_interval: str = OPERATOR_SCRAPE_INTERVAL
) -> list[ScrapeTarget]:
    """What the Prometheus Operator scrapes for `monitor`, among the app's `manifests`.

    Follows the chain the Operator and Kubernetes follow: the ServiceMonitor's selector picks
    Services; `endpoints[].port` names a Service port; that port's targetPort names (or
    numbers) a container port of the pods the Service selects. Target labels as the
    Operator sets them: job (the Service name, or its `jobLabel` label), namespace, service,
    endpoint (the port name), pod, container.
    """
    spec = monitor.obj.get("spec", {})
    where = f"{monitor.where}: ServiceMonitor/{monitor.name}"
    namespace = monitor.obj.get("metadata", {}).get("namespace", "")
    services = [
        m
        for m in manifests
        if m.kind == "Service"
        and m.obj.get("metadata", {}).get("namespace", "") == namespace
        and _matches(spec.get("selector", {}), m.obj["metadata"].get("labels", {}))
    ]
    if not services:
        raise WiringError(f"{where} spec.selector {spec.get('selector')} selects no Service")
    targets = []
    for index, endpoint in enumerate(spec.get("endpoints", [])):
        field = f"spec.endpoints[{index}]"
        for key in ("relabelings", "metricRelabelings", "targetPort"):
            if endpoint.get(key):
                raise WiringError(f"{where} {field}.{key} is not modelled by tools/monitoring.py")
        port_name = endpoint.get("port")
        # The Operator keeps only endpoints whose port has this name: a selected Service
        # without it yields no target (dev's public Service, say); none with it is an error.
        found = [
            (service, port)
            for service in services
            for port in service.obj["spec"].get("ports", [])
            if port.get("name") == port_name
        ]
        if not found:
            ports = "; ".join(
                f"Service/{s.name} ({s.where}) has {_port_names(s)}" for s in services
            )
            raise WiringError(
                f"{where} {field}.port {port_name!r} is not a port name of any Service it "
                f"selects: {ports}"
            )
        for service, port in found:
            container, number = _container_port(service, port, manifests)
            job = service.name
            if spec.get("jobLabel"):
                job = service.obj["metadata"].get("labels", {}).get(spec["jobLabel"], job)
            targets.append(
                ScrapeTarget(
                    job_name=f"serviceMonitor/{namespace}/{monitor.name}/{index}",
                    container=container,
                    container_port=number,
                    port_name=port_name,
                    path=endpoint.get("path", "/metrics"),
                    scheme=endpoint.get("scheme", "http"),
                    honor_labels=bool(endpoint.get("honorLabels", False)),
                    interval=endpoint.get("interval") or default_interval,
                    labels={
                        "job": job,
                        "namespace": namespace,
                        "service": service.name,
                        "endpoint": port_name,
                        "container": container,
                    },
                )
            )
    return targets


def _port_names(service: Manifest) -> list[str]:
    return sorted(p.get("name", "") for p in service.obj["spec"].get("ports", []))


def _container_port(service: Manifest, port: dict, manifests: list[Manifest]) -> tuple[str, int]:
    """(container name, containerPort) that a Service port's targetPort reaches."""
    target = port.get("targetPort", port["port"])
    selector = {"matchLabels": service.obj["spec"].get("selector", {})}
    workloads = [
        m for m in manifests if m.kind == "Deployment" and _matches(selector, _pod_labels(m))
    ]
    where = f"{service.where}: Service/{service.name} port {port.get('name')!r}"
    if not workloads:
        raise WiringError(f"{where}: spec.selector selects no Deployment's pods")
    for workload in workloads:
        for container in workload.obj["spec"]["template"]["spec"].get("containers", []):
            for cport in container.get("ports", []):
                if target in (cport.get("name"), cport.get("containerPort")):
                    return container["name"], int(cport["containerPort"])
    names = [
        p.get("name") or p.get("containerPort")
        for w in workloads
        for c in w.obj["spec"]["template"]["spec"].get("containers", [])
        for p in c.get("ports", [])
    ]
    raise WiringError(
        f"{where}: targetPort {target!r} is not a container port of "
        f"{', '.join(f'Deployment/{w.name} ({w.where})' for w in workloads)}; "
        f"its ports are {names}"
    )
