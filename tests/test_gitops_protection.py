"""What protects running workloads from a wrong line in Git: objects that hold workloads are
never pruned, ignoreDifferences entries match their target by group and kind, and values that
charts hand to Kubernetes are checked against Kubernetes' own schema."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from tools import policies
from tools.render import render
from tools.validate import validate

ENVS = ["dev", "prod"]


@pytest.mark.parametrize("env", ENVS)
def test_namespaces_that_hold_workloads_are_never_pruned_nor_deleted(rendered, env):
    namespaces = [m for _a, m in rendered[env].manifests() if m.kind == "Namespace"]
    assert namespaces, "the app namespaces are synced by root"
    assert policies.deletion_spares_workloads(rendered[env]) == []
    r = copy.deepcopy(rendered[env])
    namespace = next(m for _a, m in r.manifests() if m.kind == "Namespace")
    namespace.obj["metadata"]["annotations"][policies.SYNC_OPTIONS] = "Prune=false"
    assert policies.deletion_spares_workloads(r) == [
        f"{namespace.where}: Namespace/{namespace.name} metadata.annotations"
        f"[{policies.SYNC_OPTIONS}] lacks Delete=false: deleting it would delete what runs in it"
    ]
    del namespace.obj["metadata"]["annotations"]
    assert "lacks Delete=false,Prune=false" in policies.deletion_spares_workloads(r)[0]


@pytest.mark.parametrize("env", ENVS)
def test_an_ignore_differences_entry_must_name_the_group_of_its_target(rendered, env):
    assert policies.ignore_differences_match_objects(rendered[env]) == []
    r = copy.deepcopy(rendered[env])
    app = r.app("swin-t")
    entry = app.spec["ignoreDifferences"][0]
    assert (entry["group"], entry["kind"]) == ("apps", "Deployment")
    entry["group"] = "extensions"
    problems = policies.ignore_differences_match_objects(r)
    assert len(problems) == 1 and "spec.ignoreDifferences[0] (group 'extensions'" in problems[0]
    # Argo CD would fight KEDA over the replica count: the KEDA policy says so too.
    assert "lacks /spec/replicas of Deployment/swin-t in group 'apps'" in "\n".join(
        policies.keda_targets_have_no_replicas(r)
    )


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def test_a_misspelt_field_in_a_per_component_resources_map_is_refused(tree_copy):
    # keda's `resources` is a map of components (operator, metricServer, webhooks), each a
    # Kubernetes ResourceRequirements: neither level is free-form.
    edit(
        tree_copy / "platform/keda/values.yaml",
        "  operator:\n    requests:",
        "  operator:\n    requets:",
    )
    problems = validate(render("dev", repo=tree_copy))
    assert any(
        p.startswith(
            "platform/keda/values.yaml: key `resources.operator` is not a Kubernetes resources"
        )
        and "requets" in p
        for p in problems
    ), problems


def test_a_component_the_chart_does_not_have_is_refused(tree_copy):
    edit(tree_copy / "platform/keda/values.yaml", "  operator:\n", "  operater:\n")
    problems = validate(render("dev", repo=tree_copy))
    assert any(
        "platform/keda/values.yaml: key `resources.operater` does not exist" in p for p in problems
    ), problems


def test_a_misspelt_field_in_plain_resources_is_refused(tree_copy):
    edit(tree_copy / "platform/cluster-autoscaler/values.yaml", "  limits:\n", "  limit:\n")
    problems = validate(render("dev", repo=tree_copy))
    assert any(
        p.startswith(
            "platform/cluster-autoscaler/values.yaml: key `resources` is not a Kubernetes resources"
        )
        for p in problems
    ), problems
