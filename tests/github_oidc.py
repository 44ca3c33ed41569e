"""Which GitHub OIDC subjects the workflows present when they assume the push role, and which
ones the account layer's inputs make the role trust.

GitHub's token says `repo:OWNER/NAME:environment:ENV` for a job that names an environment,
and `repo:OWNER/NAME:ref:REF` for a job without one (REF is the branch the run is for).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import hcl2
import yaml

from tools import tofu
from tools.render import REPO

WORKFLOWS = REPO / ".github" / "workflows"
ACCOUNTS = REPO / "clusters" / "accounts"
CREDENTIALS_ACTION = "aws-actions/configure-aws-credentials@"


@dataclass
class RoleJob:
    workflow: str
    job: str
    environment: str | None
    triggers: dict  # the workflow's `on:`

    def __str__(self) -> str:
        return f".github/workflows/{self.workflow}, job {self.job}"

    def subject(self, repository: str) -> str:
        if self.environment is not None:
            return f"repo:{repository}:environment:{self.environment}"
        # Without an environment the subject is the run's ref: only a workflow that runs for
        # pushes to main alone presents one fixed subject.
        assert set(self.triggers) == {"push"} and self.triggers["push"].get("branches") == [
            "main"
        ], f"{self}: assumes the role without an environment, but runs for other refs too"
        return f"repo:{repository}:ref:refs/heads/main"


def role_jobs() -> list[RoleJob]:
    """Every job with a step that assumes a role through configure-aws-credentials."""
    found = []
    for path in sorted(WORKFLOWS.glob("*.y*ml")):
        workflow = yaml.safe_load(path.read_text())
        triggers = workflow[True]  # PyYAML reads the key `on` as True
        for name, job in workflow["jobs"].items():
            steps = job.get("steps", [])
            if not any(
                s.get("uses", "").startswith(CREDENTIALS_ACTION)
                and "role-to-assume" in s.get("with", {})
                for s in steps
            ):
                continue
            environment = job.get("environment")
            if isinstance(environment, dict):
                environment = environment["name"]
            found.append(RoleJob(path.name, name, environment, triggers))
    return found


def _unquote(value):
    return value.strip('"') if isinstance(value, str) else value


def _hcl(path: Path) -> dict:
    return {k: v for k, v in hcl2.load(path.open()).items() if not k.startswith("__")}


def stage_default(name: str):
    doc = hcl2.load((tofu.STAGES / "account" / "variables.tf").open())
    for entry in doc["variable"]:
        for key, body in entry.items():
            if _unquote(key) == name:
                default = body.get("default")
                return [_unquote(v) for v in default] if isinstance(default, list) else default
    raise KeyError(name)


def account_inputs(account: str) -> dict:
    """The account layer's inputs as `make deploy-account ACCOUNT=<account>` gives them."""
    values = _hcl(ACCOUNTS / account / "account.tfvars")
    return {
        "github_repository": _unquote(values["github_repository"]),
        "github_environments": [
            _unquote(e)
            for e in values.get("github_environments", stage_default("github_environments"))
        ],
    }


def trusted_subjects(repository: str, environments: list[str]) -> list[str]:
    """The subjects tofu/modules/github-push-role trusts (its tftest proves the format)."""
    return [
        f"repo:{repository}:ref:refs/heads/main",
        *(f"repo:{repository}:environment:{e}" for e in environments),
    ]


def accounts() -> list[str]:
    return sorted(p.parent.name for p in ACCOUNTS.glob("*/account.tfvars"))
