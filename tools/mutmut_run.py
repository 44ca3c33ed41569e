"""mutmut over the server's pure-Python core, with the unit tests that cover it.

What is mutated, with which tests, the score floor and the accepted survivors (each with its
reason) are in tests/mutmut.yaml. mutmut works in a scratch folder (build/mutants/mutmut):
the server's package as src/, its tests as tests/, the repository's conftest.py; it forks
its workers from a fork server, as torch needs.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from tools.render import REPO

SETTINGS = REPO / "tests" / "mutmut.yaml"
SERVER = REPO / "model-server"
# Statuses that count as caught; "no tests" and "survived" count against the score.
KILLED = {"killed", "timeout", "caught by type check", "segfault"}
NOT_RUN = {"skipped", "not checked", "check was interrupted by user"}


def settings() -> dict:
    data = yaml.safe_load(SETTINGS.read_text())
    for key in ("files", "tests", "floor"):
        if key not in data:
            raise SystemExit(f"{SETTINGS.relative_to(REPO)}: `{key}` is missing")
    data.setdefault("survivors", {})
    return data


def prepare(work: Path, config: dict) -> None:
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    shutil.copytree(SERVER / "src", work / "src", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(SERVER / "tests", work / "tests", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(REPO / "conftest.py", work / "conftest.py")
    files = [str(Path(f).relative_to("model-server")) for f in config["files"]]
    tests = [str(Path(t).relative_to("model-server")) for t in config["tests"]]
    (work / "pyproject.toml").write_text(
        "[tool.mutmut]\n"
        'source_paths = ["src"]\n'
        f"only_mutate = {json.dumps(files)}\n"
        f"pytest_add_cli_args_test_selection = {json.dumps(tests)}\n"
        'pytest_add_cli_args = ["-p", "no:cacheprovider", "-q"]\n'
        'also_copy = ["conftest.py"]\n'
        'process_isolation = "forkserver"\n'
        "use_git_change_detection = false\n"
        "\n[tool.pytest.ini_options]\n"
        'markers = ["server: starts a real model-server process on 127.0.0.1"]\n'
    )


def mutmut(work: Path, *args: str, check: bool = True) -> str:
    env = {
        **os.environ,
        # One thread per worker: torch's thread pool does not survive a fork, and two
        # workers on two cores is all the machine has.
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    env.pop("PYTHONPATH", None)
    result = subprocess.run(
        [sys.executable, "-m", "mutmut", *args], cwd=work, env=env, capture_output=True, text=True
    )
    if check and result.returncode != 0:
        print(result.stdout[-4000:] + result.stderr[-4000:])
        raise SystemExit(f"mutmut {' '.join(args)} failed with exit {result.returncode}")
    return result.stdout


def statuses(work: Path) -> dict[str, str]:
    found = {}
    for line in mutmut(work, "results", "--all", "true").splitlines():
        match = re.fullmatch(r"\s*(\S+): (.+)", line)
        if match:
            found[match[1]] = match[2].strip()
    return found


def main(out: Path) -> int:
    try:
        import mutmut as _  # noqa: F401
    except ImportError:
        print(
            "mutmut is not installed in this venv: `make mutants` installs it "
            "(requirements-mutmut.txt)",
            file=sys.stderr,
        )
        return 2
    config = settings()
    work = out / "mutmut"
    prepare(work, config)
    children = str(config.get("max_children", os.cpu_count() or 2))
    print(f"mutmut over {', '.join(config['files'])} (workers: {children}) ...", flush=True)
    mutmut(work, "run", "--max-children", children, check=False)
    found = statuses(work)
    counted = {name: s for name, s in found.items() if s not in NOT_RUN}
    killed = sum(s in KILLED for s in counted.values())
    survivors = sorted(name for name, s in counted.items() if s not in KILLED)
    score = 100 * killed / len(counted) if counted else 0.0
    reasons: dict[str, str] = config["survivors"]
    unexplained = [name for name in survivors if not reasons.get(name)]
    print(f"\nmutants: {len(found)}, run: {len(counted)}, killed: {killed}")
    print(f"score: {score:.1f}% (floor {config['floor']}%)")
    print(f"\nsurvivors ({len(survivors)}):")
    for name in survivors:
        reason = reasons.get(name, "NO REASON GIVEN: add one to tests/mutmut.yaml or a test")
        print(f"- {name} [{counted[name]}]: {' '.join(reason.split())}")
        print("  " + mutmut(work, "show", name, check=False).strip().replace("\n", "\n  "))
    stale = sorted(set(reasons) - set(survivors))
    if stale:
        print(f"\nreasons in tests/mutmut.yaml for mutants that no longer survive: {stale}")
    (out / "mutmut.json").write_text(
        json.dumps(
            {
                "score": round(score, 1),
                "killed": killed,
                "run": len(counted),
                "statuses": found,
                "survivors": {name: reasons.get(name) for name in survivors},
            },
            indent=2,
        )
    )
    print(f"results: {out / 'mutmut.json'}")
    if score < config["floor"] or unexplained:
        return 1
    return 0
