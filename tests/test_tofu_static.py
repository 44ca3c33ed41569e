"""tofu/ read statically: what it hands to Argo CD, how envs reach it, names and ordering.

The argocd-bootstrap module and the gitops stage need the helm and kubernetes providers.
Where those install, the module's own `tofu test` runs; where they cannot (no registry
access), the same facts are checked statically with python-hcl2, and a warning in the test
summary says so. The rest checks what `tofu test` cannot see (lifecycle, depends_on, names
across modules) or what lies outside tofu/ (the env inputs under clusters/).
"""

from __future__ import annotations

import json
import re
import string
import warnings
from pathlib import Path, PurePosixPath

import hcl2
import pytest
import yaml

from tools import tofu
from tools.render import REPO, ROOT_PROJECT, environments

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
    assert unquote(release["version"]) == "${var.chart_version}"
    # No default: the version comes from the env (the next test), nowhere else.
    variables = hcl2.load((BOOTSTRAP / "variables.tf").open())
    assert "default" not in block(variables, "variable", "chart_version"), (
        "argocd-bootstrap must not pin its own chart version"
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


GITOPS = tofu.STAGES / "gitops"
CLUSTER = tofu.STAGES / "cluster"
ACCOUNT = tofu.STAGES / "account"
EKS = tofu.TOFU / "modules" / "eks"


def stage_path(stage: Path, value: str, env: str) -> Path:
    """A path a stage builds from its locals (repo, env_dir) and var.env, for one env."""
    text = unquote(value)
    text = text.replace("${local.env_dir}", "${local.repo}/clusters/${var.env}")
    text = text.replace("${local.repo}/", "").replace("${var.env}", env)
    assert "${" not in text, f"{stage}: cannot resolve {value}"
    return REPO / text


@pytest.mark.parametrize("env", ENVS)
def test_the_gitops_stage_installs_argocd_with_the_files_platform_argocd_uses(env):
    doc = hcl2.load((GITOPS / "main.tf").open())
    module = block(doc, "module", "argocd")
    assert unquote(module["source"]) == "../../modules/argocd-bootstrap"
    values = stage_path(GITOPS, module["values_file"], env)
    env_values = stage_path(GITOPS, module["env_values_file"], env)
    root = stage_path(GITOPS, module["root_application_file"], env)
    argocd_app = yaml.safe_load((REPO / "platform/argocd/application.yaml").read_text())
    shared_values = argocd_app["spec"]["sources"][0]["helm"]["valueFiles"][0]
    assert values == REPO / shared_values.removeprefix("$values/"), (
        "tofu/stages/gitops/main.tf values_file and platform/argocd's first value file differ"
    )
    assert env_values == REPO / f"clusters/{env}/values/argocd.yaml" and env_values.is_file()
    assert root.is_file()
    rendered = string.Template(root.read_text()).substitute(
        env=env, repo_url="https://example.invalid/repo.git", target_revision="main"
    )
    path = yaml.safe_load(rendered)["spec"]["source"]["path"]
    assert (REPO / path / "kustomization.yaml").is_file(), f"root app path {path} missing"
    project = stage_path(GITOPS, module["root_project_file"], env)
    assert project == REPO / ROOT_PROJECT, "tofu makes the root project that render checks"


@pytest.mark.parametrize("env", ENVS)
def test_the_gitops_stage_installs_the_argocd_chart_version_the_env_pins(rendered, env):
    """Read the version where tofu reads it and where Argo CD gets it: the two must agree."""
    chart = platform_argocd_source()["chart"]
    stage = hcl2.load((GITOPS / "main.tf").open())
    given = unquote(block(stage, "module", "argocd")["chart_version"])
    wired = re.fullmatch(r'\$\{module\.(\w+)\.chart_versions\[\\?"([^"\\]+)\\?"\]\}', given)
    assert wired, f"tofu/stages/gitops/main.tf: chart_version = {given}, not the env's pin"
    env_module = block(stage, "module", wired[1])
    assert unquote(env_module["source"]) == "../../modules/env-facts"
    assert wired[2] == chart, f"the stage installs data.{wired[2]}, platform/argocd is {chart}"
    # Where tofu/modules/env-facts reads the versions (its tftest proves it reads them as is).
    facts_module = hcl2.load((tofu.TOFU / "modules/env-facts/main.tf").open())
    locals_ = {k: v for entry in facts_module["locals"] for k, v in entry.items()}
    read = stage_path(GITOPS, env_module["env_dir"], env) / PurePosixPath(
        unquote(locals_["versions_path"]).removeprefix("${var.env_dir}/")
    )
    tofu_installs = yaml.safe_load(read.read_text())["data"][chart]
    argocd_keeps = next(h.version for a in rendered[env].apps for h in a.helm if h.chart == chart)
    assert tofu_installs == argocd_keeps, (
        f"{read.relative_to(REPO)} data.{chart} is {tofu_installs}, but the self-managed "
        f"Argo CD Application of {env} gets {argocd_keeps}"
    )


def test_no_stage_names_an_env():
    """An env is a folder under clusters/: the stages reach it only through var.env."""
    for path in sorted(tofu.STAGES.glob("*/*.tf")):
        named = set(re.findall(r"clusters/([A-Za-z0-9_.-]+)", path.read_text()))
        assert named <= {"accounts"}, f"{path.relative_to(REPO)} names clusters/{named}"


def declared(stage: Path) -> dict[str, dict]:
    doc = hcl2.load((stage / "variables.tf").open())
    return {unquote(k): v for entry in doc["variable"] for k, v in entry.items()}


def check_tfvars(path: Path, stage: Path, given: set[str] = frozenset()) -> None:
    """Every value a tfvars file sets is declared; every input without a default is set."""
    variables = declared(stage)
    values = {k: v for k, v in hcl2.load(path.open()).items() if not k.startswith("__")}
    undeclared = set(values) - set(variables)
    assert not undeclared, f"{path.relative_to(REPO)}: {stage.name} declares no {undeclared}"
    required = {name for name, v in variables.items() if "default" not in v} - given
    missing = required - set(values)
    assert not missing, f"{path.relative_to(REPO)}: set {missing} (no default)"


def check_backend_example(folder: Path) -> None:
    path = folder / "backend.hcl.example"
    assert path.is_file(), f"{path.relative_to(REPO)} is missing (copy clusters/dev's)"
    backend = hcl2.load(path.open())
    assert backend.get("use_lockfile") is True and backend.get("encrypt") is True, path
    assert "key" not in backend, f"{path.relative_to(REPO)}: make sets the key per stage"


@pytest.mark.parametrize("env", ENVS)
def test_every_env_sets_only_inputs_the_cluster_stage_declares(env):
    check_tfvars(REPO / f"clusters/{env}/cluster.tfvars", CLUSTER, given={"env"})
    check_backend_example(REPO / f"clusters/{env}")


@pytest.mark.parametrize("folder", sorted((REPO / "clusters/accounts").iterdir()), ids=str)
def test_every_account_layer_sets_only_inputs_the_account_stage_declares(folder):
    assert not (folder / "cluster-facts.yaml").exists(), "an account layer is not an env"
    check_tfvars(folder / "account.tfvars", ACCOUNT)
    check_backend_example(folder)


def cluster_name_limit(path: Path, variable: str) -> int:
    found = re.findall(rf"length\({re.escape(variable)}\) <= (\d+)", path.read_text())
    assert found, f"{path}: no length limit on {variable}"
    return int(found[0])


def modules_of(root: Path) -> set[Path]:
    """The local modules a root calls, through every level."""
    found: set[Path] = set()
    for path in root.glob("*.tf"):
        for entry in hcl2.load(path.open()).get("module", []):
            for body in entry.values():
                module = (root / unquote(body["source"])).resolve()
                found |= {module} | modules_of(module)
    return found


def test_the_longest_iam_role_name_of_an_env_fits_with_the_longest_cluster_name():
    """Envs share an account because their names derive from the cluster name; IAM role
    names, the tightest (64 characters), are <cluster>-<purpose>."""
    limit = cluster_name_limit(EKS / "variables.tf", "var.cluster_name")
    facts = json.loads((REPO / "clusters/cluster-facts.schema.json").read_text())
    assert facts["properties"]["data"]["properties"]["clusterName"]["maxLength"] == limit
    env_facts = (tofu.TOFU / "modules/env-facts/outputs.tf").read_text()
    assert "length(local.fact.clusterName) <= local.allowed.clusterName.maxLength" in env_facts
    assert cluster_name_limit(tofu.TOFU / "modules/network/variables.tf", "var.name") == limit
    suffixes = {}
    for module in sorted(modules_of(CLUSTER) | {CLUSTER}):
        doc = hcl2.load((module / "main.tf").open())
        for entry in doc.get("resource", []):
            for body in entry.get('"aws_iam_role"', {}).values():
                name = unquote(body["name"])
                if module.name == "pod-identity-role":
                    assert name == "${var.cluster_name}-${var.name}", name
                    continue  # named by its callers, below
                match = re.fullmatch(r"\$\{var\.(?:cluster_name|name)\}(-[a-z0-9-]+)", name)
                assert match, f"{module.name}: role name {name} is not <cluster>-<purpose>"
                suffixes[f"{module.name}: {name}"] = match[1]
        for entry in doc.get("module", []):
            for call, body in entry.items():
                if unquote(body["source"]).endswith("/pod-identity-role"):
                    suffixes[f"{module.name}: module {call}"] = "-" + unquote(body["name"])
    assert len(suffixes) >= 6, suffixes
    longest = max(suffixes, key=lambda k: len(suffixes[k]))
    assert limit + len(suffixes[longest]) <= 64, f"{longest} exceeds 64 characters"


def node_group(name: str) -> dict:
    return resource(hcl2.load((EKS / "main.tf").open()), "aws_eks_node_group", name)


@pytest.mark.parametrize("name", ["system", "gpu"])
def test_node_groups_are_replaced_create_before_destroy_and_follow_the_cluster(name):
    group = node_group(name)
    assert "node_group_name" not in group and unquote(group["node_group_name_prefix"]), (
        "a fixed name would make create_before_destroy collide with the group it replaces"
    )
    assert group["lifecycle"][0]["create_before_destroy"] is True
    assert unquote(group["version"]) == "${aws_eks_cluster.this.version}"


def test_the_cni_comes_before_the_nodes_and_coredns_after_them():
    main = hcl2.load((EKS / "main.tf").open())
    for name in ("system", "gpu"):
        assert "${aws_eks_addon.before_nodes}" in node_group(name)["depends_on"]
    coredns = resource(main, "aws_eks_addon", "coredns")
    assert coredns["depends_on"] == ["${aws_eks_node_group.system}"]
    text = (EKS / "main.tf").read_text()
    before = re.search(r"addons_before_nodes\s*=\s*toset\(\[(.*?)\]\)", text)[1]
    assert set(re.findall(r'"([a-z-]+)"', before)) == {
        "vpc-cni",
        "kube-proxy",
        "eks-pod-identity-agent",
    }


def test_other_accounts_pull_into_roles_named_as_the_eks_module_names_node_roles():
    node_role = resource(hcl2.load((EKS / "main.tf").open()), "aws_iam_role", "node")
    suffix = unquote(node_role["name"]).removeprefix("${var.cluster_name}")
    ecr = (tofu.TOFU / "modules/ecr/main.tf").read_text()
    assert f"role/*{suffix}" in ecr, f"modules/ecr's pull policy must admit roles *{suffix}"


def test_every_root_and_module_needs_tofu_1_10_and_the_docs_say_so():
    for root in tofu.roots():
        text = (root / "versions.tf").read_text()
        assert 'required_version = ">= 1.10"' in text, root
    operations = (REPO / "docs/operations.md").read_text()
    assert "| OpenTofu (or Terraform) | 1.10 or newer" in operations and "1.8+" not in operations


@pytest.mark.parametrize("env", ENVS)
def test_the_autoscaler_service_account_is_the_one_pod_identity_binds(env):
    values = yaml.safe_load((REPO / "platform/cluster-autoscaler/values.yaml").read_text())
    app = yaml.safe_load((REPO / "platform/cluster-autoscaler/application.yaml").read_text())
    module = tofu.TOFU / "modules" / "cluster-autoscaler-pod-identity"
    assert values["rbac"]["serviceAccount"]["name"] == variable_default(module, "service_account")
    assert app["spec"]["destination"]["namespace"] == variable_default(module, "namespace")


def test_the_load_balancer_controllers_service_account_is_the_one_pod_identity_binds():
    folder = REPO / "platform/aws-load-balancer-controller"
    values = yaml.safe_load((folder / "values.yaml").read_text())
    app = yaml.safe_load((folder / "application.yaml").read_text())
    module = tofu.TOFU / "modules" / "aws-load-balancer-controller-pod-identity"
    assert values["serviceAccount"]["create"] is True
    assert values["serviceAccount"]["name"] == variable_default(module, "service_account")
    assert app["spec"]["destination"]["namespace"] == variable_default(module, "namespace")
    stage = hcl2.load((CLUSTER / "main.tf").open())
    assert unquote(block(stage, "module", "aws_load_balancer_controller")["source"]).endswith(
        "/aws-load-balancer-controller-pod-identity"
    ), "the cluster stage makes the controller's role"


def test_the_controller_finds_the_vpc_by_the_name_the_network_module_gives_it():
    """platform/aws-load-balancer-controller looks the VPC up by tag Name = cluster name."""
    stage = hcl2.load((CLUSTER / "main.tf").open())
    assert unquote(block(stage, "module", "network")["name"]) == "${local.facts.cluster_name}"
    vpc = resource(hcl2.load((tofu.TOFU / "modules/network/main.tf").open()), "aws_vpc", "this")
    assert vpc["tags"] == "${merge(var.tags, {Name = var.name})}", vpc["tags"]


def test_the_storage_class_provisioner_is_the_ebs_csi_driver_the_cluster_runs(rendered):
    provisioners = {
        m.obj["provisioner"] for _a, m in rendered["dev"].manifests() if m.kind == "StorageClass"
    }
    assert provisioners == {"ebs.csi.aws.com"}
    eks = (EKS / "main.tf").read_text()
    assert re.search(r'addon_name\s*=\s*"aws-ebs-csi-driver"', eks)
    assert re.search(r'"aws-ebs-csi-driver"\]', eks), "the driver is in the add-ons the module pins"


def test_the_ebs_csi_drivers_role_trusts_the_service_account_its_add_on_is_bound_to():
    """The EKS add-on runs its controller as the service account named in its Pod Identity
    association; the role's trust must name the same one, or volumes never attach."""
    stage = hcl2.load((CLUSTER / "main.tf").open())
    role, eks = block(stage, "module", "ebs_csi_driver_role"), block(stage, "module", "eks")
    assert unquote(role["namespace"]) == "kube-system"
    assert unquote(role["association"]) == "addon", "the add-on makes the association"
    assert unquote(role["service_account"]) == unquote(eks["ebs_csi_service_account"])
    assert unquote(eks["ebs_csi_role_arn"]) == "${module.ebs_csi_driver_role.role_arn}"
    addon = resource(hcl2.load((EKS / "main.tf").open()), "aws_eks_addon", "ebs_csi_driver")
    association = addon["pod_identity_association"][0]
    assert unquote(association["service_account"]) == "${var.ebs_csi_service_account}"
    assert unquote(association["role_arn"]) == "${var.ebs_csi_role_arn}"
