"""The AWS Load Balancer Controller's role grants exactly what the controller's own policy for
each version an env pins grants (REFERENCE_DIR/aws-load-balancer-controller-<version>/
iam_policy.json): a bump of the chart without a bump of the policy fails here."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from tools import tofu
from tools.render import REPO, environments, load_chart_versions
from tools.validate import reference_dir

MODULE = tofu.TOFU / "modules" / "aws-load-balancer-controller-pod-identity"
COMPARE = """
mock_provider "aws" {
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
}

variables {
  cluster_name = "gpu-inference-test"
}

run "the_policy_is_the_upstream_one" {
  command = plan

  assert {
    condition = [
      for s in jsondecode(output.policy).Statement : { for k, v in s : k => v if k != "Sid" }
    ] == jsondecode(file("UPSTREAM")).Statement
    error_message = "the policy differs from UPSTREAM"
  }
}
"""


def pinned_controller_versions() -> list[str]:
    """The controller's chart version in every env (clusters/<env>/chart-versions.yaml): the
    one module serves them all, so each pinned version's policy must be the module's."""
    app = yaml.safe_load(
        (REPO / "platform/aws-load-balancer-controller/application.yaml").read_text()
    )
    chart = next(s["chart"] for s in app["spec"]["sources"] if s.get("chart"))
    return sorted({load_chart_versions(REPO, env)[chart] for env in environments()})


@pytest.mark.parametrize("version", pinned_controller_versions())
def test_the_controller_policy_grants_what_the_upstream_policy_of_the_pinned_version_grants(
    version: str, tmp_path: Path
):
    upstream = (reference_dir() / f"aws-load-balancer-controller-{version}") / "iam_policy.json"
    assert upstream.is_file(), (
        f"{upstream} is missing: `python -m tools fetch-schemas --out DIR` downloads it "
        "(then REFERENCE_DIR=DIR/reference)"
    )
    copy = tmp_path / "modules"
    for name in (MODULE.name, "pod-identity-role"):
        shutil.copytree(
            MODULE.parent / name, copy / name, ignore=shutil.ignore_patterns(".terraform*")
        )
    module = copy / MODULE.name
    (module / "tests" / "upstream.tftest.hcl").write_text(
        COMPARE.replace("UPSTREAM", str(upstream))
    )
    init = tofu.run(module, "init", "-backend=false", "-input=false", "-no-color")
    assert init.returncode == 0, init.stdout + init.stderr
    result = tofu.run(module, "test", "-no-color", "-filter=tests/upstream.tftest.hcl")
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(json.loads(upstream.read_text())["Statement"]) > 10
