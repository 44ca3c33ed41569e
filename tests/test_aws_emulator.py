"""The tofu stages against a local AWS API (moto): applied, read back, collided, destroyed.

One scenario runs for the whole module (tools/aws_emulator.py; `make test-aws-emulator` runs
it alone and prints its report, which `make test` prints at the end too). The first tests
prove the mechanism that leaves out what moto cannot do touches nothing else.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.github_oidc import account_inputs, role_jobs
from tools import aws_emulator, emulator_overrides, tofu
from tools.emulator_overrides import OVERRIDE_FILE, UNREAD, UNSUPPORTED, write_overrides


@pytest.fixture(scope="module")
def tofu_copy(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list]:
    copy = tmp_path_factory.mktemp("tofu") / "tofu"
    shutil.copytree(tofu.TOFU, copy, ignore=shutil.ignore_patterns(".terraform*"))
    return copy, write_overrides(copy)


def blocks_of(path: Path) -> list[tuple[str, str, str, dict]]:
    return list(emulator_overrides._blocks(path))


def test_the_overrides_touch_only_the_listed_types_and_only_as_documented(tofu_copy):
    copy, _ = tofu_copy
    written = sorted(copy.rglob(OVERRIDE_FILE))
    assert written, "no override was written"
    for path in written:
        for kind, rtype, name, body in blocks_of(path):
            key = rtype if kind == "resource" else f"data.{rtype}"
            settings = {k for k in body if not k.startswith("__")}
            if key in UNSUPPORTED:
                assert settings in ({"count"}, {"for_each"}), (path, name, settings)
                assert body.get("count", 0) == 0 and body.get("for_each", {}) == {}
            else:
                assert rtype in UNREAD and settings == {"lifecycle"}, f"{path}: {key}.{name}"
                lifecycle = {k for k in body["lifecycle"][0] if not k.startswith("__")}
                assert lifecycle == {"ignore_changes"}, (path, name, lifecycle)


def test_every_block_of_an_unsupported_type_is_left_out_and_ignore_changes_is_kept(tofu_copy):
    copy, overrides = tofu_copy
    overridden = {(o.directory.name, o.key, o.name) for o in overrides}
    for root in sorted(p.parent for p in copy.glob("*/*/main.tf")):
        for path in root.glob("*.tf"):
            if path.name.endswith("_override.tf"):
                continue
            for kind, rtype, name, body in blocks_of(path):
                key = rtype if kind == "resource" else f"data.{rtype}"
                if key in UNSUPPORTED or (kind == "resource" and rtype in UNREAD):
                    assert (root.name, key, name) in overridden, f"{path}: {key}.{name}"
                if kind == "resource" and rtype in UNREAD:
                    kept = (body.get("lifecycle") or [{}])[0].get("ignore_changes", [])
                    override = next(o for o in overrides if (o.key, o.name) == (key, name))
                    for expression in kept:
                        assert expression[2:-1] in override.change, (name, expression)


def test_the_repository_itself_holds_no_emulator_override():
    assert not list(tofu.TOFU.rglob("emulator_*.tf")), "emulator overrides belong to copies only"


@pytest.fixture
def report(aws_emulator_report: aws_emulator.Report) -> aws_emulator.Report:
    return aws_emulator_report


def expect(report: aws_emulator.Report, name: str, returncode: int = 0) -> aws_emulator.Step:
    step = report.step(name)
    assert step is not None, f"{name} did not run"
    assert step.returncode == returncode, f"{name}: rc={step.returncode}\n{step.output[-6000:]}"
    return step


def envs_of(report) -> list[str]:
    return [k.split("/")[1] for k in report.configured if k.startswith("cluster/")]


def test_the_account_layer_and_every_env_apply_into_one_account(report):
    expect(report, f"apply account/{aws_emulator.ACCOUNT}")
    for env in ("dev", "prod"):
        expect(report, f"apply cluster/{env}")
    held = report.held_when_applied
    assert held["ecr repositories"] == ["eu-west-1: model-server"], held
    assert {"eu-west-1: gpu-inference-dev", "eu-west-1: gpu-inference-prod"} <= set(
        held["eks clusters"]
    )


def test_what_was_applied_reads_back_without_changes(report):
    expect(report, f"replan account/{aws_emulator.ACCOUNT}")
    for env in ("dev", "prod"):
        expect(report, f"replan cluster/{env}")


def test_every_resource_type_the_emulator_implements_was_really_created(report):
    applied = {"account/shared", "cluster/dev", "cluster/prod"}
    assert report.configured.keys() >= applied
    configured = set().union(*(report.configured[i] for i in applied))
    created = set().union(*(report.created[i] for i in applied))
    assert created == configured - set(UNSUPPORTED), (
        f"configured but not created: {configured - set(UNSUPPORTED) - created}"
    )
    left_out = configured & set(UNSUPPORTED)
    assert {"aws_eks_addon", "aws_eks_access_entry", "aws_autoscaling_group_tag"} <= left_out
    assert {"aws_ecr_repository_policy", "aws_vpc_security_group_ingress_rule"} <= created


def test_the_push_role_the_emulator_holds_trusts_every_job_that_assumes_it(report):
    state = report.states[f"account/{aws_emulator.ACCOUNT}"]
    role = aws_emulator.resource_values(state, "module.github_push_role.aws_iam_role.this")
    condition = json.loads(role["assume_role_policy"])["Statement"][0]["Condition"]
    subjects = condition["StringEquals"]["token.actions.githubusercontent.com:sub"]
    subjects = [subjects] if isinstance(subjects, str) else subjects
    repository = account_inputs(aws_emulator.ACCOUNT)["github_repository"]
    for job in role_jobs():
        assert job.subject(repository) in subjects, f"{job}: the role trusts only {subjects}"


def test_two_envs_with_one_cluster_name_collide(report):
    step = expect(report, f"apply cluster/{aws_emulator.COLLIDING_ENV}", returncode=1)
    assert "already exists" in step.output.lower() or "EntityAlreadyExists" in step.output, (
        step.output[-4000:]
    )
    expect(report, f"destroy cluster/{aws_emulator.COLLIDING_ENV}")


def test_a_new_env_is_a_folder_under_clusters_and_nothing_under_tofu(report):
    step = expect(report, f"plan new env cluster/{aws_emulator.NEW_ENV}", returncode=2)
    assert 'name                          = "gpu-inference-staging"' in step.output
    assert report.tofu_unchanged, "planning a new env changed files under tofu/"


def test_destroy_in_reverse_order_leaves_nothing_behind(report):
    order = [s.name for s in report.steps if s.name.startswith("destroy ")]
    assert order[-1] == f"destroy account/{aws_emulator.ACCOUNT}", "the account layer goes last"
    assert {"destroy cluster/dev", "destroy cluster/prod"} <= set(order[:-1])
    for name in order:
        expect(report, name)
    assert report.left_after_destroy == {}, report.left_after_destroy
