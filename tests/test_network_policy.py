"""Who can reach the model server, by the rendered NetworkPolicies (tools/netpol.py).

The endpoints are built from the rendered tree: the app's pod labels and container ports from
its Deployment, its namespace and that namespace's labels from the Namespace object, the
monitoring namespace from the kube-prometheus-stack Application, the VPC range from the env's
facts. Each flow says who, to which port, and whether it must get through.
"""

from __future__ import annotations

import ipaddress

import pytest

from tools.netpol import Endpoint, egress_allowed, ingress_allowed, selector_matches
from tools.render import Rendered

ENVS = ["dev", "prod"]
# The Prometheus Operator labels the Prometheus pods it runs with this (its own convention).
PROMETHEUS_POD_LABELS = {"app.kubernetes.io/name": "prometheus", "prometheus": "x"}
OUTSIDE_THE_VPC = "198.51.100.7"  # TEST-NET-2: some client on the internet


def app_policies(r: Rendered, app: str) -> list[dict]:
    namespace = r.app(app).spec["destination"]["namespace"]
    policies = []
    for m in r.app(app).manifests:
        if m.kind == "NetworkPolicy":
            obj = {**m.obj, "metadata": {"namespace": namespace, **m.obj["metadata"]}}
            policies.append(obj)
    return policies


def namespace_labels(r: Rendered, name: str) -> dict[str, str]:
    for _app, m in r.manifests():
        if m.kind == "Namespace" and m.name == name:
            return m.obj["metadata"].get("labels", {})
    return {}


def model_server(r: Rendered) -> Endpoint:
    app = r.app("swin-t")
    deployment = next(m for m in app.manifests if m.kind == "Deployment")
    pod = deployment.obj["spec"]["template"]
    namespace = app.spec["destination"]["namespace"]
    ports = {p["name"]: p["containerPort"] for c in pod["spec"]["containers"] for p in c["ports"]}
    return Endpoint(
        ip=str(vpc(r)[20]),
        namespace=namespace,
        namespace_labels=namespace_labels(r, namespace),
        pod_labels=pod["metadata"]["labels"],
        ports=ports,
    )


def vpc(r: Rendered) -> ipaddress.IPv4Network:
    return ipaddress.ip_network(r.facts["vpcCidr"])


def pod_in(r: Rendered, namespace: str, labels: dict[str, str]) -> Endpoint:
    return Endpoint(
        ip=str(vpc(r)[300]),
        namespace=namespace,
        namespace_labels=namespace_labels(r, namespace),
        pod_labels=labels,
    )


def flows(r: Rendered) -> list[tuple[str, Endpoint, str | int, bool]]:
    monitoring = r.app("kube-prometheus-stack").spec["destination"]["namespace"]
    # The NLB's private address in one of the VPC's subnets: its health checks and, with
    # client IP preservation off, the traffic it forwards come from there.
    load_balancer = Endpoint(ip=str(vpc(r)[-10]))
    return [
        ("the load balancer (traffic and health checks) -> API", load_balancer, "http", True),
        (
            "Prometheus in the monitoring namespace -> metrics",
            pod_in(r, monitoring, PROMETHEUS_POD_LABELS),
            "metrics",
            True,
        ),
        ("a pod in the cluster -> API", pod_in(r, "default", {"app": "client"}), "http", True),
        ("the load balancer -> metrics", load_balancer, "metrics", False),
        (
            "Grafana (monitoring, not Prometheus) -> metrics",
            pod_in(r, monitoring, {"app.kubernetes.io/name": "grafana"}),
            "metrics",
            False,
        ),
        (
            "a pod in another namespace -> metrics",
            pod_in(r, "default", {"app": "client"}),
            "metrics",
            False,
        ),
        ("an address outside the VPC -> API", Endpoint(ip=OUTSIDE_THE_VPC), "http", False),
        ("the load balancer -> an undeclared port", load_balancer, 8081, False),
    ]


def port_number(server: Endpoint, port: str | int) -> int:
    return server.ports[port] if isinstance(port, str) else port


@pytest.mark.parametrize("env", ENVS)
def test_only_the_intended_flows_reach_the_model_server(rendered, env):
    r = rendered[env]
    server, policies = model_server(r), app_policies(r, "swin-t")
    wrong = []
    for name, source, port, expected in flows(r):
        allowed = ingress_allowed(policies, server, source, port_number(server, port))
        if allowed != expected:
            wrong.append(f"{name}: {'allowed' if allowed else 'refused'}, expected otherwise")
    assert not wrong, f"{env}:\n" + "\n".join(wrong)


@pytest.mark.parametrize("env", ENVS)
def test_the_model_server_reaches_nothing(rendered, env):
    r = rendered[env]
    server, policies = model_server(r), app_policies(r, "swin-t")
    for target, port in (
        (pod_in(r, "kube-system", {"k8s-app": "kube-dns"}), 53),
        (Endpoint(ip=OUTSIDE_THE_VPC), 443),
    ):
        assert not egress_allowed(policies, server, target, port), (env, target, port)


def test_without_policies_everything_is_allowed_and_a_deny_all_refuses():
    server = Endpoint(ip="10.0.0.5", namespace="a", pod_labels={"app": "x"}, ports={"http": 80})
    client = Endpoint(ip="10.0.0.6", namespace="b")
    assert ingress_allowed([], server, client, 80)
    deny = {"metadata": {"namespace": "a"}, "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}}
    assert not ingress_allowed([deny], server, client, 80)
    other_namespace = {**deny, "metadata": {"namespace": "b"}}
    assert ingress_allowed([other_namespace], server, client, 80)


def test_namespace_and_pod_selectors_in_one_peer_must_both_match():
    server = Endpoint(ip="10.0.0.5", namespace="a", pod_labels={"app": "x"}, ports={"m": 9090})
    policy = {
        "metadata": {"namespace": "a"},
        "spec": {
            "podSelector": {"matchLabels": {"app": "x"}},
            "ingress": [
                {
                    "from": [
                        {
                            "namespaceSelector": {"matchLabels": {"team": "obs"}},
                            "podSelector": {"matchLabels": {"role": "scraper"}},
                        }
                    ],
                    "ports": [{"port": "m"}],
                }
            ],
        },
    }
    scraper = Endpoint(
        ip="10.0.1.1",
        namespace="o",
        namespace_labels={"team": "obs"},
        pod_labels={"role": "scraper"},
    )
    other = Endpoint(ip="10.0.1.2", namespace="o", namespace_labels={"team": "obs"})
    assert ingress_allowed([policy], server, scraper, 9090)
    assert not ingress_allowed([policy], server, other, 9090)
    assert not ingress_allowed([policy], server, scraper, 80)


def test_ip_blocks_honour_their_exceptions_and_selectors_their_expressions():
    server = Endpoint(ip="10.0.0.5", namespace="a")
    policy = {
        "metadata": {"namespace": "a"},
        "spec": {
            "podSelector": {},
            "ingress": [
                {"from": [{"ipBlock": {"cidr": "10.0.0.0/16", "except": ["10.0.9.0/24"]}}]}
            ],
        },
    }
    assert ingress_allowed([policy], server, Endpoint(ip="10.0.1.1"), 80)
    assert not ingress_allowed([policy], server, Endpoint(ip="10.0.9.1"), 80)
    expression = {"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["web"]}]}
    assert selector_matches(expression, {"tier": "db"}) and not selector_matches(
        expression, {"tier": "web"}
    )
