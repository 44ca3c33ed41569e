"""The CI push role trusts every workflow job that assumes it: each job's OIDC subject (its
GitHub environment, or main) is one the account layer's inputs allow. tests/github_oidc.py
reads both sides; the module's own `tofu test` proves how it builds the subjects, and
test_aws_emulator.py reads them back from the role the emulator created."""

from __future__ import annotations

import hcl2
import pytest

from tests.github_oidc import (
    account_inputs,
    accounts,
    role_jobs,
    stage_default,
    trusted_subjects,
)
from tools import tofu


def test_some_workflow_job_assumes_the_push_role():
    assert role_jobs(), "no job uses configure-aws-credentials with role-to-assume"


@pytest.mark.parametrize("account", accounts())
def test_the_account_layer_trusts_every_job_that_assumes_the_role(account):
    inputs = account_inputs(account)
    trusted = trusted_subjects(inputs["github_repository"], inputs["github_environments"])
    for job in role_jobs():
        assert job.subject(inputs["github_repository"]) in trusted, (
            f"{job} runs in the GitHub environment {job.environment!r}, which "
            f"clusters/accounts/{account}/account.tfvars github_environments "
            f"({inputs['github_environments']}) does not allow: the role would refuse its token"
        )


def test_an_account_layer_that_leaves_the_environments_out_trusts_those_jobs_too():
    default = stage_default("github_environments")
    for job in role_jobs():
        assert job.environment is None or job.environment in default, (
            f"{job} runs in {job.environment!r}; tofu/stages/account/variables.tf "
            f"github_environments defaults to {default}"
        )


def test_the_account_stage_hands_the_environments_to_the_push_role():
    doc = hcl2.load((tofu.STAGES / "account" / "main.tf").open())
    module = next(body for e in doc["module"] for k, body in e.items() if "github_push_role" in k)
    assert module["source"].strip('"') == "../../modules/github-push-role"
    assert module["github_environments"] == "${var.github_environments}"
    assert "github_ref" not in module, "jobs without an environment are trusted on main only"
