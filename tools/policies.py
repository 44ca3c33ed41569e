"""Repository policies over a rendered environment. Each returns its violations, each naming
the file and the field to fix; `python -m tools validate` runs them all."""

from __future__ import annotations

import re
from collections.abc import Callable

from tools.render import Manifest, Rendered, RenderedApp

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
    for app in rendered.apps:
        for i, source in enumerate(app.spec.get("sources") or []):
            if source.get("chart") and not EXACT_VERSION.match(str(source.get("targetRevision"))):
                problems.append(
                    f"{app.application.where}: Application/{app.name} "
                    f"spec.sources[{i}].targetRevision {source.get('targetRevision')!r} is not "
                    f"an exact version of chart {source['chart']}"
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
        ignored = [
            d
            for d in app.spec.get("ignoreDifferences", [])
            if d.get("kind") == kind and "/spec/replicas" in d.get("jsonPointers", [])
        ]
        if not ignored:
            problems.append(
                f"{app.application.where}: Application/{app.name} "
                f"spec.ignoreDifferences lacks /spec/replicas of {kind}/"
                f"{target['name']} (scaled by KEDA)"
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


def applications_follow_their_project(rendered: Rendered) -> list[str]:
    problems = []
    projects = {m.name: m.obj for _a, m in rendered.manifests() if m.kind == "AppProject"}
    for app in rendered.apps[1:]:  # the root lives in `default`, by design
        where = f"{app.application.where}: Application/{app.name}"
        retry = app.spec.get("syncPolicy", {}).get("retry", {})
        if not retry.get("limit") or not retry.get("backoff"):
            problems.append(f"{where} spec.syncPolicy.retry needs a limit and a backoff")
        expected = "workloads" if app.application.origin.startswith("apps/") else "platform"
        project_name = app.spec.get("project")
        if project_name != expected:
            problems.append(f"{where} spec.project is {project_name!r}, expected {expected!r}")
            continue
        project = projects.get(project_name, {}).get("spec", {})
        destination = app.spec.get("destination", {})
        if not any(
            d.get("namespace") in (destination.get("namespace"), "*")
            and d.get("server") == destination.get("server")
            for d in project.get("destinations", [])
        ):
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
        if project_name == "workloads":
            if project.get("clusterResourceWhitelist"):
                problems.append("AppProject/workloads spec.clusterResourceWhitelist must be empty")
            for m in app.manifests:
                if m.kind in CLUSTER_SCOPED:
                    problems.append(
                        f"{m.where}: {m.kind}/{m.name} is cluster-scoped, which "
                        "the workloads project does not allow"
                    )
    return problems


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


POLICIES: dict[str, Callable[[Rendered], list[str]]] = {
    "images and charts pinned exactly": images_and_charts_are_pinned,
    "containers have resources, probes and a hardened securityContext": containers_are_hardened,
    "KEDA targets carry no replicas and Argo CD ignores them": keda_targets_have_no_replicas,
    "autoscaling fails safe when metrics are missing": autoscaling_fails_safe,
    "Applications retry and keep to their AppProject": applications_follow_their_project,
    "CRD providers sync before their consumers": crd_providers_sync_first,
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
