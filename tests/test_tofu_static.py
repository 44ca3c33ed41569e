"""What tofu hands to Argo CD, checked against the GitOps tree.

The argocd-bootstrap module and the envs' gitops stages need the helm and kubernetes
providers. Where those install, the module's own `tofu test` runs; where they cannot (no
registry access), the same facts are checked statically with python-hcl2, and a warning in
the test summary says so.
"""

from __future__ import annotations

import re
import string
import warnings
from pathlib import Path

import hcl2
import pytest
import yaml

from tools import tofu
from tools.render import REPO, environments, load_chart_versions

BOOTSTRAP = tofu.TOFU / "modules" / "argocd-bootstrap"
ENVS = environments()


def unquote(value) -> str:
    return value.strip('"') if isinstance(value, str) else value


def block(doc: dict, kind: str, name: str) -> dict:
    for entry in doc.get(kind, []):
        for key, body in entry.items():
            if unquote(key) == name:
                return body
    raise KeyError(f"{kind} {name}")


def resource(doc: dict, rtype: str, name: str) -> dict:
    for entry in doc.get("resource", []):
        for key, bodies in entry.items():
            if unquote(key) == rtype:
                for body_name, body in bodies.items():
                    if unquote(body_name) == name:
                        return body
    raise KeyError(f"resource {rtype}.{name}")


def variable_default(module: Path, name: str):
    doc = hcl2.load((module / "variables.tf").open())
    return unquote(block(doc, "variable", name).get("default"))


def platform_argocd_source() -> dict:
    app = yaml.safe_load((REPO / "platform/argocd/application.yaml").read_text())
    return next(s for s in app["spec"]["sources"] if s.get("chart"))


def static_bootstrap_checks() -> None:
    source = platform_argocd_source()
    main = hcl2.load((BOOTSTRAP / "main.tf").open())
    release = resource(main, "helm_release", "argocd")
    assert unquote(release["chart"]) == source["chart"]
    assert unquote(release["repository"]) == source["repoURL"]
    # The install and the self-managed Argo CD must be the same release in every env.
    for env in ENVS:
        pinned = load_chart_versions(REPO, env)[source["chart"]]
        assert variable_default(BOOTSTRAP, "chart_version") == pinned, (
            f"tofu/modules/argocd-bootstrap chart_version != data.{source['chart']} of "
            f"clusters/{env}/chart-versions.yaml: tofu must install the version the env pins"
        )
    assert release["lifecycle"][0]["ignore_changes"] == "all"


def test_argocd_bootstrap_module():
    init = tofu.run(BOOTSTRAP, "init", "-backend=false", "-input=false", "-no-color")
    if init.returncode == 0:
        result = tofu.run(BOOTSTRAP, "test", "-no-color")
        assert result.returncode == 0, result.stdout + result.stderr
        static_bootstrap_checks()
        return
    warnings.warn(
        "argocd-bootstrap: the helm and kubernetes providers cannot be installed here, so its "
        "`tofu test` did not run; it was checked statically with python-hcl2 instead",
        stacklevel=1,
    )
    static_bootstrap_checks()


@pytest.mark.parametrize("env", ENVS)
def test_the_gitops_stage_installs_argocd_with_the_files_platform_argocd_uses(env):
    stage = tofu.TOFU / "envs" / env / "gitops"
    doc = hcl2.load((stage / "main.tf").open())
    module = block(doc, "module", "argocd")
    assert unquote(module["source"]) == "../../../modules/argocd-bootstrap"

    def repo_path(value: str) -> Path:
        relative = re.sub(r"^\$\{local\.repo\}/", "", unquote(value))
        return REPO / relative

    values, env_values = repo_path(module["values_file"]), repo_path(module["env_values_file"])
    root = repo_path(module["root_application_file"])
    argocd_app = yaml.safe_load((REPO / "platform/argocd/application.yaml").read_text())
    shared_values = argocd_app["spec"]["sources"][0]["helm"]["valueFiles"][0]
    assert values == REPO / shared_values.removeprefix("$values/"), (
        f"{stage}/main.tf values_file and platform/argocd's first value file differ"
    )
    assert env_values == REPO / f"clusters/{env}/values/argocd.yaml" and env_values.is_file()
    assert root.is_file()
    rendered = string.Template(root.read_text()).substitute(
        env=env, repo_url="https://example.invalid/repo.git", target_revision="main"
    )
    path = yaml.safe_load(rendered)["spec"]["source"]["path"]
    assert (REPO / path / "kustomization.yaml").is_file(), f"root app path {path} missing"


@pytest.mark.parametrize("env", ENVS)
@pytest.mark.parametrize("stage", ["aws", "gitops"])
def test_each_stage_reads_the_facts_of_its_own_env(env, stage):
    text = (tofu.TOFU / "envs" / env / stage / "main.tf").read_text()
    assert f"clusters/{env}/cluster-facts.yaml" in text
    envs_named = set(re.findall(r"clusters/([a-z0-9-]+)/", text))
    assert envs_named == {env}, f"tofu/envs/{env}/{stage}/main.tf names files of {envs_named}"


@pytest.mark.parametrize("env", ENVS)
def test_the_autoscaler_service_account_is_the_one_pod_identity_binds(env):
    values = yaml.safe_load((REPO / "platform/cluster-autoscaler/values.yaml").read_text())
    app = yaml.safe_load((REPO / "platform/cluster-autoscaler/application.yaml").read_text())
    module = tofu.TOFU / "modules" / "cluster-autoscaler-pod-identity"
    assert values["rbac"]["serviceAccount"]["name"] == variable_default(module, "service_account")
    assert app["spec"]["destination"]["namespace"] == variable_default(module, "namespace")
