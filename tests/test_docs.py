"""The commands in README.md and docs/ keep working.

- A fenced block marked ```sh test runs offline, in a scratch copy of the repository that is a
  git repository with an `origin/main` (so `make diff BASE=origin/main` works), with this
  checkout's .venv; it must exit 0. A ```text output block right after it is its exact output.
- Every other ```sh block (it needs a cluster, AWS, GitHub, a server or minutes of CPU) is
  checked without running: bash reads it, each `make` target exists (make -n), each
  `python -m tools` command and option exists, and each Python script it names exists and
  accepts the options given.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tools.checkout import copy_checkout
from tools.render import REPO
from tools.validate import chart_values_dir, crd_dir

DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
VENV = Path(sys.executable).parent.parent
FENCE = re.compile(r"^```(?P<info>[^\n`]*)\n(?P<body>.*?)^```\s*$", re.MULTILINE | re.DOTALL)


@dataclass
class Block:
    doc: Path
    line: int
    info: list[str]
    body: str
    output: str | None = None  # the ```text output block that follows, if any

    def __str__(self) -> str:
        return f"{self.doc.relative_to(REPO)}:{self.line}"


def blocks(doc: Path) -> list[Block]:
    text = doc.read_text()
    found: list[Block] = []
    for match in FENCE.finditer(text):
        info = match["info"].split()
        line = text[: match.start()].count("\n") + 1
        if info == ["text", "output"] and found and "test" in found[-1].info:
            found[-1].output = match["body"]
        elif info[:1] == ["sh"]:
            found.append(Block(doc, line, info, match["body"]))
    return found


ALL = [block for doc in DOCS for block in blocks(doc)]
RUN = [b for b in ALL if "test" in b.info]
CHECK = [b for b in ALL if "test" not in b.info]


def test_the_docs_have_commands_that_run_and_commands_that_are_checked():
    assert len(RUN) >= 5 and len(CHECK) >= 5
    assert all(b.output is None or "test" in b.info for b in ALL)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the checkout's files (tracked and changed ones) as a one-commit repository."""
    root = copy_checkout(tmp_path_factory.mktemp("docs") / "repo")
    git = ["git", "-C", str(root), "-c", "user.name=docs", "-c", "user.email=docs@example.com"]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "docs"], check=True)
    subprocess.run([*git, "update-ref", "refs/remotes/origin/main", "HEAD"], check=True)
    return root


def run_in(root: Path, script: str) -> subprocess.CompletedProcess[str]:
    # `make` uses this checkout's venv as it is (never rebuilt from the copy) and `python` is
    # the venv's, as after `make venv`.
    preamble = (
        "set -euo pipefail\n"
        f"export VENV={shlex.quote(str(VENV))} PATH={shlex.quote(str(VENV / 'bin'))}:$PATH\n"
        'make() { command make --no-print-directory -o "$VENV/.installed" "$@"; }\n'
    )
    return subprocess.run(
        ["bash", "-c", preamble + script],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
        env={
            **os.environ,
            "CRD_SOURCE_DIR": str(crd_dir()),
            "CHART_VALUES_DIR": str(chart_values_dir()),
            "GIT_AUTHOR_NAME": "docs",
            "GIT_COMMITTER_NAME": "docs",
        },
    )


@pytest.mark.parametrize("block", RUN, ids=str)
def test_a_documented_offline_command_runs(block, scratch):
    result = run_in(scratch, block.body)
    assert result.returncode == 0, f"{block}:\n{block.body}\n{result.stdout}\n{result.stderr}"
    if block.output is not None:
        assert result.stdout == block.output, f"{block}: the output shown is not the output"


def commands(body: str) -> list[list[str]]:
    """Each simple command of a block as words, without leading VAR=value assignments."""
    joined = body.replace("\\\n", " ")
    found = []
    for line in joined.splitlines():
        line = line.split(" #", 1)[0].strip()
        for part in re.split(r"&&|\|\||;|\|", line):
            words = shlex.split(part.strip(), comments=True) if part.strip() else []
            while words and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", words[0]):
                words.pop(0)
            if words:
                found.append(words)
    return found


@pytest.mark.parametrize("block", CHECK, ids=str)
def test_a_documented_command_that_needs_more_than_this_machine_still_exists(block, capsys):
    syntax = subprocess.run(["bash", "-n"], input=block.body, capture_output=True, text=True)
    assert syntax.returncode == 0, f"{block}: {syntax.stderr}"
    from tools.__main__ import main as tools_main

    for words in commands(block.body):
        if words[0] == "make":
            dry = subprocess.run(
                ["make", "-n", *words[1:]], cwd=REPO, capture_output=True, text=True
            )
            assert dry.returncode == 0, f"{block}: `{' '.join(words)}`: {dry.stderr}"
        elif words[:3] == ["python", "-m", "tools"]:
            with pytest.raises(SystemExit) as done:
                tools_main([words[3], "--help"])
            assert done.value.code == 0, f"{block}: no command python -m tools {words[3]}"
            usage = capsys.readouterr().out
            for option in (w.split("=")[0] for w in words[4:] if w.startswith("--")):
                assert option in usage, f"{block}: python -m tools {words[3]} has no {option}"
        elif words[0] == "python" and words[1].endswith(".py"):
            assert (REPO / words[1]).is_file(), f"{block}: no script {words[1]}"
            source = (REPO / words[1]).read_text()
            for option in (w.split("=")[0] for w in words[2:] if w.startswith("--")):
                assert f'"{option}"' in source, f"{block}: {words[1]} has no option {option}"
