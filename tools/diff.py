"""Render two revisions and print what changes, per env and per Application: the preview a
pull request deserves. HEAD defaults to the working tree."""

from __future__ import annotations

import difflib
import subprocess
import tempfile
from pathlib import Path

from tools.render import REPO, RenderError, environments, render, write


def checkout(revision: str, into: Path, repo: Path = REPO) -> Path:
    """The tree of `revision`, extracted with git archive (no worktree, no checkout)."""
    archive = subprocess.run(
        ["git", "-C", str(repo), "archive", "--format=tar", revision], capture_output=True
    )
    if archive.returncode != 0:
        raise RenderError(f"git archive {revision}: {archive.stderr.decode().strip()}")
    into.mkdir(parents=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into


def rendered_files(tree: Path, out: Path) -> dict[str, str]:
    files = {}
    for env in environments(tree):
        write(render(env, tree), out)
    for path in sorted(out.rglob("*.yaml")):
        files[str(path.relative_to(out))] = path.read_text()
    return files


def diff(base: str, head: str | None = None, repo: Path = REPO) -> str:
    with tempfile.TemporaryDirectory(prefix="diff-") as tmp:
        tmp_path = Path(tmp)
        base_tree = checkout(base, tmp_path / "base-tree", repo)
        head_tree = checkout(head, tmp_path / "head-tree", repo) if head else repo
        old = rendered_files(base_tree, tmp_path / "base")
        new = rendered_files(head_tree, tmp_path / "head")
    sections = []
    for name in sorted(old.keys() | new.keys()):
        if old.get(name) == new.get(name):
            continue
        env, app, _file = name.split("/", 2)
        lines = difflib.unified_diff(
            old.get(name, "").splitlines(keepends=True),
            new.get(name, "").splitlines(keepends=True),
            fromfile=f"{base}/{name}" if name in old else "/dev/null",
            tofile=f"{head or 'working tree'}/{name}" if name in new else "/dev/null",
        )
        sections.append((env, app, "".join(lines)))
    if not sections:
        return f"no rendered change between {base} and {head or 'the working tree'}\n"
    text, current = [], None
    for env, app, body in sections:
        if (env, app) != current:
            text.append(f"=== {env} / Application {app}\n")
            current = (env, app)
        text.append(body)
    return "".join(text)
