"""Broken copies of the tree make `validate` or the policies fail, naming file and field."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from tests.tools_cli import run_tools


def validate_copy(tree: Path, env: str = "dev") -> subprocess.CompletedProcess[str]:
    return run_tools(tree, "validate", env)


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def test_the_unbroken_copy_passes(tree_copy):
    result = validate_copy(tree_copy)
    assert result.returncode == 0, result.stdout


def test_an_unknown_field_in_an_overlay_patch_names_the_patch_and_the_base_it_patches(tree_copy):
    patch = tree_copy / "apps/swin-t/overlays/dev/scaledobject-patch.yaml"
    edit(patch, "  minReplicaCount: 1\n", "  minReplicaCount: 1\n  minReplicaCout: 1\n")
    line = patch.read_text().splitlines().index("  minReplicaCout: 1") + 1
    result = validate_copy(tree_copy)
    assert result.returncode == 1
    assert (
        f"apps/swin-t/overlays/dev/scaledobject-patch.yaml:{line} (patches "
        "apps/swin-t/base/scaledobject-swin-t.yaml, as built by apps/swin-t/overlays/dev): "
        "ScaledObject/swin-t spec: Additional properties are not allowed ('minReplicaCout' "
        "was unexpected)"
    ) in result.stdout, result.stdout


def test_an_unknown_field_in_a_json_patch_names_the_patch_and_the_operation(tree_copy):
    overlay = tree_copy / "apps/swin-t/overlays/dev"
    patch = overlay / "networkpolicy-patch.yaml"
    patch.write_text(
        "- op: replace\n  path: /spec/ingress/0/from/0/podSelector\n  value: {}\n"
        "- op: add\n  path: /spec/ingress/0/fromm\n  value: []\n"
    )
    edit(
        overlay / "kustomization.yaml",
        "patches:\n",
        "patches:\n  - path: networkpolicy-patch.yaml\n"
        "    target: {kind: NetworkPolicy, name: swin-t}\n",
    )
    result = validate_copy(tree_copy)
    assert result.returncode == 1
    assert (
        "apps/swin-t/overlays/dev/networkpolicy-patch.yaml:4 (patches "
        "apps/swin-t/base/networkpolicy-swin-t.yaml, as built by apps/swin-t/overlays/dev): "
        "NetworkPolicy/swin-t spec.ingress.0: Additional properties are not allowed ('fromm'"
    ) in result.stdout, result.stdout


def test_a_bad_field_in_a_patch_of_a_named_list_item_names_the_patch(tree_copy):
    overlay = tree_copy / "apps/swin-t/overlays/prod"
    (overlay / "deployment-patch.yaml").write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: swin-t\nspec:\n"
        "  template:\n    spec:\n      containers:\n        - name: model-server\n"
        "          imagePullPolicy: Sometimes\n          stdinn: true\n"
    )
    edit(
        overlay / "kustomization.yaml", "patches:\n", "patches:\n  - path: deployment-patch.yaml\n"
    )
    result = validate_copy(tree_copy, "prod")
    assert result.returncode == 1
    assert re.search(
        r"apps/swin-t/overlays/prod/deployment-patch.yaml:1[01] \(patches "
        r"apps/swin-t/base/deployment-swin-t.yaml, as built by apps/swin-t/overlays/prod\): "
        r"Deployment/swin-t spec.template.spec.containers.0",
        result.stdout,
    ), result.stdout


def test_a_yaml_syntax_error_names_the_file_and_the_line(tree_copy):
    edit(
        tree_copy / "apps/swin-t/overlays/dev/scaledobject-patch.yaml",
        "  maxReplicaCount: 2\n",
        "   maxReplicaCount: 2\n",
    )
    result = validate_copy(tree_copy)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert re.search(
        r"^validate: apps/swin-t/overlays/dev/scaledobject-patch.yaml:\d+:\d+: YAML syntax "
        r"error: ",
        result.stderr,
        re.MULTILINE,
    ), result.stderr


def test_an_unknown_field_in_a_core_object_is_rejected(tree_copy):
    edit(
        tree_copy / "apps/swin-t/base/service-swin-t.yaml",
        "  type: ClusterIP\n",
        "  type: ClusterIP\n  sessionAfinity: None\n",
    )
    result = validate_copy(tree_copy)
    assert result.returncode == 1
    assert "apps/swin-t/base/service-swin-t.yaml" in result.stdout
    assert "sessionAfinity" in result.stdout


def test_a_missing_probe_names_the_container_and_the_probe(tree_copy):
    deployment = tree_copy / "apps/swin-t/base/deployment-swin-t.yaml"
    text = deployment.read_text()
    start = text.index("          livenessProbe:")
    end = text.index("          lifecycle:")
    deployment.write_text(text[:start] + text[end:])
    result = validate_copy(tree_copy)
    assert result.returncode == 1
    assert (
        "apps/swin-t/base/deployment-swin-t.yaml (as built by apps/swin-t/overlays/dev): "
        "Deployment/swin-t spec.template.spec.containers[model-server].livenessProbe is "
        "missing"
    ) in result.stdout, result.stdout


def test_an_unpinned_chart_names_the_env_pin_and_the_application(tree_copy):
    edit(tree_copy / "clusters/dev/chart-versions.yaml", 'keda: "2.20.2"', 'keda: "2.20.*"')
    result = validate_copy(tree_copy)
    assert result.returncode == 1
    assert (
        "platform/keda/application.yaml (as built by clusters/dev): Application/keda "
        "spec.sources[0].targetRevision '2.20.*' (data.keda of "
        "clusters/dev/chart-versions.yaml) is not an exact version"
    ) in result.stdout, result.stdout


def test_a_chart_version_without_pinned_defaults_names_the_pin_file(tree_copy):
    edit(tree_copy / "clusters/dev/chart-versions.yaml", 'keda: "2.20.2"', 'keda: "2.20.3"')
    result = validate_copy(tree_copy)
    assert result.returncode == 1
    assert "clusters/dev/chart-versions.yaml: data.keda is '2.20.3'" in result.stdout
    assert "no default values of chart keda 2.20.3" in result.stdout


def test_a_chart_the_env_does_not_pin_is_refused(tree_copy):
    pins = tree_copy / "clusters/dev/chart-versions.yaml"
    text = pins.read_text()
    start = text.index("  # renovate: datasource=helm registryUrl=https://kedacore")
    end = text.index('keda: "2.20.2"\n') + len('keda: "2.20.2"\n')
    pins.write_text(text[:start] + text[end:])
    result = validate_copy(tree_copy)
    assert result.returncode == 2
    assert "data.keda" in result.stderr and "clusters/dev" in result.stderr, result.stderr


def test_an_unquoted_chart_version_names_the_file_and_the_key(tree_copy):
    edit(tree_copy / "clusters/dev/chart-versions.yaml", 'keda: "2.20.2"', "keda: 2.20")
    result = validate_copy(tree_copy)
    assert result.returncode == 2
    assert "clusters/dev/chart-versions.yaml: data.keda is 2.2" in result.stderr


def test_a_misspelt_auto_sync_fact_names_the_file_and_the_field(tree_copy):
    edit(tree_copy / "clusters/dev/cluster-facts.yaml", 'autoSync: "true"', "autoSync: yes")
    result = validate_copy(tree_copy)
    assert result.returncode == 1
    assert re.search(
        r"clusters/dev/cluster-facts.yaml:\d+: data.autoSync: yes is a boolean, not a string",
        result.stdout,
    ), result.stdout


def test_replicas_added_to_the_keda_target_are_refused(tree_copy):
    overlay = tree_copy / "apps/swin-t/overlays/dev"
    (overlay / "replicas-patch.yaml").write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: swin-t\nspec:\n  replicas: 3\n"
    )
    edit(overlay / "kustomization.yaml", "patches:\n", "patches:\n  - path: replicas-patch.yaml\n")
    result = validate_copy(tree_copy)
    assert result.returncode == 1
    assert (
        "apps/swin-t/base/deployment-swin-t.yaml (as built by apps/swin-t/overlays/dev): "
        "Deployment/swin-t spec.replicas is set"
    ) in result.stdout, result.stdout


def test_a_trigger_that_reads_missing_data_as_idle_is_refused(tree_copy):
    scaled_object = tree_copy / "apps/swin-t/base/scaledobject-swin-t.yaml"
    edit(scaled_object, '{namespace="swin-t"}\n', '{namespace="swin-t"} or vector(0)\n')
    edit(scaled_object, 'ignoreNullValues: "false"', 'ignoreNullValues: "true"')
    edit(
        tree_copy / "apps/swin-t/overlays/prod/scaledobject-patch.yaml",
        "replicas: 4",
        "replicas: 2",
    )
    result = validate_copy(tree_copy, "prod")
    assert result.returncode == 1
    where = (
        "apps/swin-t/base/scaledobject-swin-t.yaml (as built by apps/swin-t/overlays/prod): "
        "ScaledObject/swin-t"
    )
    assert f"{where} spec.triggers[0] (inflight-per-replica).metadata.query uses vector()" in (
        result.stdout
    ), result.stdout
    assert (
        f'{where} spec.triggers[0] (inflight-per-replica).metadata.ignoreNullValues must be "false"'
        in (result.stdout)
    )
    assert f"{where} spec.fallback.replicas 2 must be above minReplicaCount 2" in result.stdout


def test_a_misspelt_helm_values_key_names_the_values_file_and_the_key(tree_copy):
    edit(tree_copy / "platform/keda/values.yaml", "nodeSelector:", "nodeSelecter:")
    result = validate_copy(tree_copy)
    assert result.returncode == 1
    assert (
        "platform/keda/values.yaml: key `nodeSelecter` does not exist in the default "
        "values of chart keda 2.20.2"
    ) in result.stdout, result.stdout


def test_a_crd_consumer_in_an_earlier_wave_than_its_provider_is_refused(tree_copy):
    edit(
        tree_copy / "platform/kube-prometheus-stack/application.yaml",
        'argocd.argoproj.io/sync-wave: "-3"',
        'argocd.argoproj.io/sync-wave: "5"',
    )
    result = validate_copy(tree_copy)
    assert result.returncode == 1
    assert "Application/swin-t metadata.annotations[argocd.argoproj.io/sync-wave]" in result.stdout


def test_missing_schema_sources_say_how_to_get_them(tree_copy, monkeypatch):
    monkeypatch.setenv("CRD_SOURCE_DIR", str(tree_copy / "nowhere"))
    result = validate_copy(tree_copy)
    assert result.returncode == 2
    assert "CRD_SOURCE_DIR" in result.stderr and "fetch-schemas" in result.stderr
