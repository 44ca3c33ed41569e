"""Fixtures for the GitOps tests: every env rendered once per session."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tools.render import GITOPS_DIRS, REPO, Rendered, environments, render


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
