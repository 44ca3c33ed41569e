"""Bad env facts stop `validate`, `render` and the tofu side with one line per problem that
names the file, the field and the bad value, and never with a traceback.

One table of broken clusters/dev/cluster-facts.yaml files; each is checked by the tools
(`python -m tools validate dev`) and, where tofu reads the fact, by the env-facts module
that the cluster and gitops stages use (a real `plan` of it, offline).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import kubernetes_validate
import pytest

from tools import facts, tofu
from tools.render import REPO

FACTS = "clusters/dev/cluster-facts.yaml"
SCHEMA = json.loads((REPO / facts.SCHEMA).read_text())
ALLOWED = SCHEMA["properties"]["data"]["properties"]


@dataclass
class Case:
    id: str
    old: str  # a line of clusters/dev/cluster-facts.yaml ("" appends `new` to data)
    new: str
    field: str  # as the message must name it
    shown: str  # the bad value, as the message must show it
    tofu: bool = True  # whether the env-facts module reads the fact and must refuse it too


CASES = [
    Case("kubernetes-version-unquoted", 'kubernetesVersion: "1.35"', "kubernetesVersion: 1.30",
         "data.kubernetesVersion", "1.30"),
    Case("kubernetes-version-unknown", 'kubernetesVersion: "1.35"', 'kubernetesVersion: "1.99"',
         "data.kubernetesVersion", '"1.99"'),
    Case("kubernetes-version-out-of-support", 'kubernetesVersion: "1.35"',
         'kubernetesVersion: "1.29"', "data.kubernetesVersion", '"1.29"'),
    Case("replicas-a-word", 'gpuTimeSlicingReplicas: "2"', 'gpuTimeSlicingReplicas: "two"',
         "data.gpuTimeSlicingReplicas", '"two"'),
    Case("replicas-zero", 'gpuTimeSlicingReplicas: "2"', 'gpuTimeSlicingReplicas: "0"',
         "data.gpuTimeSlicingReplicas", '"0"'),
    Case("replicas-a-fraction", 'gpuTimeSlicingReplicas: "2"', 'gpuTimeSlicingReplicas: "1.5"',
         "data.gpuTimeSlicingReplicas", '"1.5"'),
    Case("region-misspelt", "region: eu-west-1", "region: eu-wset-1", "data.region",
         '"eu-wset-1"'),
    Case("region-no-region-name", "region: eu-west-1", "region: europe-west", "data.region",
         '"europe-west"'),
    Case("cluster-name-underscores", "clusterName: gpu-inference-dev",
         "clusterName: gpu_inference_dev", "data.clusterName", '"gpu_inference_dev"'),
    Case("cluster-name-too-long", "clusterName: gpu-inference-dev",
         "clusterName: gpu-inference-name-of-33-chars-ab", "data.clusterName",
         '"gpu-inference-name-of-33-chars-ab"'),
    Case("repo-url-ssh-without-secret", "repoURL: https://github.com/",
         "repoURL: git@github.com:", "data.repoURL", '"git@github.com:example-org/'),
    Case("repo-url-plain-http", "repoURL: https://github.com/", "repoURL: http://github.com/",
         "data.repoURL", '"http://github.com/example-org/'),
    Case("fact-misspelt", "", "regoin: eu-west-1", "data.regoin", "did you mean 'region'"),
    Case("fact-missing", "region: eu-west-1", "", "data.region", "missing"),
    Case("env-of-another-folder", "env: dev", "env: prod", "data.env", '"prod"'),
    Case("auto-sync-unquoted", "", "autoSync: yes", "data.autoSync", "yes", tofu=False),
    Case("vpc-range-too-small", "", "vpcCidr: 10.10.0.0/24", "data.vpcCidr", '"10.10.0.0/24"',
         tofu=False),
]  # fmt: skip


def broken(tree: Path, case: Case) -> Path:
    path = tree / FACTS
    text = path.read_text()
    if case.old:
        line = next(x for x in text.splitlines(keepends=True) if case.old in x)
        text = text.replace(line, line.replace(case.old, case.new) if case.new else "", 1)
    else:
        text += f"  {case.new}\n"
    path.write_text(text)
    return path


def tools(tree: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tools", "--repo", str(tree), *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_facts_stop_validate_with_the_file_field_and_value_named(tree_copy, case):
    broken(tree_copy, case)
    result = tools(tree_copy, "validate", "dev")
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "Traceback" not in output
    lines = [x.strip() for x in output.splitlines() if case.field in x]
    assert lines, output
    assert re.match(rf"{FACTS}:\d+: {re.escape(case.field)}\b", lines[0]), lines[0]
    assert case.shown in lines[0], lines[0]
    assert "allowed: " in lines[0], lines[0]


def test_render_and_diff_stop_on_bad_facts_with_the_same_one_line_message(tree_copy):
    git = ["git", "-C", str(tree_copy), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "good facts"], check=True)
    broken(tree_copy, CASES[0])
    for args in (["render", "dev", "--out", str(tree_copy / "out")], ["diff", "HEAD"]):
        result = tools(tree_copy, *args)
        assert result.returncode == 2, result.stdout + result.stderr
        assert "Traceback" not in result.stderr
        assert f"{args[0]}: {FACTS}:" in result.stderr, result.stderr
        assert "data.kubernetesVersion: 1.30 is a number, not a string" in result.stderr


def test_a_yaml_syntax_error_in_the_facts_names_file_and_line(tree_copy):
    path = tree_copy / FACTS
    path.write_text(path.read_text().replace("  region: eu-west-1", "   region: eu-west-1"))
    result = tools(tree_copy, "validate", "dev")
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    assert re.search(rf"{FACTS}:\d+:\d+: YAML syntax error", result.stdout), result.stdout


def test_two_envs_with_one_cluster_name_are_refused(tree_copy):
    prod = tree_copy / "clusters/prod/cluster-facts.yaml"
    prod.write_text(prod.read_text().replace("gpu-inference-prod", "gpu-inference-dev"))
    result = tools(tree_copy, "validate")
    assert result.returncode == 1
    assert (
        "clusters/prod/cluster-facts.yaml: data.clusterName: 'gpu-inference-dev' is also the "
        "cluster name of clusters/dev"
    ) in result.stdout


def test_an_ssh_repository_url_with_its_secret_is_accepted(tree_copy):
    path = broken(tree_copy, CASES[10])
    path.write_text(path.read_text() + "  repoSecret: gitops-repository\n")
    assert facts.load(tree_copy, "dev")["repoURL"].startswith("git@github.com:")


def test_every_kubernetes_version_allowed_has_schemas_in_kubernetes_validate():
    config_map = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}
    for version in ALLOWED["kubernetesVersion"]["enum"]:
        kubernetes_validate.validate(config_map, version, strict=True)


def test_the_eks_module_accepts_exactly_the_kubernetes_versions_the_facts_allow():
    text = (tofu.TOFU / "modules/eks/variables.tf").read_text()
    listed = re.search(r"contains\(\[([^\]]*)\], var\.kubernetes_version\)", text)
    assert listed, "tofu/modules/eks/variables.tf validates kubernetes_version with contains()"
    assert json.loads(f"[{listed.group(1)}]") == ALLOWED["kubernetesVersion"]["enum"]


@pytest.fixture(scope="module")
def env_facts_module(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tofu/modules/env-facts and the schema, in a scratch repository layout, initialised."""
    root = tmp_path_factory.mktemp("env-facts")
    module = root / "tofu/modules/env-facts"
    shutil.copytree(tofu.TOFU / "modules/env-facts", module, ignore=shutil.ignore_patterns(".*"))
    (root / "clusters").mkdir()
    shutil.copy(REPO / facts.SCHEMA, root / facts.SCHEMA)
    init = tofu.run(module, "init", "-backend=false", "-input=false", "-no-color")
    assert init.returncode == 0, init.stdout + init.stderr
    return root


TOFU_CASES = [c for c in CASES if c.tofu]


@pytest.mark.parametrize("case", TOFU_CASES, ids=[c.id for c in TOFU_CASES])
def test_bad_facts_stop_the_tofu_plan_with_the_file_and_field_named(env_facts_module, case):
    env_dir = env_facts_module / "clusters/dev"
    shutil.rmtree(env_dir, ignore_errors=True)
    env_dir.mkdir()
    shutil.copy(REPO / FACTS, env_dir / "cluster-facts.yaml")
    broken(env_facts_module, case)
    plan = tofu.run(
        env_facts_module / "tofu/modules/env-facts",
        "plan",
        "-input=false",
        "-no-color",
        f"-var=env_dir={env_dir}",
    )
    assert plan.returncode == 1, plan.stdout
    message = " ".join(plan.stderr.split())  # tofu wraps long messages
    assert f"{FACTS}: {case.field.split('.')[0]}." in message, message
    assert case.field in message, message


def test_the_tofu_side_accepts_the_real_envs(env_facts_module):
    module = env_facts_module / "tofu/modules/env-facts"
    for env in facts.environments(REPO):
        env_dir = env_facts_module / "clusters" / env
        shutil.rmtree(env_dir, ignore_errors=True)
        shutil.copytree(REPO / "clusters" / env, env_dir)
        plan = tofu.run(module, "plan", "-input=false", "-no-color", f"-var=env_dir={env_dir}")
        assert plan.returncode == 0, plan.stdout + plan.stderr
