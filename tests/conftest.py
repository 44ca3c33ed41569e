"""Fixtures shared by the repository tests: every env rendered once per session, and one run
of the tofu stages against the local AWS API, whose report ends the test summary."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tools import aws_emulator
from tools.render import GITOPS_DIRS, REPO, Rendered, environments, render

EMULATOR_REPORT = pytest.StashKey[aws_emulator.Report]()


@pytest.fixture(scope="session")
def rendered() -> dict[str, Rendered]:
    envs = environments()
    assert envs == ["dev", "prod"], envs
    return {env: render(env) for env in envs}


@pytest.fixture
def tree_copy(tmp_path: Path) -> Path:
    """A scratch copy of the GitOps directories, for tests that break things on purpose."""
    for name in GITOPS_DIRS:
        shutil.copytree(REPO / name, tmp_path / name)
    return tmp_path


@pytest.fixture(scope="session")
def aws_emulator_report(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> aws_emulator.Report:
    """The scenario of tools/aws_emulator.py, run once."""
    report = aws_emulator.run_scenario(tmp_path_factory.mktemp("aws-emulator"))
    request.config.stash[EMULATOR_REPORT] = report
    return report


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    report = config.stash.get(EMULATOR_REPORT, None)
    if report is not None:
        terminalreporter.write_sep("-", "tofu stages against the local AWS API")
        terminalreporter.write_line(report.summary())
