"""Repository policies over the rendered output of every env (tools/policies.py)."""

from __future__ import annotations

import pytest

from tools import policies

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


def test_the_root_application_is_the_only_one_in_the_default_project(rendered):
    for r in rendered.values():
        projects = {app.name: app.spec["project"] for app in r.apps}
        assert projects.pop("root") == "default"
        assert set(projects.values()) == {"platform", "workloads"}


def test_only_cascading_deletes_that_are_safe_carry_the_resources_finalizer(rendered):
    for r in rendered.values():
        for app in r.apps[1:]:
            finalizers = app.application.obj["metadata"].get("finalizers", [])
            if app.name == "argocd":
                assert finalizers == [], "deleting argocd's Application must not delete Argo CD"
            else:
                assert finalizers == ["resources-finalizer.argocd.argoproj.io"], app.name


def test_big_crd_charts_use_server_side_apply_and_create_their_namespace(rendered):
    for r in rendered.values():
        for name in ("kube-prometheus-stack", "keda", "gpu-operator", "argocd"):
            options = r.app(name).spec["syncPolicy"]["syncOptions"]
            assert {"ServerSideApply=true", "CreateNamespace=true"} <= set(options), name
        app_options = r.app("swin-t").spec["syncPolicy"]["syncOptions"]
        assert "SkipDryRunOnMissingResource=true" in app_options
