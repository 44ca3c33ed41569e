"""`python -m tools teardown` against fake kubectl and aws on PATH that record every call:
the order that lets `tofu destroy` delete the VPC afterwards."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tools import teardown
from tools.render import REPO, load_facts

FAKE = r"""#!PYTHON
import json, os, sys
tool = os.path.basename(sys.argv[0])
args = sys.argv[1:]
if tool == "kubectl" and args[:1] == ["kustomize"]:  # rendering the tree is local: the real one
    os.execv(os.environ["REAL_KUBECTL"], ["kubectl", *args])
state_file = os.environ["FAKE_STATE"]
state = json.load(open(state_file))
with open(os.environ["FAKE_LOG"], "a") as log:
    log.write(json.dumps([tool, *args]) + "\n")
out = ""
if tool == "kubectl":
    if "get" in args and "applications" in args:
        out = json.dumps({"items": [
            {"metadata": {"name": n, "annotations": {"argocd.argoproj.io/sync-wave": str(w)}}}
            for n, w in state["applications"]]})
    elif "delete" in args and "application" in args:
        if args[args.index("application") + 1] == "swin-t":
            state["load_balancer_polls"] = state["polls_until_gone"]
    elif "get" in args and "pv" in args:
        state["pv_polls"] -= 1
        out = json.dumps({"items": [{}] * max(state["pv_polls"], 0)})
elif tool == "aws":
    if args[:2] == ["ec2", "describe-vpcs"]:
        out = json.dumps(["vpc-0123"])
    elif args[:2] == ["elbv2", "describe-load-balancers"]:
        left = state.get("load_balancer_polls", 0)
        state["load_balancer_polls"] = left - 1 if left > 0 else 0
        out = json.dumps(["arn:aws:elasticloadbalancing:lb/net/k8s-swint"] if left > 0 else [])
    elif args[:2] == ["logs", "describe-log-groups"]:
        out = json.dumps(state.get("log_groups", []))
    else:
        out = "[]"
json.dump(state, open(state_file, "w"))
print(out)
"""
APPLICATIONS = [
    ["root", 0],
    ["swin-t", 0],
    ["argocd", -1],
    ["aws-load-balancer-controller", -2],
    ["cluster-autoscaler", -2],
    ["gpu-operator", -2],
    ["keda", -3],
    ["kube-prometheus-stack", -3],
]


@pytest.fixture
def fake_cloud(tmp_path: Path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("kubectl", "aws"):
        script = bin_dir / tool
        script.write_text(FAKE.replace("PYTHON", sys.executable))
        script.chmod(0o755)
    state = tmp_path / "state.json"
    state.write_text(
        json.dumps({"applications": APPLICATIONS, "polls_until_gone": 2, "pv_polls": 2})
    )
    log = tmp_path / "calls.jsonl"
    monkeypatch.setenv("REAL_KUBECTL", shutil.which("kubectl"))
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_STATE", str(state))
    monkeypatch.setenv("FAKE_LOG", str(log))

    def calls() -> list[list[str]]:
        return [json.loads(line) for line in log.read_text().splitlines()]

    return state, calls


def position(calls: list[list[str]], *words: str) -> int:
    for i, call in enumerate(calls):
        if all(w in call for w in words):
            return i
    raise AssertionError(f"no call with {words}")


def test_teardown_empties_the_cluster_in_an_order_that_frees_the_vpc(fake_cloud):
    _state, calls = fake_cloud
    said: list[str] = []
    teardown.teardown("dev", REPO, timeout_s=30, interval_s=0.01, say=said.append)
    log = calls()
    cluster = load_facts(REPO, "dev")["clusterName"]
    assert log[0][:3] == ["aws", "eks", "update-kubeconfig"] and cluster in log[0]
    kubeconfig = log[0][log[0].index("--kubeconfig") + 1]
    assert all(c[1:3] == ["--kubeconfig", kubeconfig] for c in log if c[0] == "kubectl"), (
        "every kubectl call uses the teardown's own kubeconfig, never the current context"
    )
    stop_root = position(log, "patch", "root")
    deletes = [c[c.index("application") + 1] for c in log if "delete" in c and "application" in c]
    assert deletes == [
        "swin-t",
        "aws-load-balancer-controller",
        "cluster-autoscaler",
        "gpu-operator",
        "keda",
        "kube-prometheus-stack",
    ], "highest wave first; Argo CD itself and root are left for tofu"
    for name in deletes:
        cascade = position(log, "patch", name)
        assert (
            '{"metadata": {"finalizers": ["resources-finalizer.argocd.argoproj.io"]}}'
            in (log[cascade])
        )
        assert stop_root < cascade < position(log, "delete", name)
    lb_polls = [i for i, c in enumerate(log) if "describe-load-balancers" in c]
    assert len(lb_polls) >= 3, "it waited while the load balancer was still there"
    assert position(log, "delete", "swin-t") < lb_polls[0]
    assert lb_polls[2] < position(log, "delete", "aws-load-balancer-controller"), (
        "the controller may only go once the load balancers it made are gone"
    )
    assert position(log, "delete", "kube-prometheus-stack") < position(log, "delete", "pvc")
    assert position(log, "delete", "pvc") < position(log, "get", "pv")
    assert any("waiting: 1 load balancer resource(s) in vpc-0123" in line for line in said)
    assert any("waiting: 1 persistent volume(s)" in line for line in said)


def test_a_load_balancer_that_never_goes_stops_the_teardown_with_a_clear_message(fake_cloud):
    state, _calls = fake_cloud
    data = json.loads(state.read_text())
    data["polls_until_gone"] = 10**6
    state.write_text(json.dumps(data))
    with pytest.raises(
        teardown.TeardownError, match=r"1 load balancer resource\(s\) in vpc-0123 still there"
    ):
        teardown.teardown("dev", REPO, timeout_s=0.05, interval_s=0.01, say=lambda _: None)


def test_leftovers_deletes_the_log_group_eks_recreated(fake_cloud):
    state, calls = fake_cloud
    group = f"/aws/eks/{load_facts(REPO, 'dev')['clusterName']}/cluster"
    data = json.loads(state.read_text())
    data["log_groups"] = [group]
    state.write_text(json.dumps(data))
    teardown.leftovers("dev", REPO, say=lambda _: None)
    assert calls()[-1][:4] == ["aws", "logs", "delete-log-group", "--log-group-name"]
    assert group in calls()[-1]


def test_dry_run_prints_the_plan_and_calls_nothing(fake_cloud):
    result = subprocess.run(
        [sys.executable, "-m", "tools", "teardown", "dev", "--dry-run"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert not Path(os.environ["FAKE_LOG"]).exists(), "a dry run calls neither kubectl nor aws"
    out = result.stdout
    assert out.index("patch application root") < out.index("delete application swin-t")
    assert "argocd (wave -1): left for tofu" in out
    assert out.index("describe-load-balancers") < out.index(
        "delete application aws-load-balancer-controller"
    )


def test_without_confirmation_nothing_happens(fake_cloud):
    result = subprocess.run(
        [sys.executable, "-m", "tools", "teardown", "dev"],
        input="not-the-cluster\n",
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert result.returncode == 1 and "not confirmed" in result.stderr
    assert not Path(os.environ["FAKE_LOG"]).exists()
