"""`python -m tools diff`: the rendered difference between two revisions."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.tools_cli import run_tools
from tools import diff
from tools.render import REPO


def git(tree: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(tree), *args], check=True, capture_output=True)


def run_diff(tree: Path, *revisions: str) -> subprocess.CompletedProcess[str]:
    return run_tools(tree, "diff", *revisions)


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


def test_exit_code_says_whether_a_rendered_env_changes(tree_copy):
    tree = committed_copy(tree_copy)
    unchanged = run_diff(tree, "HEAD", "--exit-code")
    assert unchanged.returncode == 0, unchanged.stderr
    assert "no rendered change" in unchanged.stdout
    values = tree / "clusters/prod/values/keda.yaml"
    values.write_text("resources:\n  operator:\n    limits:\n      memory: 1Gi\n")
    changed = run_diff(tree, "HEAD", "--exit-code")
    assert changed.returncode == 1, changed.stderr
    assert "=== prod / Application keda" in changed.stdout
    # Without the flag a change is not an error (the output is the same).
    plain = run_diff(tree, "HEAD")
    assert plain.returncode == 0 and plain.stdout == changed.stdout
    # A change that renders to nothing (a comment) is no change.
    git(tree, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qam", "x")
    facts = tree / "clusters/dev/cluster-facts.yaml"
    facts.write_text(facts.read_text() + "# a comment only\n")
    assert run_diff(tree, "HEAD", "--exit-code").returncode == 0


def test_exit_code_is_2_when_a_revision_cannot_be_rendered(tree_copy):
    result = run_diff(committed_copy(tree_copy), "no-such-branch", "--exit-code")
    assert result.returncode == 2


def test_markdown_is_one_findable_comment_with_a_section_per_application(tree_copy):
    tree = committed_copy(tree_copy)
    version = tree / "apps/swin-t/overlays/prod/version.yaml"
    version.write_text(version.read_text().replace('tag: "0.1.0"', 'tag: "0.2.0"'))
    result = run_diff(tree, "HEAD", "--markdown")
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert text.startswith(diff.MARKER + "\n")
    assert "| prod | swin-t | +1 / -1 |" in text
    assert "<details><summary>prod / swin-t</summary>" in text
    assert "```diff\n" in text and "+        image: " in text
    assert "dev /" not in text


def test_markdown_stays_under_githubs_comment_limit(tree_copy):
    big = diff.Change("prod", "swin-t", "+x\n" * 40_000)
    small = diff.Change("dev", "keda", "-a\n+b\n")
    text = diff.as_markdown([big, small], "origin/main", None, limit=2_000)
    assert len(text) < 2_500
    assert "prod / swin-t (too long for a comment)" in text
    assert "make diff BASE=origin/main" in text
    assert "<details><summary>dev / keda</summary>" in text  # later sections still shown
    fenced = diff.as_markdown([diff.Change("dev", "a", "+ ```\n")], "b", None)
    assert "````diff\n" in fenced  # a fence longer than any backtick run in the diff


def test_a_base_that_these_tools_cannot_render_is_rendered_by_its_own_tools(tree_copy):
    # An older revision without a fact that the current tools require.
    shutil.copytree(REPO / "tools", tree_copy / "tools")
    facts = tree_copy / "clusters/dev/cluster-facts.yaml"
    text = facts.read_text()
    facts.write_text(text.replace('  autoSync: "true"\n', ""))
    component = tree_copy / "clusters/components/env-facts/kustomization.yaml"
    rules = component.read_text()
    start = rules.index("  # Manual or automated sync")
    component.write_text(rules[:start] + rules[rules.index("  # Each chart's exact version") :])
    # That revision's tools did not require autoSync (the schema both read says it does).
    facts_py = tree_copy / "tools/facts.py"
    reader = "    return json.loads((repo / SCHEMA).read_text())\n"
    assert reader in facts_py.read_text()
    facts_py.write_text(
        facts_py.read_text().replace(
            reader,
            "    older = json.loads((repo / SCHEMA).read_text())\n"
            "    older['properties']['data']['required'].remove('autoSync')\n"
            "    return older\n",
        )
    )
    tree = committed_copy(tree_copy)
    facts.write_text(text)
    component.write_text(rules)
    (tree / "tools").rename(tree / "old-tools")  # the working tree renders with REPO's tools
    result = run_diff(tree, "HEAD", "--exit-code")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "rendered dev of HEAD with that revision's own tools" in result.stderr
    # The facts' autoSync now reaches the Applications: prod's turn manual, dev's stay as
    # they were.
    assert "=== prod / Application swin-t" in result.stdout
    assert "-      enabled: true\n+      enabled: false\n" in result.stdout
    assert "=== dev" not in result.stdout
