"""Check this machine and this fork before a first deploy: `make doctor [ENV=dev]`.

Offline, always: the tools and their versions, the example values a fork must replace, each
env's facts and state backend. With AWS credentials (any the AWS SDK finds: AWS_PROFILE,
SSO, environment, instance role): the account, the G-instance vCPU quota in each env's
region against what the env's GPU node group may start, and the state buckets. Every
finding that needs work says how to fix it; the exit code is 1 when one does.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import hcl2

from tools import facts

MIN_TOFU = (1, 10)  # use_lockfile in backend.hcl
# EC2's "Running On-Demand G and VT instances" quota, in vCPUs per region.
G_QUOTA_CODE = "L-DB2E81BA"
EKS_VARIABLES = "tofu/modules/eks/variables.tf"

# The upstream example's values, which a fork must replace before it reaches AWS.
PLACEHOLDERS = {
    "example-org": (
        "the example's GitHub owner",
        "your fork's URL in repoURL (cluster-facts.yaml) and github_repository (account.tfvars)",
    ),
    "111122223333": (
        "the example's AWS account ID",
        "your account ID: aws sts get-caller-identity --query Account",
    ),
    "203.0.113.0/24": (
        "a documentation-only address range (TEST-NET-3)",
        "the ranges your users and admins come from",
    ),
    "example-tofu-state": (
        "the example's state bucket",
        "a bucket of your own (S3 names are global)",
    ),
}
# Where they matter: inputs of tofu and of the env overlays. (bootstrap/projects' repository
# line is overwritten from the facts; *.example files are templates to copy.)
PLACEHOLDER_FILES = ("clusters/**/*", "apps/*/overlays/**/*")


@dataclass
class Finding:
    status: str  # "ok", "warn" (worth knowing, not blocking), "FAIL" (fix before deploying)
    what: str
    fix: str = ""

    def __str__(self) -> str:
        text = f"  {self.status:<5} {self.what}"
        return text + (f"\n        fix: {self.fix}" if self.fix else "")


def ok(what: str) -> Finding:
    return Finding("ok", what)


def warn(what: str, fix: str = "") -> Finding:
    return Finding("warn", what, fix)


def fail(what: str, fix: str) -> Finding:
    return Finding("FAIL", what, fix)


# --- tools ---------------------------------------------------------------------------------


def _run(*command: str) -> str | None:
    """stdout (or stderr, where a tool prints its version there), None if it cannot run."""
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if result.returncode != 0:
        return None
    return result.stdout.strip() or result.stderr.strip()


def _version(text: str | None) -> tuple[int, ...] | None:
    match = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", text or "")
    return tuple(int(g) for g in match.groups() if g is not None) if match else None


def _shown(version: tuple[int, ...]) -> str:
    return ".".join(str(v) for v in version)


def check_tools(repo: Path, envs: list[str]) -> Iterator[Finding]:
    yield from _tofu()
    yield from _kubectl(repo, envs)
    aws = _run("aws", "--version")
    if aws is None:
        yield fail(
            "AWS CLI: not installed (make checks credentials with it; tofu's kubernetes and "
            "helm providers log in with `aws eks get-token`)",
            "install AWS CLI v2: https://docs.aws.amazon.com/cli/latest/userguide/"
            "getting-started-install.html",
        )
    else:
        yield ok(f"AWS CLI {aws.split()[0].removeprefix('aws-cli/')}")
    helm = _run("helm", "version", "--short")
    if helm is None:
        yield warn(
            "helm: not installed; only `python -m tools fetch-schemas` needs it (Argo CD "
            "installs the charts in the cluster)",
            "where you fetch schemas: https://helm.sh/docs/intro/install/ (Helm 3)",
        )
    else:
        yield ok(f"helm {helm}")
    docker = _run("docker", "--version")
    if docker is None:
        yield warn(
            "docker: not installed; CI builds and pushes the image, docker builds it here",
            "to build model-server/ yourself: https://docs.docker.com/engine/install/",
        )
    else:
        yield ok(docker.split(",")[0].replace("Docker version", "docker"))


def _tofu() -> Iterator[Finding]:
    found = [name for name in ("tofu", "terraform") if shutil.which(name)]
    if not found:
        yield fail(
            "neither tofu nor terraform is installed",
            "install OpenTofu 1.10+: https://opentofu.org/docs/intro/install/",
        )
        return
    name = found[0]
    output = _run(name, "version", "-json")
    try:
        version = _version(json.loads(output or "{}").get("terraform_version"))
    except json.JSONDecodeError:
        version = _version(output)
    if version is None:
        yield fail(f"{name}: `{name} version` does not answer", f"reinstall {name}")
    elif version[:2] < MIN_TOFU:
        yield fail(
            f"{name} {_shown(version)}: older than {_shown(MIN_TOFU)} (backend.hcl's "
            "use_lockfile needs it)",
            "install OpenTofu 1.10+: https://opentofu.org/docs/intro/install/",
        )
    else:
        other = "" if name == "tofu" else " (make uses it; OpenTofu is the target)"
        yield ok(f"{name} {_shown(version)}{other}")


def _kubectl(repo: Path, envs: list[str]) -> Iterator[Finding]:
    output = _run("kubectl", "version", "--client", "-o", "json")
    if output is None:
        yield fail(
            "kubectl: not installed (render and validate build overlays with its kustomize; "
            "you watch the sync with it)",
            "https://kubernetes.io/docs/tasks/tools/",
        )
        return
    client = json.loads(output).get("clientVersion", {})
    version = _version(client.get("gitVersion"))
    if version is None:
        yield warn("kubectl: its version is unreadable")
        return
    yield ok(f"kubectl {_shown(version)}")
    for env in envs:
        wanted = _version(_facts_or_none(repo, env, "kubernetesVersion"))
        if wanted and abs(wanted[1] - version[1]) > 1:
            yield warn(
                f"kubectl {_shown(version[:2])} and {env}'s Kubernetes {_shown(wanted)} are "
                "more than one minor version apart",
                f"a kubectl within one minor version of {_shown(wanted)}",
            )


# --- the fork -------------------------------------------------------------------------------


def check_fork(repo: Path, envs: list[str]) -> Iterator[Finding]:
    yield from _placeholders(repo)
    for env in envs:
        try:
            facts.load(repo, env)
        except facts.FactsError as exc:
            for problem in exc.problems:
                yield fail(problem, "correct the fact (make validate checks them all)")
        else:
            yield ok(f"clusters/{env}/cluster-facts.yaml: the facts pass their schema")
    for folder in [*(repo / "clusters" / env for env in envs), *_account_layers(repo)]:
        backend = folder / "backend.hcl"
        name = str(backend.relative_to(repo))
        if not backend.is_file():
            yield fail(
                f"{name} is missing (the state bucket of this stage)",
                f"cp {name}.example {name}, and name your state bucket in it",
            )


def _account_layers(repo: Path) -> list[Path]:
    return sorted(p.parent for p in (repo / "clusters/accounts").glob("*/account.tfvars"))


def _placeholders(repo: Path) -> Iterator[Finding]:
    seen = 0
    files = sorted({p for pattern in PLACEHOLDER_FILES for p in repo.glob(pattern)})
    for path in files:
        if not path.is_file() or path.suffix in (".example", ".json"):
            continue
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            for placeholder, (meaning, fix) in PLACEHOLDERS.items():
                if placeholder in line and not line.lstrip().startswith("#"):
                    seen += 1
                    where = f"{path.relative_to(repo)}:{number}"
                    yield fail(f"{where}: {placeholder} is {meaning}", fix)
    if not seen:
        yield ok("no example values left (" + ", ".join(PLACEHOLDERS) + ")")


def _facts_or_none(repo: Path, env: str, key: str) -> str | None:
    try:
        return facts.load(repo, env)[key]
    except (facts.FactsError, KeyError):
        return None


# --- AWS ------------------------------------------------------------------------------------


def check_aws(repo: Path, envs: list[str], client: Callable | None = None) -> Iterator[Finding]:
    """`client(service, region)` makes AWS SDK clients (tests pass their own)."""
    import botocore.exceptions
    import botocore.session

    session = botocore.session.get_session()
    try:
        credentials = session.get_credentials()
    except botocore.exceptions.BotoCoreError as exc:
        yield fail(f"AWS credentials: {exc}", "aws sso login, or aws configure")
        return
    if credentials is None:
        yield warn(
            "AWS: no credentials found, so the account, quota and state bucket checks are skipped",
            "set AWS_PROFILE, or run aws sso login / aws configure, then make doctor again",
        )
        return
    if client is None:

        def client(service: str, region: str):
            return session.create_client(service, region_name=region)

    regions = sorted({r for env in envs if (r := _facts_or_none(repo, env, "region"))})
    try:
        identity = client("sts", regions[0] if regions else "us-east-1").get_caller_identity()
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
        yield fail(f"AWS credentials do not work: {exc}", "aws sso login, or aws configure")
        return
    account = identity["Account"]
    yield ok(f"AWS account {account} as {identity['Arn']}")
    yield from _registry_account(repo, account)
    for region in regions:
        in_region = [e for e in envs if _facts_or_none(repo, e, "region") == region]
        yield from _g_quota(repo, in_region, region, client)
    for folder in [*(repo / "clusters" / env for env in envs), *_account_layers(repo)]:
        yield from _state_bucket(repo, folder / "backend.hcl", client)


def _registry_account(repo: Path, account: str) -> Iterator[Finding]:
    pattern = re.compile(r"(\d{12})\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com")
    for path in sorted(repo.glob("apps/*/overlays/*/kustomization.yaml")):
        for match in pattern.finditer(path.read_text()):
            if match[1] != account and match[1] not in PLACEHOLDERS:
                yield warn(
                    f"{path.relative_to(repo)}: the registry is in account {match[1]}, the "
                    f"credentials are of {account}",
                    "fine with one account per env (pull_account_ids in the account layer); "
                    "else set the account layer's ecr_repository_url",
                )


def _g_quota(repo: Path, envs: list[str], region: str, client: Callable) -> Iterator[Finding]:
    import botocore.exceptions

    needs: dict[str, int] = {}
    for env in envs:
        tfvars = _hcl(repo / "clusters" / env / "cluster.tfvars")
        instance = tfvars.get("gpu_instance_type") or _eks_default(repo, "gpu_instance_type")
        try:
            described = client("ec2", region).describe_instance_types(InstanceTypes=[instance])
            vcpus = described["InstanceTypes"][0]["VCpuInfo"]["DefaultVCpus"]
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError, IndexError):
            yield warn(f"{env}: cannot read the vCPUs of {instance} in {region}")
            continue
        needs[f"{env} ({tfvars.get('gpu_node_max', 1)} x {instance}, {vcpus} vCPUs)"] = (
            int(tfvars.get("gpu_node_max", 1)) * vcpus
        )
    quotas = client("service-quotas", region)
    try:
        quota = quotas.get_service_quota(ServiceCode="ec2", QuotaCode=G_QUOTA_CODE)
        value = int(quota["Quota"]["Value"])
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
        yield warn(
            f"G-instance vCPU quota in {region}: cannot read it ({exc})",
            f"aws service-quotas get-service-quota --region {region} --service-code ec2 "
            f"--quota-code {G_QUOTA_CODE} --query Quota.Value",
        )
        return
    need = sum(needs.values())
    what = f"G-instance vCPU quota in {region}: {value}; {', '.join(needs)} need {need}"
    if value >= need:
        yield ok(what)
    else:
        yield fail(
            what + " (GPU nodes could not start; the app's pods would stay Pending)",
            f"aws service-quotas request-service-quota-increase --region {region} "
            f"--service-code ec2 --quota-code {G_QUOTA_CODE} --desired-value {need} "
            "(AWS answers within hours to days; docs/operations.md)",
        )


def _state_bucket(repo: Path, backend: Path, client: Callable) -> Iterator[Finding]:
    import botocore.exceptions

    if not backend.is_file():
        return  # said by check_fork
    config = _hcl(backend)
    bucket, region = config.get("bucket", ""), config.get("region", "us-east-1")
    name = backend.relative_to(repo)
    s3 = client("s3", region)
    try:
        s3.head_bucket(Bucket=bucket)
    except botocore.exceptions.ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in ("404", "NoSuchBucket"):
            yield fail(
                f"{name}: state bucket {bucket} does not exist",
                f"aws s3api create-bucket --bucket {bucket} --region {region} "
                f"--create-bucket-configuration LocationConstraint={region} && aws s3api "
                f"put-bucket-versioning --bucket {bucket} --versioning-configuration "
                "Status=Enabled",
            )
        else:
            yield fail(
                f"{name}: state bucket {bucket} cannot be read with these credentials ({code})",
                "a bucket name of your own (S3 names are global), or credentials of the "
                "account that owns it",
            )
        return
    versioning = s3.get_bucket_versioning(Bucket=bucket).get("Status")
    if versioning == "Enabled":
        yield ok(f"{name}: state bucket {bucket}, versioned")
    else:
        yield warn(
            f"{name}: state bucket {bucket} keeps no old versions of the state",
            f"aws s3api put-bucket-versioning --bucket {bucket} --versioning-configuration "
            "Status=Enabled",
        )


def _hcl(path: Path) -> dict:
    with path.open() as handle:
        data = hcl2.load(handle)
    return {k: _unquote(v) for k, v in data.items() if not k.startswith("__")}


def _unquote(value: object) -> object:
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def _eks_default(repo: Path, variable: str) -> str:
    """A default of the eks module's variables (what the cluster stage passes when unset)."""
    with (repo / EKS_VARIABLES).open() as handle:
        blocks = hcl2.load(handle).get("variable", [])
    body = next(b[f'"{variable}"'] for b in blocks if f'"{variable}"' in b)
    return str(_unquote(body["default"]))


# --- command --------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--env", help="one env (default: every env under clusters/)")
    parser.add_argument("--offline", action="store_true", help="skip the AWS checks")


def main(args: argparse.Namespace) -> int:
    repo: Path = args.repo
    envs = [args.env] if args.env else facts.environments(repo)
    sections = [
        ("tools", check_tools(repo, envs)),
        ("this fork", check_fork(repo, envs)),
    ]
    if not args.offline:
        sections.append(("AWS", check_aws(repo, envs)))
    failed = 0
    for title, findings in sections:
        print(f"{title}:")
        for finding in findings:
            print(finding)
            failed += finding.status == "FAIL"
    print(f"{failed} to fix before a deploy" if failed else "ready to deploy")
    return 1 if failed else 0
