"""Facts two parts must agree on, each read from the one file that defines it.

Every test here names its source and reads it: the GPU taint and labels from tofu (python-hcl2),
the app namespace from its Application, ports from the server's Settings and the Deployment,
service accounts from the tofu calls that bind them, metric names from a real server's
/metrics. None restates a value, so changing a fact in its source alone fails here, naming
the consumer that was left behind. docs/gitops.md ("Contracts") lists them.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import hcl2
import httpx
import pytest
import yaml
from test_contracts import queries
from test_tofu_static import unquote, variable_default

from tools import tofu
from tools.monitoring import (
    OTHER_EXPORTERS,
    promql_metric_names,
    recorded_names,
    scrape_targets,
    series_on_the_wire,
    server_settings,
)
from tools.render import Manifest, Rendered

ENVS = ["dev", "prod"]
EKS = tofu.TOFU / "modules" / "eks"
CLUSTER = tofu.STAGES / "cluster"
GPU_RESOURCE_TAG = "k8s.io/cluster-autoscaler/node-template/resources/"


def hcl_locals(module: Path) -> dict:
    found: dict = {}
    for entry in hcl2.load((module / "main.tf").open()).get("locals", []):
        found.update({unquote(k): v for k, v in entry.items()})
    return found


def literal(value) -> str | None:
    """A string with no interpolation, else None (the value is computed by tofu)."""
    text = unquote(value)
    return None if not isinstance(text, str) or "${" in text else text


def gpu_taint() -> dict[str, str]:
    taint = {k: unquote(v) for k, v in hcl_locals(EKS)["gpu_taint"].items()}
    assert set(taint) == {"key", "value", "effect"}, f"tofu/modules/eks local.gpu_taint: {taint}"
    return taint


def tolerates(toleration: dict, taint: dict[str, str]) -> bool:
    """Kubernetes' rule: does this toleration let a pod onto a node with this taint?"""
    if toleration.get("effect") and toleration["effect"] != taint["effect"]:
        return False
    if toleration.get("operator") == "Exists":
        return not toleration.get("key") or toleration["key"] == taint["key"]
    return toleration.get("key") == taint["key"] and toleration.get("value", "") == taint["value"]


def pod_spec(m: Manifest) -> dict:
    return m.obj["spec"]["template"]["spec"]


def gpu_workloads(r: Rendered) -> list[Manifest]:
    """Our workloads that ask for a GPU."""
    return [
        m
        for _a, m in r.manifests()
        if m.kind == "Deployment"
        and any(
            any(name.startswith("nvidia.com/") for name in c.get("resources", {}).get("limits", {}))
            for c in pod_spec(m)["containers"]
        )
    ]


@pytest.mark.parametrize("env", ENVS)
def test_gpu_pods_tolerate_the_taint_tofu_puts_on_gpu_nodes(rendered, env):
    taint = gpu_taint()
    workloads = gpu_workloads(rendered[env])
    assert workloads, "no workload asks for a GPU"
    for m in workloads:
        tolerations = pod_spec(m).get("tolerations", [])
        assert any(tolerates(t, taint) for t in tolerations), (
            f"{m.where}: {m.kind}/{m.name} spec.template.spec.tolerations {tolerations} do not "
            f"tolerate the GPU nodes' taint {taint} (tofu/modules/eks/main.tf local.gpu_taint): "
            "its pods would stay Pending"
        )


@pytest.mark.parametrize("env", ENVS)
def test_gpu_operator_operands_tolerate_the_taint_tofu_puts_on_gpu_nodes(rendered, env):
    taint = gpu_taint()
    source = rendered[env].app("gpu-operator").helm[0]
    for path in ("daemonsets.tolerations", "node-feature-discovery.worker.tolerations"):
        tolerations = source.values
        for key in path.split("."):
            tolerations = tolerations.get(key, {})
        assert any(tolerates(t, taint) for t in tolerations or []), (
            f"{', '.join(source.value_files)}: {path} {tolerations} do not tolerate {taint} "
            "(tofu/modules/eks/main.tf local.gpu_taint): no device plugin on GPU nodes"
        )


@pytest.mark.parametrize("env", ENVS)
def test_gpu_pods_select_only_labels_tofu_gives_gpu_nodes(rendered, env):
    labels = {unquote(k): literal(v) for k, v in hcl_locals(EKS)["gpu_labels"].items()}
    for m in gpu_workloads(rendered[env]):
        selector = pod_spec(m).get("nodeSelector", {})
        assert selector, f"{m.where}: {m.kind}/{m.name} has no nodeSelector for GPU nodes"
        for key, value in selector.items():
            assert key in labels and labels[key] == value, (
                f"{m.where}: nodeSelector {key}={value} is not a label tofu gives GPU nodes "
                f"(tofu/modules/eks/main.tf local.gpu_labels: {labels}): no node would match, "
                "and cluster-autoscaler's node template would not either"
            )


@pytest.mark.parametrize("env", ENVS)
def test_the_gpu_resource_is_the_one_time_slicing_and_the_node_template_advertise(rendered, env):
    template = str(hcl_locals(EKS)["gpu_node_template"])
    advertised = set(re.findall(re.escape(GPU_RESOURCE_TAG) + r'([^"\s]+)"', template))
    config = rendered[env].app("gpu-operator").helm[0].values["devicePlugin"]["config"]
    sharing = yaml.safe_load(config["data"][config["default"]])
    sliced = {r["name"] for r in sharing["sharing"]["timeSlicing"]["resources"]}
    assert len(advertised) == 1, f"tofu/modules/eks/main.tf gpu_node_template: {advertised}"
    assert sliced == advertised, (
        f"platform/gpu-operator/application.yaml time-slices {sliced}, but the node-template "
        f"tags (tofu/modules/eks/main.tf) advertise {advertised}"
    )
    for m in gpu_workloads(rendered[env]):
        for c in pod_spec(m)["containers"]:
            asked = {n for n in c.get("resources", {}).get("limits", {}) if "/" in n}
            assert asked <= advertised, (
                f"{m.where}: container {c['name']} asks for {asked}; GPU nodes advertise "
                f"{advertised} (tofu/modules/eks/main.tf): cluster-autoscaler would never "
                "add a node for it"
            )


# --- the app namespace -------------------------------------------------------------------


def app_namespace(r: Rendered, app: str = "swin-t") -> str:
    """The source: the namespace the app's Application deploys into."""
    return r.app(app).spec["destination"]["namespace"]


@pytest.mark.parametrize("env", ENVS)
def test_the_app_namespace_exists_and_holds_every_object_of_the_app(rendered, env):
    r = rendered[env]
    namespace = app_namespace(r)
    source = r.app("swin-t").application.where
    namespaces = [m for _a, m in r.manifests() if m.kind == "Namespace"]
    assert any(m.name == namespace for m in namespaces), (
        f"{source}: Application/swin-t deploys into {namespace!r}, but no Namespace object of "
        f"that name is synced ({[m.where + ' ' + m.name for m in namespaces]})"
    )
    for m in r.app("swin-t").manifests:
        placed = m.obj.get("metadata", {}).get("namespace", namespace)
        assert placed == namespace, (
            f"{m.where}: {m.kind}/{m.name} metadata.namespace {placed!r} is not the "
            f"Application's destination {namespace!r} ({source})"
        )


@pytest.mark.parametrize("env", ENVS)
def test_the_apps_project_admits_the_app_namespace(rendered, env):
    r = rendered[env]
    namespace = app_namespace(r)
    project_name = r.app("swin-t").spec["project"]
    project = next(
        m for _a, m in r.manifests() if m.kind == "AppProject" and m.name == project_name
    )
    allowed = {d.get("namespace") for d in project.obj["spec"].get("destinations", [])}
    assert namespace in allowed, (
        f"{project.where}: AppProject/{project_name} spec.destinations {sorted(allowed)} "
        f"lack {namespace!r}, where Application/swin-t deploys: Argo CD would refuse the sync"
    )


def strings(value) -> list[str]:
    """Every string in an object, dashboards' JSON included."""
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    if isinstance(value, str) and value.lstrip().startswith("{"):
        try:
            return strings(json.loads(value))
        except json.JSONDecodeError:
            pass
    return [value] if isinstance(value, str) else []


@pytest.mark.parametrize("env", ENVS)
def test_every_namespace_filter_in_the_apps_queries_is_the_app_namespace(rendered, env):
    r = rendered[env]
    namespace = app_namespace(r)
    seen = 0
    for m in r.app("swin-t").manifests:
        for text in strings(m.obj):
            for value in re.findall(r'\bnamespace\s*=~?\s*"([^"]*)"', text):
                seen += 1
                assert value == namespace, (
                    f'{m.where}: {m.kind}/{m.name} filters on namespace="{value}" in `{text}`, '
                    f"but the app runs in {namespace!r}: the query would match nothing"
                )
    assert seen >= 20, "the ScaledObject, rules and dashboard should filter on the namespace"


# --- ports and port names ----------------------------------------------------------------


def container_ports(m: Manifest) -> dict[str, int]:
    return {p["name"]: p["containerPort"] for c in pod_spec(m)["containers"] for p in c["ports"]}


def port_number(ports: dict[str, int], port) -> int | None:
    return ports.get(port) if isinstance(port, str) else port


@pytest.mark.parametrize("env", ENVS)
def test_every_port_the_app_names_reaches_the_server_port_that_serves_it(rendered, env):
    """/ready, /health and the API on PORT; /metrics on METRICS_PORT (the server's Settings
    as the Deployment sets them); every Service, probe and NetworkPolicy lands on one."""
    r = rendered[env]
    app = r.app("swin-t")
    deployment = next(m for m in app.manifests if m.kind == "Deployment")
    settings = server_settings(deployment)
    ports = container_ports(deployment)
    serving = {settings.port: "the API (PORT)", settings.metrics_port: "/metrics (METRICS_PORT)"}
    assert set(ports.values()) == set(serving), (
        f"{deployment.where}: container ports {ports} are not the server's PORT "
        f"{settings.port} and METRICS_PORT {settings.metrics_port}"
    )
    container = pod_spec(deployment)["containers"][0]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        port = port_number(ports, container[probe]["httpGet"]["port"])
        assert port == settings.port, f"{deployment.where}: {probe} port is not PORT"
    for m in app.manifests:
        if m.kind == "Service":
            for p in m.obj["spec"]["ports"]:
                target = port_number(ports, p.get("targetPort", p["port"]))
                assert target in serving, (
                    f"{m.where}: Service/{m.name} port {p.get('name')} targets "
                    f"{p.get('targetPort')}, which no server port serves ({ports})"
                )
                assert p.get("name") is None or ports.get(p["name"]) == target, (
                    f"{m.where}: Service/{m.name} port {p['name']!r} reaches "
                    f"{serving[target]}, not the container port of that name"
                )
        if m.kind == "NetworkPolicy":
            for rule in m.obj["spec"].get("ingress", []):
                for p in rule.get("ports", []):
                    assert port_number(ports, p["port"]) in serving, (
                        f"{m.where}: NetworkPolicy/{m.name} admits port {p['port']!r}, which "
                        f"is not a port of the server ({ports})"
                    )


@pytest.mark.parametrize("env", ENVS)
def test_prometheus_is_admitted_to_the_port_the_service_monitor_scrapes(rendered, env):
    r = rendered[env]
    app = r.app("swin-t")
    deployment = next(m for m in app.manifests if m.kind == "Deployment")
    ports = container_ports(deployment)
    monitor = next(m for m in app.manifests if m.kind == "ServiceMonitor")
    scraped = {t.container_port for t in scrape_targets(monitor, app.manifests)}
    monitoring = r.app("kube-prometheus-stack").spec["destination"]["namespace"]
    admitted = {
        port_number(ports, p["port"])
        for m in app.manifests
        if m.kind == "NetworkPolicy"
        for rule in m.obj["spec"].get("ingress", [])
        for peer in rule.get("from", [])
        if peer.get("namespaceSelector", {})
        .get("matchLabels", {})
        .get("kubernetes.io/metadata.name")
        == monitoring
        for p in rule.get("ports", [])
    }
    assert scraped and scraped <= admitted, (
        f"{monitor.where}: Prometheus (namespace {monitoring!r}) scrapes container port "
        f"{scraped}, but the NetworkPolicies admit it only to {admitted}"
    )


# --- service accounts and Pod Identity -----------------------------------------------------


def resolve(value, module: Path, args: dict, caller: tuple | None):
    """A module argument's value: literals as they are; var.X from the caller's argument or
    the variable's default; local.X from the module's literal locals."""
    text = unquote(value)
    if isinstance(text, str) and (found := re.fullmatch(r"\$\{var\.(\w+)\}", text)):
        name = found[1]
        if name in args and caller is not None:
            return resolve(args[name], *caller)
        return variable_default(module, name)
    if isinstance(text, str) and (found := re.fullmatch(r"\$\{local\.(\w+)\}", text)):
        return literal(hcl_locals(module)[found[1]])
    return text


def pod_identity_bindings(
    module: Path = CLUSTER, args: dict | None = None, caller: tuple | None = None
) -> list[dict]:
    """Every pod-identity-role call under `module`: who it binds, and how."""
    found = []
    for path in sorted(module.glob("*.tf")):
        for entry in hcl2.load(path.open()).get("module", []):
            for call, body in entry.items():
                source = (module / unquote(body["source"])).resolve()
                scope = (module, args or {}, caller)
                if source.name == "pod-identity-role":
                    found.append(
                        {
                            "call": f"{module.relative_to(tofu.TOFU)} module {unquote(call)}",
                            "namespace": resolve(body["namespace"], *scope),
                            "service_account": resolve(body["service_account"], *scope),
                            "association": (
                                resolve(body["association"], *scope)
                                if "association" in body
                                else variable_default(source, "association")
                            ),
                        }
                    )
                elif source.parent == tofu.TOFU / "modules":
                    found += pod_identity_bindings(source, body, scope)
    return found


def chart_service_accounts(values, path: str = "") -> list[tuple[str, dict]]:
    """Every `serviceAccount` map in a chart's values: (where, the map)."""
    found = []
    if isinstance(values, dict):
        for key, value in values.items():
            here = f"{path}.{key}" if path else str(key)
            if key == "serviceAccount" and isinstance(value, dict):
                found.append((here, value))
            else:
                found += chart_service_accounts(value, here)
    return found


def test_the_cluster_stage_binds_pod_identity_roles():
    bindings = pod_identity_bindings()
    assert len(bindings) >= 3, bindings
    assert all(b["namespace"] and b["service_account"] for b in bindings), bindings


@pytest.mark.parametrize("env", ENVS)
def test_every_pod_identity_association_names_a_service_account_a_chart_creates(rendered, env):
    r = rendered[env]
    for binding in pod_identity_bindings():
        if binding["association"] != "module":
            continue  # an EKS add-on binds its own (tests/test_tofu_static.py)
        namespace, name = binding["namespace"], binding["service_account"]
        candidates = [
            (app, source, where, account)
            for app in r.apps
            if app.spec.get("destination", {}).get("namespace") == namespace
            for source in app.helm
            for where, account in chart_service_accounts(source.values)
        ]
        matching = [c for c in candidates if c[3].get("name") == name]
        assert matching, (
            f"tofu/{binding['call']} binds an IAM role to {namespace}/{name}, but no chart "
            f"Argo CD installs into {namespace!r} names that service account: "
            + "; ".join(f"{a.name} {w}.name={acc.get('name')!r}" for a, _s, w, acc in candidates)
        )
        for app, source, where, account in matching:
            assert account.get("create", True) is True, (
                f"{', '.join(source.value_files)}: {where}.create is false: the chart of "
                f"Application/{app.name} would not create {namespace}/{name}"
            )


# --- metric names on the wire ----------------------------------------------------------------


@pytest.mark.server
@pytest.mark.parametrize("env", ENVS)
def test_every_metric_the_queries_read_is_on_a_real_servers_metrics_page(
    rendered, env, model_server
):
    scrape = httpx.get(f"{model_server.url}/metrics", timeout=10)
    assert scrape.status_code == 200
    on_the_wire = series_on_the_wire(scrape.text)
    assert "inference_inflight_requests" in on_the_wire, "the scrape parsed to nothing useful"
    rules = [m for m in rendered[env].app("swin-t").manifests if m.kind == "PrometheusRule"]
    recorded = recorded_names(rules)
    checked = 0
    for where, expr in queries(rendered[env]):
        for name in promql_metric_names(expr):
            checked += 1
            assert name in on_the_wire or name in recorded or name in OTHER_EXPORTERS, (
                f"{where}: `{name}` in `{expr}` is not on the model server's /metrics page, "
                "nor recorded by the PrometheusRule, nor from another exporter "
                "(tools/monitoring.py OTHER_EXPORTERS)"
            )
    assert checked >= 10
