"""fmt, validate and test of every AWS-only module and stage, offline, with mocked providers."""

from __future__ import annotations

import pytest

from tools import tofu

ROOTS = tofu.aws_only_roots()


def test_there_is_hcl_to_check():
    assert len(ROOTS) >= 2


def test_all_hcl_is_formatted():
    result = tofu.run(tofu.TOFU, "fmt", "-check", "-recursive", "-diff")
    assert result.returncode == 0, f"run `{tofu.binary()} fmt -recursive tofu/`:\n{result.stdout}"


@pytest.mark.parametrize("root", ROOTS, ids=[str(p.relative_to(tofu.TOFU)) for p in ROOTS])
def test_module_validates_and_its_tests_pass(root):
    init = tofu.run(root, "init", "-backend=false", "-input=false", "-no-color")
    assert init.returncode == 0, init.stdout + init.stderr
    validate = tofu.run(root, "validate", "-no-color")
    assert validate.returncode == 0, validate.stdout + validate.stderr
    if list(root.glob("tests/*.tftest.hcl")):
        test = tofu.run(root, "test", "-no-color")
        assert test.returncode == 0, test.stdout + test.stderr
        assert " 0 failed" in test.stdout
