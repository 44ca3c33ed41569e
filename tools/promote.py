"""Promote an env to the next: copy everything promotable from FROM to TO and print the
difference that makes.

Promotable, and copied whole: the image tag of every app (apps/<app>/overlays/<env>/
version.yaml) and the chart versions (clusters/<env>/chart-versions.yaml). So a chart bump
that Renovate made in dev reaches prod the same way an image does: tried in dev first, then
one reviewed pull request. Everything else in an env stays its own.

Refuses (exit 2, nothing written) an unknown env, the same env twice, and a FROM that lacks a
file. Exit 0 when TO was changed or already had everything FROM has. With --rendered, also
prints `tools diff HEAD`: what changes in the rendered envs compared with the last commit.
With --markdown, prints the body of the promotion's pull request instead (both diffs).
"""

from __future__ import annotations

import argparse
import difflib
import sys
from dataclasses import dataclass
from pathlib import Path

from tools.envs import Refused, promotable_files, require_env


@dataclass
class Copy:
    source: str
    target: str
    old: str  # the target's text before ("" when it did not exist)
    new: str

    def unified_diff(self) -> str:
        return "".join(
            difflib.unified_diff(
                self.old.splitlines(keepends=True),
                self.new.splitlines(keepends=True),
                fromfile=f"a/{self.target}",
                tofile=f"b/{self.target}",
            )
        )


def plan(repo: Path, source: str, target: str) -> list[Copy]:
    """The copies that promoting SOURCE to TARGET makes (files that would change only)."""
    require_env(repo, source)
    require_env(repo, target)
    if source == target:
        raise Refused(f"cannot promote {source} to itself: name the next env, e.g. prod")
    copies = []
    for relative in promotable_files(repo, source):
        if not (repo / relative).is_file():
            raise Refused(f"{relative}: missing, so {source} has nothing to hand on")
        destination = relative.replace(f"/{source}/", f"/{target}/", 1)
        if not (repo / destination).parent.is_dir():
            raise Refused(
                f"{destination}: {target} has no such folder; make the env first "
                "(docs/operations.md, adding an env)"
            )
        new = (repo / relative).read_text()
        old = (repo / destination).read_text() if (repo / destination).is_file() else ""
        if new != old:
            copies.append(Copy(relative, destination, old, new))
    return copies


def apply(repo: Path, copies: list[Copy]) -> None:
    for copy in copies:
        (repo / copy.target).write_text(copy.new)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", metavar="FROM", help="the env that was tried, e.g. dev")
    parser.add_argument("target", metavar="TO", help="the env to bring level, e.g. prod")
    parser.add_argument(
        "--dry-run", action="store_true", help="print the difference, write nothing"
    )
    parser.add_argument(
        "--rendered",
        action="store_true",
        help="also print the rendered difference against HEAD (needs kubectl)",
    )
    parser.add_argument(
        "--markdown",
        action="store_true",
        help="print a pull request's body: the files' and the rendered difference",
    )


def main(args: argparse.Namespace) -> int:
    try:
        copies = plan(args.repo, args.source, args.target)
    except Refused as exc:
        print(f"promote: {exc}", file=sys.stderr)
        return 2
    if not copies:
        print(f"{args.target} already has everything promotable from {args.source}")
        return 0
    if not args.dry_run:
        apply(args.repo, copies)
    if args.markdown and not args.dry_run:
        sys.stdout.write(pull_request_body(args.repo, args.source, args.target, copies))
        return 0
    verb = "would copy" if args.dry_run else "copied"
    for copy in copies:
        print(f"{verb} {copy.source} -> {copy.target}")
    print()
    for copy in copies:
        sys.stdout.write(copy.unified_diff())
    if args.rendered and not args.dry_run:
        from tools.diff import as_text, changes

        print()
        sys.stdout.write(as_text(changes("HEAD", None, args.repo), "HEAD", None))
    return 0


def pull_request_body(repo: Path, source: str, target: str, copies: list[Copy]) -> str:
    from tools.diff import MARKDOWN_LIMIT, as_markdown, changes
    from tools.render import load_facts

    manual = load_facts(repo, target).get("autoSync") == "false"
    then = (
        f"{target}'s Applications sync by hand: after merging, open each OutOfSync "
        "Application in Argo CD, read its diff and press Sync (docs/operations.md)."
        if manual
        else f"{target}'s Applications sync by themselves once this is merged."
    )
    files = "".join(copy.unified_diff() for copy in copies)
    head = (
        f"Promotes everything promotable from `{source}` to `{target}` "
        f"(`python -m tools promote {source} {target}`). {then}\n\n"
        f"#### Files\n\n```diff\n{files}```\n\n"
    )
    rendered = changes("HEAD", None, repo)
    return head + as_markdown(rendered, "HEAD", None, limit=MARKDOWN_LIMIT - len(head))
