"""`make doctor`: the tools, a fork's leftover example values, and, against the local AWS API
(moto, as in tests/test_aws_emulator.py), the account, the G-instance quota and the state
buckets. Each finding that needs work carries its fix; the exit code says whether any does."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import botocore.session
import hcl2
import pytest
from botocore.stub import Stubber

from tools import aws_emulator, doctor, facts
from tools.render import REPO

# Tools as a machine might have them: each prints a version the way the real one does.
FAKES = {
    "terraform": '[ "$1 $2" = "version -json" ] && echo \'{"terraform_version": "%s"}\'',
    "kubectl": 'echo \'{"clientVersion": {"gitVersion": "v1.35.2"}}\'',
    "aws": "echo 'aws-cli/2.27.1 Python/3.13.3 Linux/6.1 exe/x86_64'",
    "helm": "echo 'v3.18.4+gd80839c'",
    "docker": "echo 'Docker version 28.2.2, build e6534b4'",
}
NO_AWS = {
    "AWS_CONFIG_FILE": "/nonexistent",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
    "AWS_EC2_METADATA_DISABLED": "true",
}


def fake_tools(tmp_path: Path, terraform: str = "1.10.6", without: tuple[str, ...] = ()) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name, body in FAKES.items():
        if name in without:
            continue
        script = body % terraform if name == "terraform" else body
        (bin_dir / name).write_text(f"#!/bin/bash\n{script}\n")
        (bin_dir / name).chmod(0o755)
    return bin_dir


@pytest.fixture
def fork(tmp_path: Path) -> Path:
    """The parts of the repository doctor reads."""
    root = tmp_path / "repo"
    for name in ("clusters", "apps"):
        shutil.copytree(REPO / name, root / name)
    (root / doctor.EKS_VARIABLES).parent.mkdir(parents=True)
    shutil.copy(REPO / doctor.EKS_VARIABLES, root / doctor.EKS_VARIABLES)
    return root


def make_it_ours(fork: Path, bucket: str = "fork-tofu-state") -> None:
    """Every example value replaced, and each stage's backend.hcl written."""
    ours = {
        "example-org": "our-org",
        "111122223333": "123456789012",
        "203.0.113.0/24": "198.51.100.0/24",
        "example-tofu-state": bucket,
    }
    for path in [*fork.rglob("*.yaml"), *fork.rglob("*.tfvars"), *fork.rglob("*.example")]:
        text = path.read_text()
        for placeholder, value in ours.items():
            text = text.replace(placeholder, value)
        path.write_text(text)
    for example in fork.rglob("backend.hcl.example"):
        shutil.copy(example, example.with_suffix(""))


def run_doctor(fork: Path, bin_dir: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return subprocess.run(
        [sys.executable, "-m", "tools", "--repo", str(fork), "doctor", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        env={**clean, "PATH": str(bin_dir), **NO_AWS, **env},
    )


def findings(output: str) -> list[tuple[str, str, str]]:
    """(status, what, fix) of every finding printed."""
    found: list[tuple[str, str, str]] = []
    for line in output.splitlines():
        if line.startswith("        fix: "):
            status, what, _ = found[-1]
            found[-1] = (status, what, line.removeprefix("        fix: "))
        elif line.startswith("  "):
            status, _, what = line.strip().partition(" ")
            found.append((status, what.strip(), ""))
    return found


def test_every_example_value_a_fork_still_has_is_named_with_its_line_and_fix(fork, tmp_path):
    result = run_doctor(fork, fake_tools(tmp_path), "--offline")
    assert result.returncode == 1, result.stdout
    assert "Traceback" not in result.stderr
    failed = {what: fix for status, what, fix in findings(result.stdout) if status == "FAIL"}
    for placeholder in doctor.PLACEHOLDERS:
        for path in sorted(fork.rglob("*")):
            if path.suffix in (".example", ".json") or not path.is_file():
                continue
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if placeholder in line and not line.lstrip().startswith("#"):
                    where = f"{path.relative_to(fork)}:{number}: {placeholder} is "
                    assert any(w.startswith(where) and fix for w, fix in failed.items()), where
    assert failed["clusters/dev/backend.hcl is missing (the state bucket of this stage)"] == (
        "cp clusters/dev/backend.hcl.example clusters/dev/backend.hcl, and name your state "
        "bucket in it"
    )


def test_a_fork_without_example_values_and_with_the_tools_is_ready(fork, tmp_path):
    make_it_ours(fork)
    result = run_doctor(fork, fake_tools(tmp_path), "--offline")
    assert result.returncode == 0, result.stdout
    statuses = {what: status for status, what, _ in findings(result.stdout)}
    assert statuses["terraform 1.10.6 (make uses it; OpenTofu is the target)"] == "ok"
    assert statuses["kubectl 1.35.2"] == "ok"
    assert statuses["AWS CLI 2.27.1"] == "ok"
    assert result.stdout.rstrip().endswith("ready to deploy")


def test_an_old_terraform_and_a_missing_aws_cli_fail_and_a_missing_helm_only_warns(fork, tmp_path):
    make_it_ours(fork)
    bin_dir = fake_tools(tmp_path, terraform="1.9.8", without=("aws", "helm"))
    result = run_doctor(fork, bin_dir, "--offline")
    assert result.returncode == 1
    found = {what.split(":")[0]: (status, fix) for status, what, fix in findings(result.stdout)}
    assert found["terraform 1.9.8"][0] == "FAIL" and "OpenTofu 1.10+" in found["terraform 1.9.8"][1]
    assert found["AWS CLI"][0] == "FAIL" and "install AWS CLI v2" in found["AWS CLI"][1]
    assert found["helm"][0] == "warn" and "helm.sh" in found["helm"][1]


def test_without_credentials_the_aws_checks_are_skipped_with_a_notice(fork, tmp_path):
    make_it_ours(fork)
    result = run_doctor(fork, fake_tools(tmp_path))
    assert result.returncode == 0, result.stdout
    aws = result.stdout.split("AWS:\n", 1)[1]
    assert findings(aws)[0][0] == "warn" and "no credentials found" in aws


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory):
    """moto's server (from .venv-moto, which `make test` installs) on a free local port."""
    with aws_emulator.moto_server(tmp_path_factory.mktemp("moto") / "moto.log") as url:
        yield url


def emulated(url: str) -> dict[str, str]:
    return {"AWS_ENDPOINT_URL": url, "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing"}  # fmt: skip


def client_of(url: str):
    session = botocore.session.get_session()

    def client(service: str, region: str):
        return session.create_client(
            service, region_name=region, endpoint_url=url,
            aws_access_key_id="testing", aws_secret_access_key="testing",
        )  # fmt: skip

    return client


def test_against_the_aws_emulator_the_account_and_each_state_bucket_are_checked(
    fork, tmp_path, emulator
):
    make_it_ours(fork)
    prod_backend = fork / "clusters/prod/backend.hcl"
    prod_backend.write_text(prod_backend.read_text().replace("fork-tofu-state", "no-such-bucket"))
    region = hcl2.load((fork / "clusters/dev/backend.hcl").open())["region"].strip('"')
    s3 = client_of(emulator)("s3", region)
    s3.create_bucket(
        Bucket="fork-tofu-state", CreateBucketConfiguration={"LocationConstraint": region}
    )
    s3.put_bucket_versioning(
        Bucket="fork-tofu-state", VersioningConfiguration={"Status": "Enabled"}
    )
    result = run_doctor(fork, fake_tools(tmp_path), **emulated(emulator))
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 1, result.stdout
    found = {what: (status, fix) for status, what, fix in findings(result.stdout)}
    account = next(w for w in found if w.startswith("AWS account "))
    assert found[account][0] == "ok" and "123456789012" in account
    assert found["clusters/dev/backend.hcl: state bucket fork-tofu-state, versioned"][0] == "ok"
    status, fix = found["clusters/prod/backend.hcl: state bucket no-such-bucket does not exist"]
    assert status == "FAIL"
    assert fix.startswith(f"aws s3api create-bucket --bucket no-such-bucket --region {region}")
    # moto has no EC2 quotas: the check says it cannot read one, with the command that does
    quota = next(w for w in found if w.startswith("G-instance vCPU quota"))
    assert found[quota][0] == "warn" and "get-service-quota" in found[quota][1]


@pytest.mark.parametrize("quota", [0, 1000])
def test_the_g_instance_quota_is_compared_with_what_the_gpu_node_groups_may_start(
    fork, emulator, quota
):
    envs = ["dev", "prod"]
    region = facts.load(fork, "dev")["region"]
    client = client_of(emulator)
    quotas = client("service-quotas", region)
    stub = Stubber(quotas)
    stub.add_response(
        "get_service_quota",
        {"Quota": {"QuotaCode": doctor.G_QUOTA_CODE, "Value": float(quota)}},
        {"ServiceCode": "ec2", "QuotaCode": doctor.G_QUOTA_CODE},
    )
    ec2 = client("ec2", region)
    need = 0
    for env in envs:
        tfvars = hcl2.load((fork / f"clusters/{env}/cluster.tfvars").open())
        instance = doctor._eks_default(fork, "gpu_instance_type")
        vcpus = ec2.describe_instance_types(InstanceTypes=[instance])["InstanceTypes"][0]
        need += tfvars["gpu_node_max"] * vcpus["VCpuInfo"]["DefaultVCpus"]
    prod_max = tfvars["gpu_node_max"]
    with stub:
        found = list(
            doctor._g_quota(
                fork, envs, region, lambda s, r: quotas if s == "service-quotas" else client(s, r)
            )
        )
    assert len(found) == 1, found
    assert f"G-instance vCPU quota in {region}: {quota};" in found[0].what
    assert f"prod ({prod_max} x " in found[0].what and f" need {need}" in found[0].what
    if quota >= need:
        assert found[0].status == "ok"
    else:
        assert found[0].status == "FAIL"
        assert f"request-service-quota-increase --region {region}" in found[0].fix
        assert f"--quota-code {doctor.G_QUOTA_CODE} --desired-value {need}" in found[0].fix
