"""`python -m tools set-image` and `python -m tools promote`: what CI and the promote workflow
run, with their refusals."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.tools_cli import run_tools
from tools.envs import promotable_files
from tools.render import REPO, environments, render
from tools.set_image import overlay_repository

SHA = "3f9a1c0d2b4e6f8a0c1e3d5b7a9f2e4c6b8d0a1f"


def tag(tree: Path, env: str) -> str:
    doc = yaml.safe_load((tree / f"apps/swin-t/overlays/{env}/version.yaml").read_text())
    return doc["data"]["tag"]


def image(tree: Path, env: str) -> str:
    deployment = next(
        m for m in render(env, tree).app("swin-t").manifests if m.kind == "Deployment"
    )
    return deployment.obj["spec"]["template"]["spec"]["containers"][0]["image"]


def test_set_image_writes_only_the_tag_and_the_env_deploys_it(tree_copy):
    path = tree_copy / "apps/swin-t/overlays/dev/version.yaml"
    before = path.read_text()
    result = run_tools(tree_copy, "set-image", "dev", SHA)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"apps/swin-t/overlays/dev/version.yaml: 0.1.0 -> {SHA}\n"
    after = path.read_text()
    # Comments and layout stay; only the value of the tag line changed, quoted.
    assert after == before.replace('tag: "0.1.0"', f'tag: "{SHA}"')
    assert image(tree_copy, "dev").endswith(f"/model-server:{SHA}")
    assert tag(tree_copy, "prod") == "0.1.0"
    again = run_tools(tree_copy, "set-image", "dev", SHA)
    assert again.returncode == 0 and "already" in again.stdout


@pytest.mark.parametrize("good", ["1.2.3", "v1.2.3", "0.4.0-rc.1", "a" * 40, "0" * 40])
def test_set_image_accepts_a_full_sha_or_a_release_version(tree_copy, good):
    result = run_tools(tree_copy, "set-image", "prod", good)
    assert result.returncode == 0, result.stderr
    assert tag(tree_copy, "prod") == good  # a string, even when it is all digits


@pytest.mark.parametrize(
    ("bad", "said"),
    [
        ("latest", "neither a full git commit SHA"),
        ("3f9a1c0", "a short SHA"),
        (SHA.upper(), "upper-case hex"),
        (SHA + "0", "neither"),
        ("main", "neither"),
        ("1.2", "neither"),
        ("sha256:" + "a" * 64, "neither"),
        ("1.2.3 # x", "neither"),
        ("", "neither"),
    ],
)
def test_set_image_refuses_a_malformed_tag_and_writes_nothing(tree_copy, bad, said):
    before = (tree_copy / "apps/swin-t/overlays/dev/version.yaml").read_text()
    result = run_tools(tree_copy, "set-image", "dev", bad)
    assert result.returncode == 2
    assert result.stderr.startswith("set-image: tag ") and said in result.stderr
    assert (tree_copy / "apps/swin-t/overlays/dev/version.yaml").read_text() == before


def test_set_image_refuses_an_unknown_env(tree_copy):
    result = run_tools(tree_copy, "set-image", "staging", SHA)
    assert result.returncode == 2
    assert "unknown env 'staging'" in result.stderr and "known: dev, prod" in result.stderr


def test_set_image_refuses_a_registry_the_overlay_does_not_deploy_from(tree_copy):
    deployed_from = overlay_repository(tree_copy, "swin-t", "dev")
    ok = run_tools(tree_copy, "set-image", "dev", SHA, "--repository", deployed_from)
    assert ok.returncode == 0, ok.stderr
    other = "444455556666.dkr.ecr.us-east-1.amazonaws.com/model-server"
    refused = run_tools(tree_copy, "set-image", "dev", "1.0.0", "--repository", other)
    assert refused.returncode == 2
    assert f"deploys model-server from {deployed_from}" in refused.stderr
    assert tag(tree_copy, "dev") == SHA


def test_promote_copies_the_image_tag_and_the_chart_versions_and_prints_the_diff(tree_copy):
    assert run_tools(tree_copy, "set-image", "dev", SHA).returncode == 0
    pins = tree_copy / "clusters/dev/chart-versions.yaml"
    pins.write_text(pins.read_text().replace('keda: "2.20.2"', 'keda: "2.20.3"'))
    result = run_tools(tree_copy, "promote", "dev", "prod")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "copied apps/swin-t/overlays/dev/version.yaml -> apps/swin-t/overlays/prod/" in out
    assert "copied clusters/dev/chart-versions.yaml -> clusters/prod/chart-versions.yaml" in out
    assert "--- a/apps/swin-t/overlays/prod/version.yaml\n" in out
    assert '-  tag: "0.1.0"\n+  tag: "' + SHA + '"\n' in out
    assert '-  keda: "2.20.2"\n+  keda: "2.20.3"\n' in out
    for relative in promotable_files(tree_copy, "dev"):
        target = relative.replace("/dev/", "/prod/")
        assert (tree_copy / target).read_text() == (tree_copy / relative).read_text()
    assert image(tree_copy, "prod") == image(tree_copy, "dev")
    # Only promotable files moved: prod keeps its own facts and values.
    assert render("prod", tree_copy).facts["autoSync"] == "false"
    again = run_tools(tree_copy, "promote", "dev", "prod")
    assert again.returncode == 0
    assert again.stdout == "prod already has everything promotable from dev\n"


def test_promote_dry_run_prints_the_same_diff_and_writes_nothing(tree_copy):
    assert run_tools(tree_copy, "set-image", "dev", SHA).returncode == 0
    before = (tree_copy / "apps/swin-t/overlays/prod/version.yaml").read_text()
    result = run_tools(tree_copy, "promote", "dev", "prod", "--dry-run")
    assert result.returncode == 0
    assert "would copy apps/swin-t/overlays/dev/version.yaml" in result.stdout
    assert f'+  tag: "{SHA}"' in result.stdout
    assert (tree_copy / "apps/swin-t/overlays/prod/version.yaml").read_text() == before


@pytest.mark.parametrize(
    ("source", "target", "said"),
    [
        ("dev", "dev", "cannot promote dev to itself"),
        ("prod", "prod", "cannot promote prod to itself"),
        ("dev", "staging", "unknown env 'staging'"),
        ("qa", "prod", "unknown env 'qa'"),
    ],
)
def test_promote_refuses_the_same_env_and_unknown_envs_and_writes_nothing(
    tree_copy, source, target, said
):
    assert run_tools(tree_copy, "set-image", "dev", SHA).returncode == 0
    before = (tree_copy / "apps/swin-t/overlays/prod/version.yaml").read_text()
    result = run_tools(tree_copy, "promote", source, target)
    assert result.returncode == 2
    assert result.stderr.startswith("promote: ") and said in result.stderr
    assert result.stdout == ""
    assert (tree_copy / "apps/swin-t/overlays/prod/version.yaml").read_text() == before


def test_promote_refuses_an_env_without_the_overlay_to_receive_the_tag(tree_copy):
    shutil.copytree(tree_copy / "clusters/prod", tree_copy / "clusters/staging")
    facts = tree_copy / "clusters/staging/cluster-facts.yaml"
    facts.write_text(facts.read_text().replace("env: prod", "env: staging"))
    result = run_tools(tree_copy, "promote", "dev", "staging")
    assert result.returncode == 2
    assert "apps/swin-t/overlays/staging/version.yaml: staging has no such folder" in (
        result.stderr
    )


def test_promote_markdown_is_the_pull_request_body_with_both_diffs(tree_copy):
    git = ["git", "-C", str(tree_copy), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    assert run_tools(tree_copy, "set-image", "dev", SHA).returncode == 0
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "dev runs SHA"], check=True)
    result = run_tools(tree_copy, "promote", "dev", "prod", "--markdown")
    assert result.returncode == 0, result.stderr
    body = result.stdout
    assert body.startswith("Promotes everything promotable from `dev` to `prod`")
    assert "prod's Applications sync by hand" in body  # prod's facts: autoSync "false"
    assert f'+  tag: "{SHA}"' in body
    assert "| prod | swin-t | +1 / -1 |" in body and f"model-server:{SHA}" in body
    assert tag(tree_copy, "prod") == SHA


def test_promotable_files_say_nothing_about_their_env_outside_their_data():
    # Promotion copies them whole: a comment naming dev would land in prod.
    for relative in promotable_files(REPO, "dev"):
        headers = {
            (REPO / relative.replace("/dev/", f"/{env}/")).read_text().split("\ndata:\n")[0]
            for env in environments(REPO)
        }
        assert len(headers) == 1, f"{relative} differs between envs outside data:"
