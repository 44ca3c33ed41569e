"""`python -m tools diff`: the rendered difference between two revisions."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tools.render import REPO


def git(tree: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(tree), *args], check=True, capture_output=True)


def run_diff(tree: Path, *revisions: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tools", "--repo", str(tree), "diff", *revisions],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )


def committed_copy(tree: Path) -> Path:
    git(tree, "init", "-q", "-b", "main")
    git(tree, "-c", "user.name=t", "-c", "user.email=t@example.com", "add", "-A")
    git(tree, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "base")
    return tree


def test_a_promotion_shows_as_the_image_change_of_one_env_and_one_application(tree_copy):
    tree = committed_copy(tree_copy)
    version = tree / "apps/swin-t/overlays/prod/version.yaml"
    version.write_text(version.read_text().replace('tag: "0.1.0"', 'tag: "0.2.0"'))
    result = run_diff(tree, "HEAD")
    assert result.returncode == 0, result.stderr
    assert "=== prod / Application swin-t" in result.stdout
    assert "=== dev" not in result.stdout
    assert "-        image: 111122223333.dkr.ecr.eu-west-1.amazonaws.com/model-server:0.1.0" in (
        result.stdout
    )
    assert "+        image: 111122223333.dkr.ecr.eu-west-1.amazonaws.com/model-server:0.2.0" in (
        result.stdout
    )


def test_two_revisions_can_be_compared_and_no_change_says_so(tree_copy):
    tree = committed_copy(tree_copy)
    assert "no rendered change" in run_diff(tree, "HEAD", "HEAD").stdout
    values = tree / "clusters/dev/values/kube-prometheus-stack.yaml"
    values.write_text(values.read_text().replace("retention: 3d", "retention: 5d"))
    git(tree, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qam", "x")
    result = run_diff(tree, "HEAD~1", "HEAD")
    assert "=== dev / Application kube-prometheus-stack" in result.stdout
    assert "+      retention: 5d" in result.stdout


def test_an_unknown_revision_is_a_clear_error(tree_copy):
    result = run_diff(committed_copy(tree_copy), "no-such-branch")
    assert result.returncode == 2
    assert "no-such-branch" in result.stderr
