"""Every env renders the way Argo CD would, and every object validates strictly."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from tools.render import REPO, environments, render, write
from tools.validate import validate

EXPECTED_APPS = {
    "root",
    "argocd",
    "kube-prometheus-stack",
    "keda",
    "gpu-operator",
    "cluster-autoscaler",
    "aws-load-balancer-controller",
    "swin-t",
}


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_env_renders_every_application_from_the_root(rendered, env):
    apps = {app.name for app in rendered[env].apps}
    assert apps == EXPECTED_APPS
    assert rendered[env].apps[0].spec["source"]["path"] == f"clusters/{env}"
    swin_t = rendered[env].app("swin-t")
    assert swin_t.spec["source"]["path"] == f"apps/swin-t/overlays/{env}"
    assert {m.kind for m in swin_t.manifests} >= {
        "Deployment",
        "Service",
        "ServiceMonitor",
        "PrometheusRule",
        "PodDisruptionBudget",
        "NetworkPolicy",
        "ScaledObject",
    }


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_every_object_validates_strictly_against_core_and_crd_schemas(rendered, env):
    assert validate(rendered[env]) == []


def test_env_facts_reach_the_applications(rendered):
    for env, r in rendered.items():
        facts = r.facts
        autoscaler = r.app("cluster-autoscaler").helm[0].values
        assert autoscaler["autoDiscovery"]["clusterName"] == facts["clusterName"]
        assert autoscaler["awsRegion"] == facts["region"]
        for app in r.apps[1:]:
            for source in app.spec.get("sources") or [app.spec["source"]]:
                if "chart" not in source:
                    assert source["repoURL"] == facts["repoURL"], (env, app.name)
                    assert source["targetRevision"] == facts["targetRevision"], (env, app.name)
            for helm in app.helm:
                assert f"clusters/{env}/values/{app.name}.yaml" in helm.value_files


def test_env_values_files_are_layered_after_the_shared_ones(rendered):
    kps = rendered["prod"].app("kube-prometheus-stack").helm[0]
    assert kps.value_files == [
        "platform/kube-prometheus-stack/values.yaml",
        "clusters/prod/values/kube-prometheus-stack.yaml",
    ]
    assert kps.values["prometheus"]["prometheusSpec"]["retention"] == "15d"
    assert (
        kps.values["prometheus"]["prometheusSpec"]["serviceMonitorSelectorNilUsesHelmValues"]
        is False
    )


def test_the_image_tag_comes_from_the_overlay_version_file(rendered):
    for env, r in rendered.items():
        tag = yaml.safe_load((REPO / f"apps/swin-t/overlays/{env}/version.yaml").read_text())
        deployment = next(m for m in r.app("swin-t").manifests if m.kind == "Deployment")
        image = deployment.obj["spec"]["template"]["spec"]["containers"][0]["image"]
        assert image.endswith(":" + tag["data"]["tag"])


def test_a_new_env_is_a_copied_folder_with_new_facts(tree_copy):
    import shutil

    shutil.copytree(tree_copy / "clusters/dev", tree_copy / "clusters/staging")
    shutil.copytree(
        tree_copy / "apps/swin-t/overlays/dev", tree_copy / "apps/swin-t/overlays/staging"
    )
    facts = tree_copy / "clusters/staging/cluster-facts.yaml"
    facts.write_text(
        facts.read_text()
        .replace("env: dev", "env: staging")
        .replace("gpu-inference-dev", "gpu-inference-staging")
    )
    assert environments(tree_copy) == ["dev", "prod", "staging"]
    staging = render("staging", tree_copy)
    assert staging.app("swin-t").spec["source"]["path"] == "apps/swin-t/overlays/staging"
    assert staging.app("cluster-autoscaler").helm[0].values["autoDiscovery"]["clusterName"] == (
        "gpu-inference-staging"
    )
    assert validate(staging) == []


def test_render_writes_one_folder_per_application(rendered, tmp_path):
    folder = write(rendered["dev"], tmp_path)
    assert {p.name for p in folder.iterdir()} == EXPECTED_APPS
    helm = yaml.safe_load((folder / "keda" / "helm-keda.yaml").read_text())
    assert helm["chart"] == "keda" and helm["version"] == "2.20.2"
    assert (folder / "swin-t" / "deployment-swin-t.yaml").is_file()


def test_validate_command_passes_and_reports_its_time():
    result = subprocess.run(
        [sys.executable, "-m", "tools", "validate"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "dev: 8 Applications" in result.stdout and "prod: 8 Applications" in result.stdout
    assert "took" in result.stdout
