"""The API's load balancer: served by the pinned AWS Load Balancer Controller, shaped by the
env's facts, and drained before a pod stops."""

from __future__ import annotations

import copy

import pytest
import yaml

from tools import policies
from tools.render import REPO, Rendered

ENVS = ["dev", "prod"]
# The controller's pod webhook injects readiness gates in namespaces with this label, unless
# its values set webhookNamespaceSelectors (its chart's templates/webhook.yaml).
READINESS_GATE_LABEL = "elbv2.k8s.aws/pod-readiness-gate-inject"


def lb_services(r: Rendered):
    return [
        m
        for _a, m in r.manifests()
        if m.kind == "Service" and m.obj["spec"].get("type") == "LoadBalancer"
    ]


def exposure(env: str) -> dict:
    path = REPO / f"apps/swin-t/overlays/{env}/load-balancer.yaml"
    return yaml.safe_load(path.read_text())["data"]


@pytest.mark.parametrize("env", ENVS)
def test_every_load_balancer_service_is_served_by_the_pinned_controller(rendered, env):
    assert lb_services(rendered[env]), f"{env} exposes no load balancer"
    assert policies.load_balancers_use_the_controller(rendered[env]) == []


def test_a_misspelt_or_in_tree_annotation_is_refused(rendered):
    r = copy.deepcopy(rendered["dev"])
    service = lb_services(r)[0]
    service.obj["metadata"]["annotations"][
        "service.beta.kubernetes.io/aws-load-balancer-shceme"
    ] = "internal"
    service.obj["metadata"]["annotations"][
        "service.beta.kubernetes.io/aws-load-balancer-scheme"
    ] = "public"
    del service.obj["spec"]["loadBalancerClass"]
    problems = "\n".join(policies.load_balancers_use_the_controller(r))
    assert "aws-load-balancer-shceme] is not read by aws-load-balancer-controller" in problems
    assert "aws-load-balancer-scheme] is 'public'" in problems
    assert "spec.loadBalancerClass must be 'service.k8s.aws/nlb'" in problems


def test_a_load_balancer_without_the_controller_is_refused(rendered):
    r = copy.deepcopy(rendered["dev"])
    r.apps = [a for a in r.apps if a.name != "aws-load-balancer-controller"]
    problems = policies.load_balancers_use_the_controller(r)
    assert problems and "no Application installs aws-load-balancer-controller" in problems[0]


@pytest.mark.parametrize("env", ENVS)
def test_scheme_client_ranges_and_vpc_range_come_from_the_env(rendered, env):
    r, facts = rendered[env], exposure(env)
    (service,) = lb_services(r)
    annotations = service.obj["metadata"]["annotations"]
    assert annotations["service.beta.kubernetes.io/aws-load-balancer-scheme"] == facts["scheme"]
    assert (
        annotations["service.beta.kubernetes.io/load-balancer-source-ranges"]
        == (facts["sourceRanges"])
    )
    assert facts["vpcCidr"] == r.facts["vpcCidr"], (
        f"apps/swin-t/overlays/{env}/load-balancer.yaml vpcCidr {facts['vpcCidr']} != "
        f"clusters/{env}/cluster-facts.yaml vpcCidr {r.facts['vpcCidr']}"
    )
    cidrs = [
        peer["ipBlock"]["cidr"]
        for m in r.app("swin-t").manifests
        if m.kind == "NetworkPolicy"
        for rule in m.obj["spec"].get("ingress", [])
        for peer in rule.get("from", [])
        if "ipBlock" in peer
    ]
    assert cidrs == [r.facts["vpcCidr"]]


def test_prod_is_not_on_the_internet_and_dev_is_open_to_its_client_ranges_only():
    assert exposure("prod")["scheme"] == "internal"
    dev = exposure("dev")
    assert dev["scheme"] == "internet-facing"
    assert "0.0.0.0/0" not in dev["sourceRanges"].split(",")


@pytest.mark.parametrize("env", ENVS)
def test_pods_behind_the_load_balancer_get_readiness_gates_and_drain_first(rendered, env):
    r = rendered[env]
    controller = r.app("aws-load-balancer-controller").helm[0].values
    assert not controller.get("webhookNamespaceSelectors")
    namespace = r.app("swin-t").spec["destination"]["namespace"]
    labels = next(m for _a, m in r.manifests() if m.kind == "Namespace" and m.name == namespace)
    assert labels.obj["metadata"]["labels"].get(READINESS_GATE_LABEL) == "enabled"
    (service,) = lb_services(r)
    attributes = dict(
        pair.split("=")
        for pair in service.obj["metadata"]["annotations"][
            "service.beta.kubernetes.io/aws-load-balancer-target-group-attributes"
        ].split(",")
    )
    deployment = next(m for m in r.app("swin-t").manifests if m.kind == "Deployment")
    grace = deployment.obj["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert int(attributes["deregistration_delay.timeout_seconds"]) < grace
    path = service.obj["metadata"]["annotations"][
        "service.beta.kubernetes.io/aws-load-balancer-healthcheck-path"
    ]
    probe = deployment.obj["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]
    assert path == probe["httpGet"]["path"], "the NLB checks what Kubernetes calls readiness"


@pytest.mark.parametrize("env", ENVS)
def test_the_controller_finds_its_cluster_region_and_vpc_from_the_facts(rendered, env):
    r = rendered[env]
    values = r.app("aws-load-balancer-controller").helm[0].values
    assert values["clusterName"] == r.facts["clusterName"]
    assert values["region"] == r.facts["region"]
    assert values["vpcTags"] == {"Name": r.facts["clusterName"]}
