"""`make mutants` runs weekly; its catalogue and its mutmut settings are checked on every run
of `make test`, so that an edit elsewhere cannot leave them pointing at code or tests that
moved."""

from __future__ import annotations

import dataclasses

import pytest

from tools import mutmut_run
from tools.mutants import CLASSES, CatalogueError, check, load
from tools.render import REPO


def test_every_catalogue_entry_still_fits_the_tree_and_every_class_is_there():
    mutations = load()
    check(mutations)
    assert {m.kind for m in mutations} == set(CLASSES)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"file": "tools/gone.py"}, "file tools/gone.py does not exist"),
        ({"find": "a line nobody wrote"}, "`find` occurs 0 times in"),
        ({"tests": ("tests/test_gone.py",)}, "test file tests/test_gone.py does not exist"),
        ({"tests": ("tests/test_mutants_catalogue.py::test_gone[x]",)}, "no test test_gone in"),
    ],
    ids=["file", "find", "test-file", "test-name"],
)
def test_an_entry_that_no_longer_fits_is_named_with_what_is_wrong(change, message):
    stale = dataclasses.replace(load()[0], **change)
    with pytest.raises(CatalogueError, match=f"^{stale.id}: {message}"):
        check([stale])


def test_an_entry_without_a_field_is_refused_naming_the_file_the_entry_and_the_field(tmp_path):
    catalogue = tmp_path / "mutants.yaml"
    catalogue.write_text(
        "- id: no-why\n  class: server-core\n  file: a.py\n  find: a\n"
        "  replace: b\n  tests: [tests/test_a.py]\n"
    )
    with pytest.raises(CatalogueError, match=r"mutants.yaml: entry 0 \(no-why\): `why` is missing"):
        load(catalogue)


def test_what_mutmut_mutates_and_runs_exists():
    settings = mutmut_run.settings()
    for path in [*settings["files"], *settings["tests"]]:
        assert (REPO / path).is_file(), f"tests/mutmut.yaml: {path} does not exist"
