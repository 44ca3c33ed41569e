"""Empty an env's cluster of everything that holds AWS resources, before `tofu destroy`.

What Kubernetes made in AWS (load balancers, their target groups, security groups and ENIs;
EBS volumes) is not in tofu's state, and keeps the VPC from being deleted. In order:

1. a kubeconfig of its own for this env's cluster (never the current context);
2. stop root's automated sync, so it does not re-create the Applications deleted next;
3. delete the child Applications, highest sync wave first, each with cascade (the resources
   finalizer is added first): the app and its load balancer go while the AWS Load Balancer
   Controller still runs, and the controller only once the VPC holds no load balancer,
   target group, controller-made security group or load balancer ENI (a bounded wait with
   progress); Argo CD itself is left for tofu;
4. check that nothing of the load balancers is left;
5. delete the remaining volume claims and wait until their EBS volumes are gone.

`--leftovers`, run after `tofu destroy`, deletes the control-plane log group that EKS may
re-create while it shuts down (without the encryption and retention tofu gave it).
`--dry-run` prints the plan without touching anything.
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tools.render import REPO, RenderError, load_facts, render

FINALIZER = "resources-finalizer.argocd.argoproj.io"
ARGOCD_NAMESPACE = "argocd"
# Argo CD cannot delete itself and go on deleting the rest; tofu uninstalls it afterwards.
SELF_MANAGED = {"argocd"}
LOAD_BALANCER_CONTROLLER = "aws-load-balancer-controller"


class TeardownError(Exception):
    """Something is missing or did not finish in time; the message says what to do."""


@dataclass
class Runner:
    """Runs commands, or only prints them (dry run). Every command is echoed with a `$`."""

    dry_run: bool
    say: Callable[[str], None] = print
    kubeconfig: str = "KUBECONFIG"
    calls: list[list[str]] = field(default_factory=list)

    def run(self, *args: str, query: bool = False) -> str:
        self.say(f"$ {shlex.join(args)}")
        self.calls.append(list(args))
        if self.dry_run:
            return ""
        result = subprocess.run(args, capture_output=True, text=True, timeout=300)
        if result.returncode != 0:
            raise TeardownError(f"`{shlex.join(args)}` failed: {result.stderr.strip()}")
        return result.stdout

    def kubectl(self, *args: str) -> str:
        return self.run("kubectl", "--kubeconfig", self.kubeconfig, *args)

    def aws_json(self, *args: str, region: str):
        out = self.run("aws", *args, "--region", region, "--output", "json")
        return json.loads(out) if out.strip() else []


def teardown(
    env: str,
    repo: Path = REPO,
    dry_run: bool = False,
    timeout_s: float = 900,
    interval_s: float = 10,
    say: Callable[[str], None] = print,
) -> None:
    facts = load_facts(repo, env)
    cluster, region = facts["clusterName"], facts["region"]
    for tool in ("kubectl", "aws"):
        if not dry_run and shutil.which(tool) is None:
            raise TeardownError(f"{tool} is needed for the teardown (docs/operations.md)")
    runner = Runner(dry_run, say)
    with tempfile.TemporaryDirectory(prefix="teardown-") as tmp:
        runner.kubeconfig = str(Path(tmp) / "kubeconfig")
        say(f"[1/5] a kubeconfig for {cluster} in {region}")
        runner.run(
            "aws",
            "eks",
            "update-kubeconfig",
            "--name",
            cluster,
            "--region",
            region,
            "--kubeconfig",
            runner.kubeconfig,
        )
        say("[2/5] stop root's automated sync (it would re-create what is deleted next)")
        runner.kubectl(
            "-n",
            ARGOCD_NAMESPACE,
            "patch",
            "application",
            "root",
            "--type",
            "merge",
            "-p",
            json.dumps({"spec": {"syncPolicy": {"automated": None}}}),
        )
        say("[3/5] delete the Applications, highest sync wave first, with cascade")
        for name, wave in _children(runner, env, repo):
            if name in SELF_MANAGED:
                say(f"  {name} (wave {wave}): left for tofu, which uninstalls Argo CD")
                continue
            say(f"  {name} (wave {wave})")
            if name == LOAD_BALANCER_CONTROLLER:
                # It deletes the load balancers it made: they must be gone before it is.
                _wait_for_load_balancers(runner, cluster, region, timeout_s, interval_s, say)
            runner.kubectl(
                "-n",
                ARGOCD_NAMESPACE,
                "patch",
                "application",
                name,
                "--type",
                "merge",
                "-p",
                json.dumps({"metadata": {"finalizers": [FINALIZER]}}),
            )
            runner.kubectl(
                "-n",
                ARGOCD_NAMESPACE,
                "delete",
                "application",
                name,
                "--wait=true",
                f"--timeout={int(timeout_s)}s",
            )
        say("[4/5] no load balancer, target group, security group or ENI left in the VPC")
        _wait_for_load_balancers(runner, cluster, region, timeout_s, interval_s, say)
        say("[5/5] delete the remaining volume claims, wait for their EBS volumes")
        runner.kubectl("delete", "pvc", "--all", "--all-namespaces", "--wait=true")
        _wait(
            lambda: _count_items(runner.kubectl("get", "pv", "-o", "json")),
            "persistent volume(s)",
            timeout_s,
            interval_s,
            say,
            dry_run,
        )
    say(f"{cluster}: nothing Kubernetes made in AWS is left; `tofu destroy` can run")


def leftovers(env: str, repo: Path = REPO, dry_run: bool = False, say=print) -> None:
    """After `tofu destroy`: the log group EKS may have re-created while shutting down."""
    facts = load_facts(repo, env)
    group = f"/aws/eks/{facts['clusterName']}/cluster"
    runner = Runner(dry_run, say)
    found = runner.aws_json(
        "logs",
        "describe-log-groups",
        "--log-group-name-prefix",
        group,
        "--query",
        "logGroups[].logGroupName",
        region=facts["region"],
    )
    if group in (found or []):
        runner.run(
            "aws",
            "logs",
            "delete-log-group",
            "--log-group-name",
            group,
            "--region",
            facts["region"],
        )
        say(f"deleted {group}, which EKS re-created after tofu had deleted it")
    elif not dry_run:
        say(f"{group}: not re-created, nothing to do")


def _children(runner: Runner, env: str, repo: Path) -> list[tuple[str, int]]:
    """The child Applications on the cluster (or, in a dry run, in the rendered tree), by
    descending sync wave."""
    if runner.dry_run:
        apps = [
            (a.name, int(a.application.obj["metadata"].get("annotations", {}).get(_WAVE, "0")))
            for a in render(env, repo).apps[1:]
        ]
        runner.kubectl("-n", ARGOCD_NAMESPACE, "get", "applications", "-o", "json")
    else:
        listed = json.loads(
            runner.kubectl("-n", ARGOCD_NAMESPACE, "get", "applications", "-o", "json")
        )
        apps = [
            (
                item["metadata"]["name"],
                int(item["metadata"].get("annotations", {}).get(_WAVE, "0")),
            )
            for item in listed.get("items", [])
            if item["metadata"]["name"] != "root"
        ]
    return sorted(apps, key=lambda app: (-app[1], app[0]))


_WAVE = "argocd.argoproj.io/sync-wave"


def _wait_for_load_balancers(runner, cluster, region, timeout_s, interval_s, say) -> None:
    vpcs = runner.aws_json(
        "ec2",
        "describe-vpcs",
        "--filters",
        f"Name=tag:Name,Values={cluster}",
        "--query",
        "Vpcs[].VpcId",
        region=region,
    )
    if not vpcs and not runner.dry_run:
        say(f"  no VPC named {cluster}: nothing to wait for")
        return
    vpc = vpcs[0] if vpcs else "VPC_ID"

    def remaining() -> int:
        query = f"[?VpcId=='{vpc}']"
        counts = [
            runner.aws_json(
                "elbv2",
                "describe-load-balancers",
                "--query",
                f"LoadBalancers{query}.LoadBalancerArn",
                region=region,
            ),
            runner.aws_json(
                "elbv2",
                "describe-target-groups",
                "--query",
                f"TargetGroups{query}.TargetGroupArn",
                region=region,
            ),
            runner.aws_json(
                "ec2",
                "describe-security-groups",
                "--filters",
                f"Name=vpc-id,Values={vpc}",
                "Name=tag-key,Values=elbv2.k8s.aws/cluster",
                "--query",
                "SecurityGroups[].GroupId",
                region=region,
            ),
            runner.aws_json(
                "ec2",
                "describe-network-interfaces",
                "--filters",
                f"Name=vpc-id,Values={vpc}",
                "Name=description,Values=ELB *",
                "--query",
                "NetworkInterfaces[].NetworkInterfaceId",
                region=region,
            ),
        ]
        return sum(len(c or []) for c in counts)

    _wait(
        remaining,
        f"load balancer resource(s) in {vpc}",
        timeout_s,
        interval_s,
        say,
        runner.dry_run,
    )


def _count_items(out: str) -> int:
    return len(json.loads(out).get("items", [])) if out.strip() else 0


def _wait(count: Callable[[], int], what: str, timeout_s, interval_s, say, dry_run) -> None:
    started = time.monotonic()
    while True:
        left = count()
        if left == 0 or dry_run:
            return
        waited = time.monotonic() - started
        if waited >= timeout_s:
            raise TeardownError(
                f"{left} {what} still there after {int(waited)} s: see docs/operations.md "
                "(Teardown) for how to find and delete them, then run the teardown again"
            )
        say(f"  waiting: {left} {what} ({int(waited)} s of {int(timeout_s)} s)")
        time.sleep(interval_s)


def main(args) -> int:
    try:
        if args.leftovers:
            leftovers(args.env, args.repo, args.dry_run)
            return 0
        if not (args.dry_run or args.yes) and not _confirmed(args.env, args.repo):
            print("teardown: not confirmed, nothing done", file=sys.stderr)
            return 1
        teardown(args.env, args.repo, args.dry_run, args.timeout)
    except TeardownError as exc:
        print(f"teardown: {exc}", file=sys.stderr)
        return 1
    except RenderError as exc:
        print(f"teardown: {exc}", file=sys.stderr)
        return 2
    return 0


def _confirmed(env: str, repo: Path) -> bool:
    cluster = load_facts(repo, env)["clusterName"]
    answer = input(f"This deletes every Application on {cluster}. Type its name to go on: ")
    return answer.strip() == cluster


def add_arguments(parser) -> None:
    parser.add_argument("env")
    parser.add_argument("--dry-run", action="store_true", help="print the plan only")
    parser.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    parser.add_argument(
        "--timeout", type=float, default=900, help="seconds each wait may take (default 900)"
    )
    parser.add_argument(
        "--leftovers",
        action="store_true",
        help="after tofu destroy: delete the log group EKS may have re-created",
    )
