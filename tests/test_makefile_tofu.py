"""The Makefile's tofu targets, run for real against stand-ins for tofu and the AWS CLI.

The stand-ins record every call, so the tests see which stage runs, in which order, with which
data dir, backend key and inputs, and that nothing runs before the checks pass.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tools.render import REPO

FAKE_TOFU = """#!/bin/bash
echo "$TF_DATA_DIR $*" >> "$CALLS"
case "$*" in
  version) echo "{name} v1.10.6" ;;
  *" output "*) [ "$CLUSTER_EXISTS" = 1 ] && echo gpu-inference-dev || exit 1 ;;
esac
"""
FAKE_AWS = """#!/bin/bash
echo "aws $*" >> "$CALLS"
if [ "$AWS_WORKS" = 1 ]; then echo arn:aws:iam::111122223333:role/platform-admin; exit 0; fi
echo "Unable to locate credentials. You can configure credentials by running aws configure." >&2
exit 255
"""


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """Makefile and clusters/ of the repository, with the env's backend.hcl in place."""
    root = tmp_path / "repo"
    root.mkdir()
    shutil.copy(REPO / "Makefile", root / "Makefile")
    shutil.copytree(REPO / "clusters", root / "clusters")
    for folder in (root / "clusters/dev", root / "clusters/accounts/shared"):
        shutil.copy(folder / "backend.hcl.example", folder / "backend.hcl")
    return root


def tools_dir(tmp_path: Path, *fakes: str) -> Path:
    """A PATH of the stand-ins plus the few system tools the recipes use."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for tool in ("ls", "cut", "xargs", "echo", "head", "cat"):
        (bin_dir / tool).symlink_to(shutil.which(tool))
    for fake in fakes:
        text = FAKE_AWS if fake == "aws" else FAKE_TOFU.format(name=fake)
        (bin_dir / fake).write_text(text)
        (bin_dir / fake).chmod(0o755)
    return bin_dir


def make(root: Path, bin_dir: Path, *args: str, **env: str) -> tuple[int, str, list[str]]:
    calls = root / "calls.log"
    calls.write_text("")
    result = subprocess.run(
        [shutil.which("make"), "--no-print-directory", *args],
        cwd=root,
        env={"PATH": str(bin_dir), "CALLS": str(calls), "HOME": str(root), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    return result.returncode, result.stdout + result.stderr, calls.read_text().splitlines()


def test_plan_without_env_names_the_envs_and_runs_nothing(checkout, tmp_path):
    rc, out, calls = make(checkout, tools_dir(tmp_path, "tofu", "aws"), "plan")
    assert rc == 2 and "set ENV explicitly, e.g. ENV=dev (one of: dev prod)" in out
    assert calls == []


def test_an_unknown_env_is_refused(checkout, tmp_path):
    rc, out, calls = make(checkout, tools_dir(tmp_path, "tofu", "aws"), "plan", "ENV=nope")
    assert rc == 2 and "no such env: clusters/nope/cluster-facts.yaml" in out
    assert calls == []


def test_an_env_without_backend_file_says_how_to_make_one(checkout, tmp_path):
    (checkout / "clusters/prod/backend.hcl").unlink(missing_ok=True)
    rc, out, calls = make(checkout, tools_dir(tmp_path, "tofu", "aws"), "deploy", "ENV=prod")
    assert rc == 2 and "missing clusters/prod/backend.hcl: copy backend.hcl.example" in out
    assert calls == []


def test_missing_aws_credentials_give_one_line_and_no_tofu_run(checkout, tmp_path):
    rc, out, calls = make(checkout, tools_dir(tmp_path, "tofu", "aws"), "plan", "ENV=dev")
    assert rc == 2
    message, *rest = out.strip().splitlines()
    assert message == (
        "no usable AWS credentials (aws sts get-caller-identity failed): set AWS_PROFILE, "
        "or run aws sso login / aws configure"
    )
    # make's own trailer may follow; nothing from tofu or the AWS SDK does
    assert all(re.fullmatch(r"make: \*\*\* \[Makefile:\d+: require-aws\] Error 2", r) for r in rest)
    assert calls == ["aws sts get-caller-identity --query Arn --output text"]


def tofu_calls(calls: list[str]) -> list[str]:
    return [c for c in calls if not c.startswith("aws ")]


def test_plan_before_the_first_deploy_plans_the_cluster_stage_and_says_why_not_gitops(
    checkout, tmp_path
):
    bin_dir = tools_dir(tmp_path, "tofu", "aws")
    rc, out, calls = make(checkout, bin_dir, "plan", "ENV=dev", AWS_WORKS="1")
    assert rc == 0, out
    assert "AWS identity: arn:aws:iam::111122223333:role/platform-admin" in out
    assert "using tofu: tofu v1.10.6" in out
    assert "gitops stage: not planned, the cluster does not exist yet" in out
    dev = checkout / "clusters/dev"
    assert tofu_calls(calls) == [
        " version",
        f".terraform/dev -chdir=tofu/stages/cluster init -input=false "
        f"-backend-config={dev}/backend.hcl -backend-config=key=envs/dev/cluster.tfstate",
        f".terraform/dev -chdir=tofu/stages/cluster plan -input=false -var=env=dev "
        f"-var-file={dev}/cluster.tfvars",
        ".terraform/dev -chdir=tofu/stages/cluster output -raw cluster_name",
    ]


def test_plan_after_the_first_deploy_plans_the_gitops_stage_too(checkout, tmp_path):
    bin_dir = tools_dir(tmp_path, "tofu", "aws")
    rc, out, calls = make(checkout, bin_dir, "plan", "ENV=dev", AWS_WORKS="1", CLUSTER_EXISTS="1")
    assert rc == 0, out
    assert tofu_calls(calls)[-2:] == [
        f".terraform/dev -chdir=tofu/stages/gitops init -input=false "
        f"-backend-config={checkout}/clusters/dev/backend.hcl "
        "-backend-config=key=envs/dev/gitops.tfstate",
        ".terraform/dev -chdir=tofu/stages/gitops plan -input=false -var=env=dev",
    ]


FAKE_TEARDOWN = """#!/bin/bash
echo "teardown $*" >> "$CALLS"
"""


def test_destroy_empties_the_cluster_then_removes_gitops_then_the_cluster(checkout, tmp_path):
    bin_dir = tools_dir(tmp_path, "tofu", "aws")
    (bin_dir / "teardown").write_text(FAKE_TEARDOWN)
    (bin_dir / "teardown").chmod(0o755)
    rc, out, calls = make(
        checkout, bin_dir, "destroy", "ENV=dev", "TEARDOWN=teardown", AWS_WORKS="1"
    )
    assert rc == 0, out
    steps = [
        c.split()[1] if c.startswith(".terraform") else c
        for c in calls
        if c.startswith("teardown") or " destroy " in c
    ]
    assert steps == [
        "teardown dev",  # Applications, load balancers and volumes first (tools/teardown.py)
        "-chdir=tofu/stages/gitops",
        "-chdir=tofu/stages/cluster",
        "teardown dev --leftovers",  # the log group EKS may re-create
    ]


def test_the_account_layer_has_targets_of_its_own(checkout, tmp_path):
    bin_dir = tools_dir(tmp_path, "tofu", "aws")
    rc, out, calls = make(checkout, bin_dir, "deploy-account", AWS_WORKS="1")
    assert rc == 2 and "set ACCOUNT explicitly, e.g. ACCOUNT=shared (one of: shared)" in out
    rc, out, calls = make(checkout, bin_dir, "deploy-account", "ACCOUNT=shared", AWS_WORKS="1")
    assert rc == 0, out
    shared = checkout / "clusters/accounts/shared"
    assert tofu_calls(calls)[1:] == [
        f".terraform/shared -chdir=tofu/stages/account init -input=false "
        f"-backend-config={shared}/backend.hcl -backend-config=key=accounts/shared.tfstate",
        f".terraform/shared -chdir=tofu/stages/account apply -input=false "
        f"-var-file={shared}/account.tfvars",
    ]


@pytest.mark.parametrize(
    ("installed", "expected"),
    [
        (("tofu", "terraform"), "using tofu: tofu v1.10.6"),
        (("terraform",), "using terraform: terraform v1.10.6"),
        ((), "neither tofu nor terraform is installed: OpenTofu 1.10+"),
    ],
)
def test_the_makefile_uses_tofu_else_terraform_and_says_which(
    checkout, tmp_path, installed, expected
):
    bin_dir = tools_dir(tmp_path, "aws", *installed)
    rc, out, _ = make(checkout, bin_dir, "plan", "ENV=dev", AWS_WORKS="1")
    assert expected in out
    assert rc == (0 if installed else 2)


def test_the_repository_commits_no_backend_file():
    ignored = subprocess.run(
        ["git", "check-ignore", "clusters/dev/backend.hcl", "clusters/accounts/shared/backend.hcl"],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ},
    )
    assert ignored.stdout.split() == [
        "clusters/dev/backend.hcl",
        "clusters/accounts/shared/backend.hcl",
    ]
