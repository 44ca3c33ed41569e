"""Repository policies over the rendered output of every env (tools/policies.py)."""

from __future__ import annotations

import copy

import pytest

from tools import policies
from tools.validate import crd_dir

ENVS = ["dev", "prod"]


@pytest.mark.parametrize("env", ENVS)
def test_every_image_and_chart_version_is_pinned_exactly(rendered, env):
    assert policies.images_and_charts_are_pinned(rendered[env]) == []
    assert policies.image_references(rendered[env]), "no image was checked"


@pytest.mark.parametrize("env", ENVS)
def test_every_container_has_requests_limits_probes_and_a_hardened_security_context(rendered, env):
    assert policies.containers_are_hardened(rendered[env]) == []


@pytest.mark.parametrize("env", ENVS)
def test_no_keda_target_sets_replicas_and_argo_cd_ignores_them(rendered, env):
    assert policies.keda_targets_have_no_replicas(rendered[env]) == []
    assert any(m.kind == "ScaledObject" for _a, m in rendered[env].manifests())


@pytest.mark.parametrize("env", ENVS)
def test_scaled_objects_fail_safe_when_metrics_are_missing(rendered, env):
    assert policies.autoscaling_fails_safe(rendered[env]) == []


@pytest.mark.parametrize("env", ENVS)
def test_every_application_retries_and_keeps_to_its_app_project(rendered, env):
    assert policies.applications_follow_their_project(rendered[env]) == []


@pytest.mark.parametrize("env", ENVS)
def test_sync_waves_put_crd_providers_before_their_consumers(rendered, env):
    assert policies.crd_providers_sync_first(rendered[env]) == []


def test_no_application_uses_the_unrestricted_default_project(rendered):
    for r in rendered.values():
        projects = {app.name: app.spec["project"] for app in r.apps}
        assert projects.pop("root") == r.root_project.name == "root"
        assert set(projects.values()) == {"platform", "workloads"}


@pytest.mark.parametrize("env", ENVS)
def test_every_object_is_allowed_by_the_project_of_its_application(rendered, env):
    assert policies.projects_allow_what_their_applications_sync(rendered[env]) == []


def test_a_kind_the_workloads_project_does_not_list_is_refused(rendered):
    r = copy.deepcopy(rendered["dev"])
    app = r.app("swin-t")
    secret = copy.deepcopy(app.manifests[0])
    secret.obj = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "token"}}
    app.manifests.append(secret)
    namespace = copy.deepcopy(secret)
    namespace.obj = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "other"}}
    app.manifests.append(namespace)
    problems = "\n".join(policies.projects_allow_what_their_applications_sync(r))
    assert "Secret/token (group '') is not in the namespaceResourceWhitelist" in problems
    assert "Namespace/other (group '') is cluster-scoped and not in the clusterResource" in problems


def test_applications_of_charts_with_crds_never_delete_them(rendered):
    for r in rendered.values():
        assert policies.crd_charts_keep_their_crds(r) == []
        for app in r.apps[1:]:
            finalizers = app.application.obj["metadata"].get("finalizers", [])
            brings_crds = any(s.chart in policies.CHARTS_WITH_CRDS for s in app.helm)
            if brings_crds or app.name == "argocd":
                assert finalizers == [], app.name
            else:
                # Deleting it deletes what it made: the app's load balancer goes with it.
                assert finalizers == [policies.RESOURCES_FINALIZER], app.name
    r = copy.deepcopy(rendered["dev"])
    r.app("keda").application.obj["metadata"]["finalizers"] = [policies.RESOURCES_FINALIZER]
    assert "chart keda brings CRDs" in policies.crd_charts_keep_their_crds(r)[0]


def test_every_chart_whose_crds_we_validate_against_is_known_to_bring_crds():
    charts = {folder.name.rsplit("-", 1)[0] for folder in crd_dir().iterdir() if folder.is_dir()}
    assert charts <= policies.CHARTS_WITH_CRDS, charts - policies.CHARTS_WITH_CRDS


@pytest.mark.parametrize("env", ENVS)
def test_the_app_namespace_denies_by_default(rendered, env):
    assert policies.app_namespaces_deny_by_default(rendered[env]) == []
    r = copy.deepcopy(rendered[env])
    app = r.app("swin-t")
    app.manifests = [m for m in app.manifests if m.name != "default-deny"]
    assert policies.app_namespaces_deny_by_default(r)


def test_big_crd_charts_use_server_side_apply_and_create_their_namespace(rendered):
    for r in rendered.values():
        for name in ("kube-prometheus-stack", "keda", "gpu-operator", "argocd"):
            options = r.app(name).spec["syncPolicy"]["syncOptions"]
            assert {"ServerSideApply=true", "CreateNamespace=true"} <= set(options), name
        lbc = r.app("aws-load-balancer-controller").spec["syncPolicy"]["syncOptions"]
        assert {"ServerSideApply=true", "RespectIgnoreDifferences=true"} <= set(lbc)
        app_options = r.app("swin-t").spec["syncPolicy"]["syncOptions"]
        assert "SkipDryRunOnMissingResource=true" in app_options


@pytest.mark.parametrize("env", ENVS)
def test_a_stuck_wave_cannot_hold_roots_sync_for_ever(rendered, env):
    values = rendered[env].app("argocd").helm[0].values
    timeout = int(values["configs"]["params"]["controller.sync.timeout.seconds"])
    # Argo CD's default, 0, means no timeout: a Degraded child would block every Git fix.
    assert 0 < timeout <= 1800
