"""Repository policies over a rendered environment. Each returns its violations, each naming
the file and the field to fix; `python -m tools validate` runs them all."""

from __future__ import annotations

import re
from collections.abc import Callable

from tools.argocd import PAUSES, automated_sync_enabled, normalized
from tools.render import (
    CHART_VERSIONS_FILE,
    FACTS_FILE,
    HelmSource,
    Manifest,
    Rendered,
    RenderedApp,
)

EXACT_VERSION = re.compile(r"^v?\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$")
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob"}
CLUSTER_SCOPED = {
    "Namespace",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "PersistentVolume",
    "StorageClass",
    "PriorityClass",
    "ValidatingWebhookConfiguration",
    "MutatingWebhookConfiguration",
    "APIService",
    "ClusterTriggerAuthentication",
}
# API groups whose CRDs an Application of ours installs, by chart.
CRD_PROVIDERS = {"monitoring.coreos.com": "kube-prometheus-stack", "keda.sh": "keda"}
# Upstream charts that install CRDs (a test checks that every chart with CRDs under
# CRD_SOURCE_DIR is listed).
CHARTS_WITH_CRDS = {
    "argo-cd",
    "aws-load-balancer-controller",
    "gpu-operator",
    "keda",
    "kube-prometheus-stack",
}
RESOURCES_FINALIZER = "resources-finalizer.argocd.argoproj.io"

# The Service annotations the AWS Load Balancer Controller reads (its pkg/annotations/
# constants.go at v3.5.0, under both prefixes), and for a few the values it accepts. Review
# on every bump of the chart: the policy fails while the versions differ.
LBC_CHART = "aws-load-balancer-controller"
LBC_VERSION = "3.5.0"
LBC_DEFAULT_CLASS = "service.k8s.aws/nlb"  # the chart's loadBalancerClass when unset
LBC_ANNOTATION_PREFIXES = {"service.beta.kubernetes.io", "service.kubernetes.io"}
LBC_SERVICE_ANNOTATIONS: dict[str, set[str] | None] = {
    "load-balancer-source-ranges": None,
    "aws-load-balancer-type": None,
    "aws-load-balancer-nlb-target-type": {"ip", "instance"},
    "aws-load-balancer-name": None,
    "aws-load-balancer-scheme": {"internal", "internet-facing"},
    "aws-load-balancer-internal": None,
    "aws-load-balancer-proxy-protocol": None,
    "aws-load-balancer-proxy-protocol-per-target-group": None,
    "aws-load-balancer-ip-address-type": None,
    "aws-load-balancer-access-log-enabled": None,
    "aws-load-balancer-access-log-s3-bucket-name": None,
    "aws-load-balancer-access-log-s3-bucket-prefix": None,
    "aws-load-balancer-cross-zone-load-balancing-enabled": None,
    "aws-load-balancer-ssl-cert": None,
    "aws-load-balancer-ssl-ports": None,
    "aws-load-balancer-ssl-negotiation-policy": None,
    "aws-load-balancer-backend-protocol": None,
    "aws-load-balancer-additional-resource-tags": None,
    "aws-load-balancer-healthcheck-healthy-threshold": None,
    "aws-load-balancer-healthcheck-unhealthy-threshold": None,
    "aws-load-balancer-healthcheck-timeout": None,
    "aws-load-balancer-healthcheck-interval": None,
    "aws-load-balancer-healthcheck-protocol": {"tcp", "http", "https"},
    "aws-load-balancer-healthcheck-port": None,
    "aws-load-balancer-healthcheck-path": None,
    "aws-load-balancer-healthcheck-success-codes": None,
    "aws-load-balancer-target-group-attributes": None,
    "aws-load-balancer-subnets": None,
    "aws-load-balancer-eip-allocations": None,
    "aws-load-balancer-eip-allocations-discovery-tags": None,
    "aws-load-balancer-private-ipv4-addresses": None,
    "aws-load-balancer-ipv6-addresses": None,
    "aws-load-balancer-alpn-policy": None,
    "aws-load-balancer-target-node-labels": None,
    "aws-load-balancer-attributes": None,
    "aws-load-balancer-security-groups": None,
    "aws-load-balancer-manage-backend-security-group-rules": None,
    "aws-load-balancer-inbound-sg-rules-on-private-link-traffic": None,
    "aws-load-balancer-security-group-prefix-lists": None,
    "aws-load-balancer-multi-cluster-target-group": None,
    "aws-load-balancer-enable-prefix-for-ipv6-source-nat": None,
    "aws-load-balancer-source-nat-ipv6-prefixes": None,
    "aws-load-balancer-minimum-load-balancer-capacity": None,
    "aws-load-balancer-enable-icmp-for-path-mtu-discovery": None,
    "aws-load-balancer-enable-tcp-udp-listener": None,
    "aws-load-balancer-disable-nlb-sg": None,
    "aws-load-balancer-quic-enabled-ports": None,
}
IN_CLUSTER = "https://kubernetes.default.svc"


def image_references(rendered: Rendered) -> list[tuple[str, str]]:
    """(where, image) for every container image in rendered objects and in Helm values."""
    found = []
    for _app, m in rendered.manifests():
        for path, container in _containers(m):
            found.append((f"{m.where}: {m.kind}/{m.name} {path}.image", container.get("image", "")))
    return found


def images_and_charts_are_pinned(rendered: Rendered) -> list[str]:
    problems = []
    for where, image in image_references(rendered):
        name, _, tag = image.rpartition(":") if "@" not in image else (image, "", "digest")
        if not name or "/" in tag or tag in ("", "latest"):
            problems.append(f"{where}: image {image!r} has no exact tag or digest")
    pins = CHART_VERSIONS_FILE.format(env=rendered.env)
    for app in rendered.apps:
        for i, source in enumerate(app.spec.get("sources") or []):
            chart = source.get("chart")
            if chart and not EXACT_VERSION.match(str(source.get("targetRevision"))):
                origin = f" (data.{chart} of {pins})" if chart in rendered.chart_versions else ""
                problems.append(
                    f"{app.application.where}: Application/{app.name} "
                    f"spec.sources[{i}].targetRevision {source.get('targetRevision')!r}{origin} "
                    f"is not an exact version of chart {chart}"
                )
        for source in app.helm:
            tag = (source.values.get("image") or {}).get("tag")
            if tag is not None and not EXACT_VERSION.match(str(tag)):
                problems.append(
                    f"{', '.join(source.value_files)}: chart {source.chart} image.tag {tag!r} "
                    "is not an exact version"
                )
    return problems


def containers_are_hardened(rendered: Rendered) -> list[str]:
    problems = []
    for _app, m in rendered.manifests():
        pod = _pod_spec(m)
        if pod is None:
            continue
        pod_security = pod.get("securityContext", {})
        for path, c in _containers(m):
            where = f"{m.where}: {m.kind}/{m.name} {path}"
            for field in ("requests", "limits"):
                for resource in ("cpu", "memory"):
                    if resource not in c.get("resources", {}).get(field, {}):
                        problems.append(f"{where}.resources.{field}.{resource} is missing")
            if ".containers[" in path:  # init containers need no probes
                for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
                    if probe not in c:
                        problems.append(f"{where}.{probe} is missing")
            sc = c.get("securityContext", {})
            if not (sc.get("runAsNonRoot") or pod_security.get("runAsNonRoot")):
                problems.append(f"{where}.securityContext.runAsNonRoot must be true")
            if sc.get("readOnlyRootFilesystem") is not True:
                problems.append(f"{where}.securityContext.readOnlyRootFilesystem must be true")
            if sc.get("allowPrivilegeEscalation") is not False:
                problems.append(f"{where}.securityContext.allowPrivilegeEscalation must be false")
            if "ALL" not in sc.get("capabilities", {}).get("drop", []):
                problems.append(f"{where}.securityContext.capabilities.drop must hold ALL")
            seccomp = sc.get("seccompProfile") or pod_security.get("seccompProfile") or {}
            if seccomp.get("type") != "RuntimeDefault":
                problems.append(
                    f"{where}.securityContext.seccompProfile.type must be RuntimeDefault"
                )
    return problems


def keda_targets_have_no_replicas(rendered: Rendered) -> list[str]:
    problems = []
    for app, m in rendered.manifests():
        if m.kind != "ScaledObject":
            continue
        target = m.obj["spec"]["scaleTargetRef"]
        kind = target.get("kind", "Deployment")
        for other in app.manifests:
            is_target = other.kind == kind and other.name == target["name"]
            if is_target and "replicas" in other.obj.get("spec", {}):
                problems.append(
                    f"{other.where}: {kind}/{other.name} spec.replicas is set, but "
                    f"ScaledObject/{m.name} owns the replica count: remove it"
                )
        group = target.get("apiVersion", "apps/v1").rpartition("/")[0]
        ignored = [
            d
            for d in app.spec.get("ignoreDifferences", [])
            if (d.get("group", ""), d.get("kind")) == (group, kind)
            and "/spec/replicas" in d.get("jsonPointers", [])
        ]
        if not ignored:
            problems.append(
                f"{app.application.where}: Application/{app.name} "
                f"spec.ignoreDifferences lacks /spec/replicas of {kind}/"
                f"{target['name']} in group {group!r} (scaled by KEDA)"
            )
        if "RespectIgnoreDifferences=true" not in app.spec.get("syncPolicy", {}).get(
            "syncOptions", []
        ):
            problems.append(
                f"{app.application.where}: Application/{app.name} "
                "spec.syncPolicy.syncOptions lacks RespectIgnoreDifferences=true"
            )
    return problems


def autoscaling_fails_safe(rendered: Rendered) -> list[str]:
    """Missing metrics must never read as idle (docs/autoscaling.md, "Failing safe")."""
    problems = []
    for _app, m in rendered.manifests():
        if m.kind != "ScaledObject":
            continue
        where = f"{m.where}: ScaledObject/{m.name}"
        spec = m.obj.get("spec", {})
        low, high = spec.get("minReplicaCount", 0), spec.get("maxReplicaCount", 100)
        fallback = spec.get("fallback")
        if not fallback:
            problems.append(f"{where} spec.fallback is missing: a failing trigger holds nothing")
        elif not low < fallback.get("replicas", 0) <= high:
            problems.append(
                f"{where} spec.fallback.replicas {fallback.get('replicas')} must be above "
                f"minReplicaCount {low} and at most maxReplicaCount {high}, so that a lost "
                "signal never shrinks the app"
            )
        for i, trigger in enumerate(spec.get("triggers", [])):
            if trigger.get("type") != "prometheus":
                continue
            meta = trigger.get("metadata", {})
            field = f"spec.triggers[{i}] ({trigger.get('name')})"
            if str(meta.get("ignoreNullValues", "true")).lower() != "false":
                problems.append(
                    f'{where} {field}.metadata.ignoreNullValues must be "false": otherwise '
                    "an empty answer reads as 0 and the fallback never fires"
                )
            if re.search(r"\bvector\s*\(", meta.get("query", "")):
                problems.append(
                    f"{where} {field}.metadata.query uses vector(): a constant stands in for "
                    "missing data and reads as idle"
                )
    return problems


def ignore_differences_match_objects(rendered: Rendered) -> list[str]:
    """An ignoreDifferences entry whose group, kind or name matches no object of its
    Application ignores nothing: Argo CD then fights whoever owns the field."""
    problems = []
    for app in rendered.apps:
        if app.helm:
            continue  # a chart's objects cannot be rendered offline
        objects = {
            (m.obj.get("apiVersion", "").rpartition("/")[0], m.kind, m.name) for m in app.manifests
        }
        for i, entry in enumerate(app.spec.get("ignoreDifferences", [])):
            wanted = (entry.get("group", ""), entry.get("kind"))
            if not any(
                (group, kind) == wanted and entry.get("name", name) == name
                for group, kind, name in objects
            ):
                problems.append(
                    f"{app.application.where}: Application/{app.name} "
                    f"spec.ignoreDifferences[{i}] (group {wanted[0]!r}, kind {wanted[1]}"
                    f"{', name ' + entry['name'] if entry.get('name') else ''}) matches none "
                    "of the objects it syncs"
                )
    return problems


# Deleting one of these deletes the workloads in or of it: a Namespace takes every object
# in it, a CRD every object of its kind, a volume claim its data.
PROTECTED_KINDS = {"Namespace", "CustomResourceDefinition", "PersistentVolumeClaim"}
SYNC_OPTIONS = "argocd.argoproj.io/sync-options"


def deletion_spares_workloads(rendered: Rendered) -> list[str]:
    """Objects whose deletion takes workloads with them are never pruned (a line that leaves
    a kustomization) nor deleted with their Application."""
    problems = []
    for _app, m in rendered.manifests():
        if m.kind not in PROTECTED_KINDS:
            continue
        annotations = m.obj.get("metadata", {}).get("annotations") or {}
        options = {o.strip() for o in annotations.get(SYNC_OPTIONS, "").split(",")}
        missing = {"Prune=false", "Delete=false"} - options
        if missing:
            problems.append(
                f"{m.where}: {m.kind}/{m.name} metadata.annotations[{SYNC_OPTIONS}] lacks "
                f"{','.join(sorted(missing))}: deleting it would delete what runs in it"
            )
    return problems


def applications_follow_their_project(rendered: Rendered) -> list[str]:
    problems = []
    projects = _projects(rendered)
    for app in rendered.apps:
        where = f"{app.application.where}: Application/{app.name}"
        retry = app.spec.get("syncPolicy", {}).get("retry", {})
        if not retry.get("limit") or not retry.get("backoff"):
            problems.append(f"{where} spec.syncPolicy.retry needs a limit and a backoff")
        project_name = app.spec.get("project")
        expected = _expected_project(rendered, app)
        if project_name != expected:
            problems.append(f"{where} spec.project is {project_name!r}, expected {expected!r}")
            continue
        project = projects.get(project_name, {}).get("spec", {})
        destination = app.spec.get("destination", {})
        if not _destination_allowed(project, destination.get("namespace")):
            problems.append(
                f"{where} spec.destination {destination} is not allowed by "
                f"AppProject/{project_name}"
            )
        for source in app.spec.get("sources") or [app.spec.get("source", {})]:
            if source.get("repoURL") not in project.get("sourceRepos", []):
                problems.append(
                    f"{where} source {source.get('repoURL')} is not in the "
                    f"sourceRepos of AppProject/{project_name}"
                )
    return problems


def projects_allow_what_their_applications_sync(rendered: Rendered) -> list[str]:
    """Argo CD refuses to sync an object its project does not allow: find that offline."""
    problems = []
    projects = _projects(rendered)
    for app in rendered.apps:
        name = app.spec.get("project", "")
        project = projects.get(name, {}).get("spec", {})
        default_namespace = app.spec.get("destination", {}).get("namespace")
        for m in app.manifests:
            group = m.obj.get("apiVersion", "").rpartition("/")[0]
            what = f"{m.where}: {m.kind}/{m.name} (group {group!r})"
            if m.kind in CLUSTER_SCOPED:
                if not _kind_listed(project.get("clusterResourceWhitelist") or [], group, m.kind):
                    problems.append(
                        f"{what} is cluster-scoped and not in the clusterResourceWhitelist "
                        f"of AppProject/{name} (Application/{app.name} could not sync it)"
                    )
                continue
            allowed = project.get("namespaceResourceWhitelist")
            if allowed is not None and not _kind_listed(allowed, group, m.kind):
                problems.append(
                    f"{what} is not in the namespaceResourceWhitelist of AppProject/{name} "
                    f"(Application/{app.name} could not sync it)"
                )
            namespace = m.obj.get("metadata", {}).get("namespace") or default_namespace
            if not _destination_allowed(project, namespace):
                problems.append(
                    f"{what} goes to namespace {namespace!r}, which AppProject/{name} "
                    "does not allow"
                )
    return problems


def crd_charts_keep_their_crds(rendered: Rendered) -> list[str]:
    """Deleting an Application with the resources finalizer deletes what it installed: for a
    chart that brings CRDs, every custom resource of those kinds in the cluster goes too."""
    problems = []
    for app in rendered.apps[1:]:
        charts = sorted({s.chart for s in app.helm} & CHARTS_WITH_CRDS)
        finalizers = app.application.obj.get("metadata", {}).get("finalizers", [])
        if charts and RESOURCES_FINALIZER in finalizers:
            problems.append(
                f"{app.application.where}: Application/{app.name} metadata.finalizers holds "
                f"{RESOURCES_FINALIZER}, but chart {', '.join(charts)} brings CRDs: deleting "
                "or renaming the Application would delete them and every object of their kinds"
            )
    return problems


def load_balancers_use_the_controller(rendered: Rendered) -> list[str]:
    """Every LoadBalancer Service names the AWS Load Balancer Controller's class (the in-tree
    provider would otherwise make a Classic ELB, or skip it and leave it Pending for ever) and
    only uses annotations the pinned controller reads, with values it accepts."""
    problems = []
    controller = _helm_source(rendered, LBC_CHART)
    for _app, m in rendered.manifests():
        if m.kind != "Service" or m.obj.get("spec", {}).get("type") != "LoadBalancer":
            continue
        what = f"{m.where}: Service/{m.name}"
        if controller is None:
            problems.append(
                f"{what} needs a load balancer, but no Application installs {LBC_CHART}"
            )
            continue
        if controller.version != LBC_VERSION:
            problems.append(
                f"{what}: the known annotations of {LBC_CHART} are for {LBC_VERSION}, the "
                f"pinned chart is {controller.version}: review tools/policies.py "
                "LBC_SERVICE_ANNOTATIONS against the new release"
            )
        wanted_class = controller.values.get("loadBalancerClass") or LBC_DEFAULT_CLASS
        if m.obj["spec"].get("loadBalancerClass") != wanted_class:
            problems.append(f"{what} spec.loadBalancerClass must be {wanted_class!r}")
        for key, value in (m.obj["metadata"].get("annotations") or {}).items():
            prefix, _, suffix = key.partition("/")
            if prefix not in LBC_ANNOTATION_PREFIXES:
                continue
            if suffix not in LBC_SERVICE_ANNOTATIONS:
                problems.append(
                    f"{what} metadata.annotations[{key}] is not read by {LBC_CHART} "
                    f"{LBC_VERSION} (misspelt?)"
                )
                continue
            allowed = LBC_SERVICE_ANNOTATIONS[suffix]
            if allowed and str(value).lower() not in allowed:
                problems.append(
                    f"{what} metadata.annotations[{key}] is {value!r}, expected one of "
                    f"{sorted(allowed)}"
                )
    return problems


def storage_classes_exist(rendered: Rendered) -> list[str]:
    """A claim naming a StorageClass that does not exist stays Pending for ever."""
    classes = {m.name for _a, m in rendered.manifests() if m.kind == "StorageClass"}
    problems = []
    for app in rendered.apps:
        for source in app.helm:
            for path, name in _values_named(source.values, "storageClassName"):
                if name not in classes:
                    problems.append(
                        f"{', '.join(source.value_files)}: {path} is {name!r}, but the tree "
                        f"creates no such StorageClass (it has: {sorted(classes)})"
                    )
    return problems


def app_namespaces_deny_by_default(rendered: Rendered) -> list[str]:
    """Every app namespace has a policy that isolates all its pods both ways, so that only
    what another policy admits gets through (vpc-cni enforces NetworkPolicies)."""
    problems = []
    for app in rendered.apps:
        if app.spec.get("project") != "workloads":
            continue
        namespace = app.spec.get("destination", {}).get("namespace")
        if not any(
            m.kind == "NetworkPolicy"
            and m.obj["spec"].get("podSelector") in ({}, None)
            and set(m.obj["spec"].get("policyTypes", [])) == {"Ingress", "Egress"}
            and not m.obj["spec"].get("ingress")
            and not m.obj["spec"].get("egress")
            for m in app.manifests
        ):
            problems.append(
                f"{app.application.where}: Application/{app.name} deploys to namespace "
                f"{namespace!r} without a default-deny NetworkPolicy (podSelector {{}}, "
                "policyTypes Ingress and Egress, no rules)"
            )
    return problems


def _helm_source(rendered: Rendered, chart: str) -> HelmSource | None:
    return next((s for app in rendered.apps for s in app.helm if s.chart == chart), None)


def _values_named(values, key: str, path: str = "") -> list[tuple[str, str]]:
    found = []
    if isinstance(values, dict):
        for k, v in values.items():
            here = f"{path}.{k}" if path else str(k)
            if k == key and isinstance(v, str):
                found.append((here, v))
            else:
                found += _values_named(v, key, here)
    elif isinstance(values, list):
        for i, v in enumerate(values):
            found += _values_named(v, key, f"{path}[{i}]")
    return found


def _projects(rendered: Rendered) -> dict[str, dict]:
    found = {m.name: m.obj for _a, m in rendered.manifests() if m.kind == "AppProject"}
    found[rendered.root_project.name] = rendered.root_project.obj
    return found


def _expected_project(rendered: Rendered, app: RenderedApp) -> str:
    if app is rendered.apps[0]:
        return rendered.root_project.name
    return "workloads" if app.application.origin.startswith("apps/") else "platform"


def _destination_allowed(project: dict, namespace: str | None) -> bool:
    return any(
        d.get("namespace") in (namespace, "*") and d.get("server") == IN_CLUSTER
        for d in project.get("destinations", [])
    )


def _kind_listed(entries: list[dict], group: str, kind: str) -> bool:
    return any(e.get("group") in (group, "*") and e.get("kind") in (kind, "*") for e in entries)


def crd_providers_sync_first(rendered: Rendered) -> list[str]:
    problems = []
    waves = {app.name: _wave(app) for app in rendered.apps[1:]}
    providers = {
        group: app.name
        for app in rendered.apps
        for source in app.helm
        for group, chart in CRD_PROVIDERS.items()
        if source.chart == chart
    }
    for app in rendered.apps[1:]:
        used = {
            m.obj["apiVersion"].split("/")[0]
            for m in app.manifests
            if "/" in m.obj.get("apiVersion", "")
        }
        if any(_service_monitor_enabled(s.values) for s in app.helm):
            used.add("monitoring.coreos.com")
        for group in sorted(used & CRD_PROVIDERS.keys()):
            provider = providers.get(group)
            if provider is None:
                problems.append(
                    f"{app.application.where}: Application/{app.name} uses {group} "
                    f"but no Application installs chart {CRD_PROVIDERS[group]}"
                )
            elif provider != app.name and waves[provider] >= waves[app.name]:
                problems.append(
                    f"{app.application.where}: Application/{app.name} metadata.annotations"
                    f"[argocd.argoproj.io/sync-wave] is {waves[app.name]}, but it uses {group} "
                    f"whose CRDs come from Application/{provider} (wave {waves[provider]}): "
                    "the provider needs a lower wave"
                )
    return problems


def charts_follow_the_env_pins(rendered: Rendered) -> list[str]:
    """Every chart is installed at the version its env pins in chart-versions.yaml (that file
    is what promotion copies and Renovate bumps), and every pin is used."""
    pins = CHART_VERSIONS_FILE.format(env=rendered.env)
    problems = []
    installed = set()
    for app in rendered.apps:
        for source in app.helm:
            installed.add(source.chart)
            pinned = rendered.chart_versions.get(source.chart)
            what = f"{app.application.where}: Application/{app.name} chart {source.chart}"
            if pinned is None:
                problems.append(
                    f"{what} has no version in {pins}: add data.{source.chart} there and a "
                    "replacement for it in clusters/components/env-facts"
                )
            elif source.version != pinned:
                problems.append(
                    f"{what} is at {source.version!r}, but {pins} pins {pinned!r}: "
                    f"clusters/components/env-facts must copy data.{source.chart} into it"
                )
    for chart in sorted(rendered.chart_versions.keys() - installed):
        problems.append(f"{pins}: data.{chart} pins a chart that no Application installs")
    return problems


def applications_sync_as_their_env_says(rendered: Rendered) -> list[str]:
    """Root syncs by itself in every env (it only creates Applications); every other
    Application syncs by itself exactly when the env's facts say autoSync "true"."""
    problems = []
    root = rendered.apps[0]
    if not automated_sync_enabled(root.spec):
        problems.append(
            f"{root.application.where}: Application/{root.name} spec.syncPolicy.automated "
            "must be on: root only creates Applications, and nothing else would sync it"
        )
    wanted = rendered.facts.get("autoSync") == "true"
    facts = FACTS_FILE.format(env=rendered.env)
    for app in rendered.apps[1:]:
        if automated_sync_enabled(app.spec) != wanted:
            problems.append(
                f"{app.application.where}: Application/{app.name} spec.syncPolicy.automated "
                f"{'is on' if not wanted else 'is off'}, but {facts} says autoSync "
                f"{rendered.facts.get('autoSync')!r}"
            )
    return problems


def root_leaves_paused_applications_alone(rendered: Rendered) -> list[str]:
    """An operator pauses auto-sync on one Application (UI or CLI) to roll it back: root must
    see no difference (else its self-heal would undo the pause) and must keep the live
    setting when it syncs for another reason (RespectIgnoreDifferences)."""
    root = rendered.apps[0]
    where = f"{root.application.where}: Application/{root.name}"
    rules = root.spec.get("ignoreDifferences", [])
    problems = []
    if "RespectIgnoreDifferences=true" not in root.spec.get("syncPolicy", {}).get(
        "syncOptions", []
    ):
        problems.append(
            f"{where} spec.syncPolicy.syncOptions lacks RespectIgnoreDifferences=true: a sync "
            "of root would turn a paused Application's auto-sync back on"
        )
    for app in rendered.apps[1:]:
        desired = normalized(app.application.obj, rules)
        for how, pause in PAUSES.items():
            if normalized(pause(app.application.obj), rules) != desired:
                problems.append(
                    f"{where} spec.ignoreDifferences: after `{how}` on Application/{app.name}, "
                    "root sees a difference and its self-heal would undo the pause (ignore "
                    "/spec/syncPolicy/automated of argoproj.io Applications)"
                )
                break
    return problems


POLICIES: dict[str, Callable[[Rendered], list[str]]] = {
    "images and charts pinned exactly": images_and_charts_are_pinned,
    "charts at the versions their env pins": charts_follow_the_env_pins,
    "containers have resources, probes and a hardened securityContext": containers_are_hardened,
    "KEDA targets carry no replicas and Argo CD ignores them": keda_targets_have_no_replicas,
    "autoscaling fails safe when metrics are missing": autoscaling_fails_safe,
    "Applications retry and keep to their AppProject": applications_follow_their_project,
    "ignoreDifferences entries match objects of their Application": (
        ignore_differences_match_objects
    ),
    "namespaces and other objects that hold workloads are never pruned": (
        deletion_spares_workloads
    ),
    "AppProjects allow every object their Applications sync": (
        projects_allow_what_their_applications_sync
    ),
    "Applications of charts with CRDs do not delete them": crd_charts_keep_their_crds,
    "LoadBalancer Services are served by the AWS Load Balancer Controller": (
        load_balancers_use_the_controller
    ),
    "volume claims name a StorageClass that exists": storage_classes_exist,
    "app namespaces deny traffic by default": app_namespaces_deny_by_default,
    "CRD providers sync before their consumers": crd_providers_sync_first,
    "Applications sync by themselves or by hand as their env says": (
        applications_sync_as_their_env_says
    ),
    "root leaves an Application whose auto-sync was paused alone": (
        root_leaves_paused_applications_alone
    ),
}


def check(rendered: Rendered) -> list[str]:
    return [f"[{name}] {p}" for name, policy in POLICIES.items() for p in policy(rendered)]


def _wave(app: RenderedApp) -> int:
    annotations = app.application.obj.get("metadata", {}).get("annotations", {})
    return int(annotations.get("argocd.argoproj.io/sync-wave", "0"))


def _service_monitor_enabled(values) -> bool:
    if isinstance(values, dict):
        monitor = values.get("serviceMonitor")
        if isinstance(monitor, dict) and monitor.get("enabled"):
            return True
        return any(_service_monitor_enabled(v) for v in values.values())
    return False


def _pod_spec(m: Manifest) -> dict | None:
    spec = m.obj.get("spec", {})
    if m.kind in WORKLOAD_KINDS - {"CronJob"}:
        return spec.get("template", {}).get("spec")
    if m.kind == "CronJob":
        return spec.get("jobTemplate", {}).get("spec", {}).get("template", {}).get("spec")
    if m.kind == "Pod":
        return spec
    return None


def _containers(m: Manifest) -> list[tuple[str, dict]]:
    pod = _pod_spec(m)
    if pod is None:
        return []
    prefix = {"Pod": "spec", "CronJob": "spec.jobTemplate.spec.template.spec"}.get(
        m.kind, "spec.template.spec"
    )
    return [
        (f"{prefix}.{group}[{c.get('name')}]", c)
        for group in ("initContainers", "containers")
        for c in pod.get(group, [])
    ]
