"""A copy of this checkout as a fresh clone would hold it, with the changes not yet committed.

Tests that run `make` in a clean tree, and `make mutants` that breaks a copy on purpose, need
the repository's files without what this machine built next to them (venvs, rendered/,
build/): the files Git tracks and the new ones it does not ignore, as they are on disk.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tools.render import REPO


def copy_checkout(dest: Path, repo: Path = REPO) -> Path:
    """Copy the files Git sees in `repo` (tracked, or new and not ignored) into `dest`."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=repo,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = repo / name
        if source.is_file():  # a file deleted but not yet staged is listed too
            target = dest / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return dest
