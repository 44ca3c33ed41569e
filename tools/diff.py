"""Render two revisions and print what changes, per env and per Application: the preview a
pull request deserves. HEAD defaults to the working tree.

Text (the default) is a unified diff under one `=== <env> / Application <name>` header per
Application; `--markdown` wraps the same diff for a pull-request comment or a job summary,
one collapsible section per Application, cut to fit GitHub's comment size."""

from __future__ import annotations

import difflib
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tools.facts import FactsError
from tools.render import REPO, RenderError, environments, render, write

# GitHub refuses comments over 65,536 characters; leave room for the header and the table.
MARKDOWN_LIMIT = 60_000
MARKER = "<!-- gitops-rendered-diff -->"


@dataclass
class Change:
    env: str
    app: str
    body: str  # unified diff of every changed file of this Application


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


def rendered_files(tree: Path, out: Path, revision: str = "") -> dict[str, str]:
    files = {}
    for env in environments(tree):
        try:
            write(render(env, tree), out)
        except (RenderError, FactsError) as error:
            if tree == REPO or not _render_with_own_tools(tree, env, out):
                raise
            print(
                f"diff: rendered {env} of {revision or tree} with that revision's own tools; "
                f"these cannot render it ({error})",
                file=sys.stderr,
            )
    for path in sorted(out.rglob("*.yaml")):
        files[str(path.relative_to(out))] = path.read_text()
    return files


def _render_with_own_tools(tree: Path, env: str, out: Path) -> bool:
    """An older revision may lack a file that these tools require (a fact or a pin added
    since): render it as its own tools did."""
    if not (tree / "tools" / "render.py").is_file():
        return False
    result = subprocess.run(
        [sys.executable, "-m", "tools", "render", env, "--out", str(out)],
        cwd=tree,
        capture_output=True,
        text=True,
    )
    return result.returncode == 0


def changes(base: str, head: str | None = None, repo: Path = REPO) -> list[Change]:
    """Every Application whose rendered files differ between BASE and HEAD."""
    with tempfile.TemporaryDirectory(prefix="diff-") as tmp:
        tmp_path = Path(tmp)
        base_tree = checkout(base, tmp_path / "base-tree", repo)
        head_tree = checkout(head, tmp_path / "head-tree", repo) if head else repo
        old = rendered_files(base_tree, tmp_path / "base", base)
        new = rendered_files(head_tree, tmp_path / "head", head or "")
    found: list[Change] = []
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
        body = "".join(lines)
        if found and (found[-1].env, found[-1].app) == (env, app):
            found[-1].body += body
        else:
            found.append(Change(env, app, body))
    return found


def as_text(found: list[Change], base: str, head: str | None) -> str:
    if not found:
        return f"no rendered change between {base} and {head or 'the working tree'}\n"
    return "".join(f"=== {c.env} / Application {c.app}\n{c.body}" for c in found)


def as_markdown(
    found: list[Change], base: str, head: str | None, limit: int = MARKDOWN_LIMIT
) -> str:
    """A comment that a bot can find again (MARKER) and update in place."""
    title = f"### Rendered difference: `{base}` → `{head or 'this change'}`"
    if not found:
        return f"{MARKER}\n{title}\n\nNo rendered change in any env.\n"
    rows = [
        f"| {c.env} | {c.app} | +{_count(c.body, '+')} / -{_count(c.body, '-')} |" for c in found
    ]
    parts = [
        MARKER,
        title,
        "",
        "| env | Application | lines |",
        "|---|---|---|",
        *rows,
        "",
    ]
    used = sum(len(p) + 1 for p in parts)
    for c in found:
        fence = "`" * max(3, _longest_backtick_run(c.body) + 1)
        section = (
            f"<details><summary>{c.env} / {c.app}</summary>\n\n"
            f"{fence}diff\n{c.body}{fence}\n</details>\n"
        )
        if used + len(section) > limit:
            section = (
                f"<details><summary>{c.env} / {c.app} (too long for a comment)</summary>\n\n"
                f"Run `make diff BASE={base}` locally, or read the job's log.\n</details>\n"
            )
        parts.append(section)
        used += len(section) + 1
    return "\n".join(parts)


def _count(body: str, sign: str) -> int:
    return sum(
        1
        for line in body.splitlines()
        if line.startswith(sign) and not line.startswith(sign * 3 + " ")
    )


def _longest_backtick_run(text: str) -> int:
    longest = current = 0
    for char in text:
        current = current + 1 if char == "`" else 0
        longest = max(longest, current)
    return longest


def diff(base: str, head: str | None = None, repo: Path = REPO) -> str:
    return as_text(changes(base, head, repo), base, head)
