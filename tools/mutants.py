"""Do the tests catch what would break production? A mutation run that says.

`catalogue` applies each curated mutation of tests/mutants.yaml (one realistic one-line
defect in the server, the GitOps tree or tofu, with the tests that must catch it) alone to a
scratch copy of the repository, runs those tests there, and prints a table and the catch
rate. A mutation is caught when its tests fail; the tests must pass on the unmutated copy
first, so a broken test cannot pass for a catch. Exit status 1 unless every one is caught.

`mutmut` runs mutmut (requirements-mutmut.txt, in .venv-mutmut) over the server's pure-Python
core (batcher, admission, preprocessing) with the unit tests listed in tests/mutmut.yaml, and
prints the score and every surviving mutant with the reason it is accepted there. Exit status
1 when the score is under the floor or a survivor has no reason.

`make mutants` runs both; it is too slow for `make test` (docs/testing.md).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from tools import validate
from tools.checkout import copy_checkout
from tools.render import REPO

CATALOGUE = REPO / "tests" / "mutants.yaml"
# The classes of defect the catalogue must cover, each at least once (docs/testing.md).
CLASSES = {
    "restated-contract": "a fact two parts share, changed in one of them",
    "readiness-by-timing": "readiness turning true before the warm-up ran",
    "iam-trust": "an IAM trust or key policy widened",
    "group-kind": "a group/kind pair or a not-free-form values key gone wrong",
    "cannot-fail": "a defect only a test that can fail would see",
    "unprotected-deletion": "an object that holds workloads left prunable",
    "server-core": "the batcher's and admission's own rules",
}
# Folders a scratch copy links to instead of copying (tools the tests run).
LINKED = (".venv", ".venv-checkov", ".venv-moto")
TEST_TIMEOUT_S = 600


class CatalogueError(Exception):
    """The catalogue itself is wrong; the message names the entry and the field."""


@dataclass(frozen=True)
class Mutation:
    id: str
    kind: str
    file: str
    find: str
    replace: str
    tests: tuple[str, ...]
    why: str


def load(path: Path = CATALOGUE) -> list[Mutation]:
    entries = yaml.safe_load(path.read_text()) or []
    where = path.relative_to(REPO) if path.is_relative_to(REPO) else path
    mutations, seen = [], set()
    for index, entry in enumerate(entries):
        name = f"{where}: entry {index} ({entry.get('id', 'no id')})"
        for field in ("id", "class", "file", "find", "replace", "tests", "why"):
            if field not in entry:
                raise CatalogueError(f"{name}: `{field}` is missing")
        if entry["class"] not in CLASSES:
            raise CatalogueError(f"{name}: class {entry['class']!r} is not one of {set(CLASSES)}")
        if entry["id"] in seen:
            raise CatalogueError(f"{name}: id {entry['id']!r} is used twice")
        if entry["find"] == entry["replace"]:
            raise CatalogueError(f"{name}: `replace` equals `find`")
        if not entry["tests"]:
            raise CatalogueError(f"{name}: `tests` is empty")
        seen.add(entry["id"])
        mutations.append(
            Mutation(
                id=entry["id"],
                kind=entry["class"],
                file=entry["file"],
                find=entry["find"],
                replace=entry["replace"],
                tests=tuple(entry["tests"]),
                why=" ".join(entry["why"].split()),
            )
        )
    return mutations


def check(mutations: list[Mutation], repo: Path = REPO) -> None:
    """Refuse entries that no longer fit the tree (a file moved, a `find` edited away, a test
    renamed): `make test` runs this, so the catalogue cannot go stale between mutation runs."""
    for mutation in mutations:
        path = repo / mutation.file
        if not path.is_file():
            raise CatalogueError(f"{mutation.id}: file {mutation.file} does not exist")
        count = path.read_text().count(mutation.find)
        if count != 1:
            raise CatalogueError(
                f"{mutation.id}: `find` occurs {count} times in {mutation.file} (must be once)"
            )
        for test in mutation.tests:
            file, _, node = test.partition("::")
            if not (repo / file).is_file():
                raise CatalogueError(f"{mutation.id}: test file {file} does not exist")
            name = node.rsplit("::", 1)[-1].split("[", 1)[0]
            if name and not re.search(rf"def {re.escape(name)}\(", (repo / file).read_text()):
                raise CatalogueError(f"{mutation.id}: no test {name} in {file}")


def scratch_copy(dest: Path, repo: Path = REPO) -> Path:
    """The repository's files as Git sees them (tracked and not ignored), venvs linked."""
    copy_checkout(dest, repo)
    for name in LINKED:
        if (repo / name).exists():
            (dest / name).symlink_to(repo / name)
    return dest


def apply(mutation: Mutation, tree: Path) -> str:
    """Apply in place; returns the original text for restore()."""
    path = tree / mutation.file
    if not path.is_file():
        raise CatalogueError(f"{mutation.id}: file {mutation.file} does not exist")
    original = path.read_text()
    count = original.count(mutation.find)
    if count != 1:
        raise CatalogueError(
            f"{mutation.id}: `find` occurs {count} times in {mutation.file} (must be once)"
        )
    path.write_text(original.replace(mutation.find, mutation.replace))
    return original


def upstream_dirs() -> dict[str, str]:
    """The pinned upstream files as this checkout finds them (../shared by default): the
    scratch copy lies elsewhere, where the default would not find them."""
    found = {}
    for variable, where in (
        ("CRD_SOURCE_DIR", validate.crd_dir),
        ("CHART_VALUES_DIR", validate.chart_values_dir),
        ("REFERENCE_DIR", validate.reference_dir),
    ):
        # Where one is missing, the tests that need it say how to get it.
        with contextlib.suppress(validate.SetupError):
            found[variable] = str(where().resolve())
    return found


def run_tests(tree: Path, tests: list[str] | tuple[str, ...]) -> tuple[int, str, float]:
    """pytest in the copy, importing the copy's server and tools."""
    env = {
        **os.environ,
        **upstream_dirs(),
        "PYTHONPATH": os.pathsep.join([str(tree / "model-server" / "src"), str(tree)]),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    started = time.monotonic()
    try:
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests],
            cwd=tree,
            env=env,
            capture_output=True,
            text=True,
            timeout=TEST_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        return 124, f"timed out after {TEST_TIMEOUT_S}s", time.monotonic() - started
    return result.returncode, result.stdout + result.stderr, time.monotonic() - started


def last_lines(text: str, count: int = 15) -> str:
    return "\n".join(text.strip().splitlines()[-count:])


def run_catalogue(mutations: list[Mutation], out: Path, every_class: bool = True) -> int:
    """every_class: refuse a catalogue that leaves a class out (off for --only)."""
    missing = set(CLASSES) - {m.kind for m in mutations}
    if every_class and missing:
        raise CatalogueError(f"{CATALOGUE.name}: no mutation of class {sorted(missing)}")
    check(mutations)
    with tempfile.TemporaryDirectory(prefix="mutants-") as tmp:
        tree = scratch_copy(Path(tmp))
        union = sorted({t for m in mutations for t in m.tests})
        print(f"baseline: {len(union)} test selections on the unmutated copy ...", flush=True)
        code, output, seconds = run_tests(tree, union)
        if code != 0:
            print(last_lines(output, 40))
            print(f"baseline failed (pytest exit {code}): fix the tests before mutating")
            return 2
        print(f"baseline passed in {seconds:.0f}s\n", flush=True)
        rows = []
        for mutation in mutations:
            original = apply(mutation, tree)
            try:
                code, output, seconds = run_tests(tree, mutation.tests)
            finally:
                (tree / mutation.file).write_text(original)
            if code in (1, 2):  # tests failed, or the mutant broke collection (an import)
                verdict = "caught"
            elif code == 0:
                verdict = "SURVIVED"
            else:  # 4 usage error, 5 nothing collected, 124 timeout: the catalogue is wrong
                verdict = f"ERROR {code}"
            rows.append({**mutation.__dict__, "verdict": verdict, "seconds": round(seconds, 1)})
            print(
                f"{verdict:<9} {mutation.kind:<20} {mutation.id:<46} {seconds:5.1f}s",
                flush=True,
            )
            if verdict != "caught":
                print("  " + last_lines(output).replace("\n", "\n  "))
    caught = sum(r["verdict"] == "caught" for r in rows)
    print()
    print(table(rows))
    rate = 100 * caught / len(rows)
    print(f"\ncaught {caught} of {len(rows)} mutations: {rate:.0f}%")
    by_class = {k: [r for r in rows if r["kind"] == k] for k in CLASSES}
    for kind, found in by_class.items():
        print(f"  {kind:<20} {sum(r['verdict'] == 'caught' for r in found)}/{len(found)}")
    out.mkdir(parents=True, exist_ok=True)
    (out / "catalogue.json").write_text(
        json.dumps({"caught": caught, "total": len(rows), "mutations": rows}, indent=2)
    )
    print(f"results: {out / 'catalogue.json'}")
    return 0 if caught == len(rows) else 1


def table(rows: list[dict]) -> str:
    lines = ["| verdict | class | mutation | file | tests |", "|---|---|---|---|---|"]
    for r in rows:
        tests = ", ".join(t.rsplit("::", 1)[-1] for t in r["tests"])
        lines.append(f"| {r['verdict']} | {r['kind']} | {r['id']} | {r['file']} | {tests} |")
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("what", choices=["catalogue", "mutmut", "all"], nargs="?", default="all")
    parser.add_argument("--only", nargs="*", default=None, help="catalogue ids to run")
    parser.add_argument("--out", type=Path, default=REPO / "build" / "mutants")


def main(args: argparse.Namespace) -> int:
    status = 0
    try:
        if args.what in ("catalogue", "all"):
            mutations = load()
            if args.only:
                unknown = set(args.only) - {m.id for m in mutations}
                if unknown:
                    raise CatalogueError(f"no mutation with id {sorted(unknown)}")
                mutations = [m for m in mutations if m.id in args.only]
            status = max(status, run_catalogue(mutations, args.out, every_class=not args.only))
        if args.what in ("mutmut", "all"):
            from tools import mutmut_run

            status = max(status, mutmut_run.main(args.out))
    except CatalogueError as exc:
        print(f"mutants: {exc}", file=sys.stderr)
        return 2
    return status
