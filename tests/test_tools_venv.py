"""The GitOps and tofu tools run from a light venv, made in seconds without the model server
or PyTorch; every make target checks its arguments before it installs anything."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tools.checkout import copy_checkout
from tools.render import REPO

HEAVY = ("torch", "torchvision", "triton", "fastapi", "model-server")


def pins(path: Path) -> dict[str, str]:
    """name -> version of every `name==version` line, following -r includes."""
    found: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("-r "):
            found |= pins(path.parent / line[3:].strip())
        elif "==" in line:
            name, version = line.split("==", 1)
            found[normalised(name.split("[", 1)[0])] = version.strip()
    return found


def normalised(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def make(root: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [shutil.which("make") or "make", "--no-print-directory", *args],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **env},
    )


@pytest.fixture(scope="module")
def fresh_clone(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """This checkout's files as a fresh clone has them, after `make render ENV=dev` there."""
    root = copy_checkout(tmp_path_factory.mktemp("fresh") / "repo")
    result = make(root, "render", "ENV=dev")
    assert result.returncode == 0, result.stdout + result.stderr
    return root, result.stdout


def installed(venv: Path) -> dict[str, str]:
    listed = subprocess.run(
        [str(venv / "bin/python"), "-m", "pip", "list", "--format=freeze", "--exclude", "pip"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {normalised(n): v for n, v in (x.split("==") for x in listed.split())}


def test_make_render_on_a_fresh_clone_installs_the_tools_and_no_torch(fresh_clone):
    root, output = fresh_clone
    assert (root / "rendered/dev/root/application.yaml").is_file()
    assert not (root / ".venv").exists(), "render made the server's venv"
    assert "creating .venv-tools" in output and "Collecting kubernetes-validate" in output
    found = installed(root / ".venv-tools")
    found.pop("setuptools", None)  # what `python -m venv` brings on some Pythons
    assert not [name for name in HEAVY if name in found]
    assert not [name for name in found if name.startswith("nvidia-")]
    assert found == pins(REPO / "requirements-tools.txt"), "the light venv holds its pins only"


def test_the_light_venv_runs_validate_and_the_other_tools(fresh_clone):
    root, _ = fresh_clone
    validate = make(root, "validate", "ENV=dev")
    assert validate.returncode == 0, validate.stdout + validate.stderr
    assert "dev: " in validate.stdout and ": ok" in validate.stdout
    python = str(root / ".venv-tools/bin/python")
    for module in ("tools.diff", "tools.doctor", "tools.aws_emulator", "tools.schemas"):
        imported = subprocess.run([python, "-c", f"import {module}"], cwd=root, text=True,
                                  capture_output=True)  # fmt: skip
        assert imported.returncode == 0, f"{module}: {imported.stderr}"


def test_the_pins_the_tools_share_with_the_server_agree():
    tools = pins(REPO / "requirements-tools.txt")
    for other in ("model-server/requirements.txt", "requirements-dev.txt"):
        theirs = pins(REPO / other)
        differ = {n: (v, theirs[n]) for n, v in tools.items() if n in theirs and theirs[n] != v}
        assert not differ, f"requirements-tools.txt and {other}: {differ}"
    assert set(tools) <= set(pins(REPO / "requirements-dev.txt")), "the dev venv has the tools"


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    for name in ("Makefile", "requirements-tools.txt", "requirements-dev.txt"):
        shutil.copy(REPO / name, root / name)
    shutil.copytree(REPO / "clusters", root / "clusters")
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    return root


ARGUMENTS = [
    (["render"], "set ENV explicitly, e.g. ENV=dev (one of: dev prod)"),
    (["render", "ENV=nope"], "no such env: clusters/nope/cluster-facts.yaml (one of: dev prod)"),
    (["validate", "ENV=nope"], "no such env: clusters/nope/cluster-facts.yaml"),
    (["doctor", "ENV=nope"], "no such env: clusters/nope/cluster-facts.yaml"),
    (["diff", "BASE=no-such-branch"], "BASE=no-such-branch is no revision of this repository"),
    (["fetch-schemas"], "set OUT, the folder to write into"),
    (["serve", "PORT=http"], "PORT=http is not a port number"),
    (["loadtest", "URL=127.0.0.1:8080"], "URL=127.0.0.1:8080 is not an http(s) URL"),
    (["loadtest", "CONCURRENCY=0"], "CONCURRENCY=0 must be a positive whole number"),
    (["loadtest", "DURATION=1m"], "DURATION=1m must be a positive number of seconds"),
    (["bench", "RATE=-5"], "RATE=-5 must be a positive number of requests per second"),
]


@pytest.mark.parametrize("args,message", ARGUMENTS, ids=[" ".join(a) for a, _ in ARGUMENTS])
def test_a_bad_argument_is_refused_before_anything_is_installed(checkout, args, message):
    result = make(checkout, *args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr
    assert not list(checkout.glob(".venv*")), "a venv was made before the arguments were checked"


def test_fetch_schemas_without_helm_says_what_helm_is_for_before_installing(checkout, tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("bash", "git", "python3"):
        (bin_dir / tool).symlink_to(shutil.which(tool))
    result = make(checkout, "fetch-schemas", f"OUT={tmp_path / 'out'}", PATH=str(bin_dir))
    assert result.returncode == 2
    assert "helm is not installed; fetch-schemas reads each pinned chart's default values" in (
        result.stderr
    )
    assert not list(checkout.glob(".venv*"))


def test_make_help_shows_the_values_of_the_variables_it_names(checkout):
    result = make(checkout, "help", PORT="9123")
    assert result.returncode == 0
    assert "$(" not in result.stdout
    assert "http://localhost:9123/docs" in result.stdout


def test_the_fetch_schemas_command_without_helm_says_it_once_and_installs_nothing(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "tools", "fetch-schemas", "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "PATH": str(tmp_path)},  # no helm there
    )
    assert result.returncode == 2
    assert result.stderr.startswith("fetch-schemas: helm is not installed; fetch-schemas reads")
    assert result.stderr.count("\n") == 1, result.stderr
    assert not (tmp_path / "out").exists()
