"""Regenerate model-server/requirements.txt: the exact versions pip resolves today for the
ranges in model-server/pyproject.toml, on this platform (Linux x86_64 for the image).

Resolves with `pip install --dry-run --report` in a throw-away venv, so nothing is installed.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

SERVER = Path(__file__).resolve().parents[1]
HEADER = """\
# Exact versions of everything the server imports, for Linux x86_64 (CUDA build of torch).
# The Dockerfile and `make test` install from this file. Regenerate after changing the
# ranges in pyproject.toml with: make lock
"""


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        venv.create(tmp, with_pip=True)
        report = Path(tmp) / "report.json"
        subprocess.run(
            [
                f"{tmp}/bin/python",
                "-m",
                "pip",
                "install",
                "--quiet",
                "--dry-run",
                "--ignore-installed",
                "--report",
                str(report),
                str(SERVER),
            ],
            check=True,
        )
        installs = json.loads(report.read_text())["install"]
    pins = sorted(
        f"{item['metadata']['name'].lower()}=={item['metadata']['version']}"
        for item in installs
        if item["metadata"]["name"] != "model-server"
    )
    (SERVER / "requirements.txt").write_text(HEADER + "\n".join(pins) + "\n")
    print(f"wrote {len(pins)} pins to {SERVER / 'requirements.txt'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
