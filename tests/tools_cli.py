"""Run `python -m tools` on a scratch copy of the repository, as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tools.render import REPO


def run_tools(tree: Path, *args: str, env: dict[str, str] | None = None):
    return subprocess.run(
        [sys.executable, "-m", "tools", "--repo", str(tree), *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        env={**os.environ, **(env or {})},
    )
