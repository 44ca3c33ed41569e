"""Who may reach a pod, by the Kubernetes NetworkPolicy rules, evaluated offline.

Enough of the NetworkPolicy semantics (networking.k8s.io/v1) to answer "is this flow
allowed?" over rendered manifests: a pod is isolated for a direction once any policy of its
namespace selects it with that policy type; then a flow is allowed if some rule of some
selecting policy admits the peer and the port. Named ports resolve through the target pod's
container ports. Not modelled: SCTP/UDP, endPort, and how an implementation treats node or
load balancer addresses beyond matching them against ipBlock ranges. Every policy must carry
its namespace (fill in an Application's destination namespace before asking).
https://kubernetes.io/docs/concepts/services-networking/network-policies/
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Endpoint:
    """A pod (namespace set) or an address outside the cluster (namespace None)."""

    ip: str
    namespace: str | None = None
    namespace_labels: dict[str, str] = field(default_factory=dict)
    pod_labels: dict[str, str] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)  # container port names

    def labels_of_namespace(self) -> dict[str, str]:
        # The API server labels every namespace with its own name.
        return {**self.namespace_labels, "kubernetes.io/metadata.name": self.namespace or ""}


def selector_matches(selector: dict | None, labels: dict[str, str]) -> bool:
    """A LabelSelector; an empty one selects everything."""
    selector = selector or {}
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator = expression["key"], expression["operator"]
        values = expression.get("values") or []
        present = key in labels
        if operator == "In" and not (present and labels[key] in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True


def ingress_allowed(policies: list[dict], target: Endpoint, source: Endpoint, port: int) -> bool:
    return _allowed(policies, "Ingress", "from", subject=target, peer=source, port=port)


def egress_allowed(policies: list[dict], source: Endpoint, target: Endpoint, port: int) -> bool:
    return _allowed(policies, "Egress", "to", subject=source, peer=target, port=port)


def _allowed(
    policies: list[dict], direction: str, peers_key: str, subject: Endpoint, peer: Endpoint, port
) -> bool:
    selecting = [
        p
        for p in policies
        if p["metadata"]["namespace"] == subject.namespace
        and direction in _policy_types(p)
        and selector_matches(p.get("spec", {}).get("podSelector"), subject.pod_labels)
    ]
    if not selecting:
        return True  # not isolated in this direction
    # The port is the destination's: the target pod's on ingress, the peer's on egress.
    destination = subject if direction == "Ingress" else peer
    for policy in selecting:
        namespace = policy["metadata"]["namespace"]
        for rule in policy["spec"].get(direction.lower()) or []:
            if _port_matches(rule.get("ports"), port, destination) and _peer_matches(
                rule.get(peers_key), peer, namespace
            ):
                return True
    return False


def _policy_types(policy: dict) -> list[str]:
    spec = policy.get("spec", {})
    if "policyTypes" in spec:
        return spec["policyTypes"]
    return ["Ingress", "Egress"] if spec.get("egress") else ["Ingress"]


def _port_matches(ports: list[dict] | None, port: int, destination: Endpoint) -> bool:
    if not ports:
        return True
    for entry in ports:
        if entry.get("protocol", "TCP") != "TCP":
            continue
        wanted = entry.get("port")
        if wanted is None or wanted == port or destination.ports.get(str(wanted)) == port:
            return True
    return False


def _peer_matches(peers: list[dict] | None, peer: Endpoint, policy_namespace: str | None) -> bool:
    if not peers:
        return True  # no `from`/`to`: every peer
    for entry in peers:
        if "ipBlock" in entry:
            block = entry["ipBlock"]
            address = ipaddress.ip_address(peer.ip)
            inside = address in ipaddress.ip_network(block["cidr"])
            excepted = any(address in ipaddress.ip_network(c) for c in block.get("except", []))
            if inside and not excepted:
                return True
            continue
        if peer.namespace is None:
            continue  # pod and namespace selectors match pods only
        if "namespaceSelector" in entry:
            in_namespace = selector_matches(entry["namespaceSelector"], peer.labels_of_namespace())
        else:
            in_namespace = peer.namespace == policy_namespace
        if in_namespace and selector_matches(entry.get("podSelector"), peer.pod_labels):
            return True
    return False
