"""The account layer and the envs' cluster stages, applied to a local AWS API and destroyed.

moto's server mode (from .venv-moto, see requirements-moto.txt) listens on 127.0.0.1 on a free
port; the AWS provider reaches it through AWS_ENDPOINT_URL with dummy credentials, set only
in the environment of these runs (the committed provider configuration stays the one real
accounts use). A scratch copy of the repository gets local state and the overrides of
tools/emulator_overrides.py. The scenario:

1. apply the account layer, then the cluster stage of every env, into one emulated account
   (with the opt-in parts of EXTRA_INPUTS switched on, so that they are created too);
2. plan each again: no changes (what was applied reads back as configured);
3. an extra env whose cluster name collides with an existing one must fail to apply;
4. a new env copied from clusters/dev, with nothing changed under tofu/, must plan;
5. destroy in reverse order, and the emulator holds none of it afterwards.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import hcl2
import yaml

from tools import tofu
from tools.emulator_overrides import (
    UNREAD,
    UNSUPPORTED,
    Override,
    write_local_backend,
    write_overrides,
)
from tools.render import REPO, environments, load_facts

MOTO_SERVER = Path(os.environ.get("MOTO_SERVER", REPO / ".venv-moto" / "bin" / "moto_server"))
ACCOUNT = "shared"
NEW_ENV = "staging"
COLLIDING_ENV = "collides"
STEP_TIMEOUT_S = 300
# Opt-in parts that the committed inputs leave off, switched on here so that the emulator
# creates them too: the cross-account pull policy (one account per env) and prod's ECR/STS
# interface endpoints.
EXTRA_INPUTS = {
    f"account/{ACCOUNT}": ['-var=pull_account_ids=["444455556666"]'],
    "cluster/prod": ["-var=interface_endpoints=true"],
}


class EmulatorMissing(Exception):
    pass


@dataclass
class Step:
    name: str
    returncode: int
    seconds: float
    output: str  # stdout and stderr
    stdout: str = ""


@dataclass
class Report:
    steps: list[Step] = field(default_factory=list)
    overrides: list[Override] = field(default_factory=list)
    # stage instance ("account/shared", "cluster/dev") -> resource types in its configuration
    configured: dict[str, set[str]] = field(default_factory=dict)
    # ... and the types that the emulator really created
    created: dict[str, set[str]] = field(default_factory=dict)
    # ... and the state as the emulator read it back (`tofu show -json` of the second plan)
    states: dict[str, dict] = field(default_factory=dict)
    # what the emulated account held once everything was applied, and after the destroys
    held_when_applied: dict[str, list[str]] = field(default_factory=dict)
    left_after_destroy: dict[str, list[str]] = field(default_factory=dict)
    tofu_unchanged: bool | None = None
    seconds: float = 0.0

    def step(self, name: str) -> Step | None:
        return next((s for s in self.steps if s.name == name), None)

    def summary(self) -> str:
        created = sorted(set().union(*self.created.values())) if self.created else []
        lines = [f"AWS emulator run: {self.seconds:.0f}s"]
        lines += [f"  {s.name:<32} rc={s.returncode:<3} {s.seconds:5.1f}s" for s in self.steps]
        lines.append(f"created against the emulator ({len(created)} resource types):")
        lines += [f"  {t}" for t in created]
        lines.append("left out (mocked `tofu test`s cover them):")
        lines += [f"  {key}: {why}" for key, why in UNSUPPORTED.items()]
        lines.append("not read back by the emulator (ignore_changes in the copy only):")
        lines += [f"  {t}.{{{', '.join(a)}}}: {why}" for t, (a, why) in UNREAD.items()]
        return "\n".join(lines)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def moto_server(log: Path) -> Iterator[str]:
    """moto on 127.0.0.1:<free port>; stopped on exit, also when the body fails."""
    if not MOTO_SERVER.is_file():
        raise EmulatorMissing(
            f"{MOTO_SERVER} is missing: `make .venv-moto/.installed` installs moto[server] "
            "from requirements-moto.txt"
        )
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "MOTO_IAM_LOAD_MANAGED_POLICIES": "true"}
    # A SIGTERM (a timeout, a cancelled CI job) must still run the finally below.
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(MOTO_SERVER), "-H", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"moto_server exited: {log.read_text()[-2000:]}")
                try:
                    urllib.request.urlopen(f"{url}/moto-api/", timeout=1).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise TimeoutError(f"moto_server did not answer on {url}") from None
                    time.sleep(0.2)
            yield url
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            signal.signal(signal.SIGTERM, previous)


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def copy_repository(dest: Path) -> Path:
    """The parts of the repository the stages read, without local tool state."""
    ignore = shutil.ignore_patterns(
        ".terraform", ".terraform.lock.hcl", "*.tfstate*", "backend.hcl"
    )
    for name in ("tofu", "clusters", "bootstrap"):
        shutil.copytree(REPO / name, dest / name, ignore=ignore)
    return dest


def tracked_tofu_files(root: Path) -> dict[str, bytes]:
    skip = {".terraform.lock.hcl"}
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted((root / "tofu").rglob("*"))
        if p.is_file()
        and ".terraform" not in p.parts
        and p.name not in skip
        and not p.name.startswith("emulator_")
    }


def add_env(repo: Path, source: str, env: str, cluster_name: str) -> None:
    """clusters/<env> as a copy of clusters/<source> with its own env name and cluster name."""
    shutil.copytree(repo / "clusters" / source, repo / "clusters" / env)
    facts_path = repo / "clusters" / env / "cluster-facts.yaml"
    facts = yaml.safe_load(facts_path.read_text())
    facts["data"]["env"] = env
    facts["data"]["clusterName"] = cluster_name
    facts_path.write_text(yaml.safe_dump(facts, sort_keys=False))


class Emulated:
    """Runs tofu/terraform stages of a repository copy against the emulator."""

    def __init__(self, repo: Path, work: Path, url: str, report: Report) -> None:
        self.repo, self.work, self.report = repo, work, report
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TF_"))}
        self.env |= {
            "AWS_ENDPOINT_URL": url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_MAX_ATTEMPTS": "3",
            "TF_CLI_CONFIG_FILE": tofu.cli_config(),
            "TF_IN_AUTOMATION": "1",
        }

    def inventory(self, regions: set[str]) -> dict[str, list[str]]:
        """What the emulated account holds (tools/emulator_inventory.py, with boto3)."""
        script = REPO / "tools" / "emulator_inventory.py"
        result = subprocess.run(
            [str(MOTO_SERVER.parent / "python"), str(script), *sorted(regions)],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if result.returncode != 0:
            raise RuntimeError(f"{script.name} failed:\n{result.stderr[-3000:]}")
        return json.loads(result.stdout)

    def run(self, step: str, stage: str, instance: str, *args: str) -> Step:
        env = {**self.env, "TF_DATA_DIR": str(self.work / "data" / f"{stage}-{instance}")}
        started = time.monotonic()
        try:
            result = subprocess.run(
                [tofu.binary(), *args, "-no-color"],
                cwd=self.repo / "tofu" / "stages" / stage,
                env=env,
                capture_output=True,
                text=True,
                timeout=STEP_TIMEOUT_S,
            )
            rc, stdout, output = result.returncode, result.stdout, result.stdout + result.stderr
        except subprocess.TimeoutExpired as timeout:
            rc, stdout, output = 124, "", f"timed out after {STEP_TIMEOUT_S}s\n{timeout.stdout}"
        done = Step(step, rc, time.monotonic() - started, output, stdout)
        self.report.steps.append(done)
        return done

    def inputs(self, stage: str, instance: str) -> list[str]:
        extra = EXTRA_INPUTS.get(f"{stage}/{instance}", [])
        if stage == "account":
            return [f"-var-file={self.repo}/clusters/accounts/{instance}/account.tfvars", *extra]
        return [
            f"-var=env={instance}",
            f"-var-file={self.repo}/clusters/{instance}/cluster.tfvars",
            *extra,
        ]

    def init(self, stage: str, instance: str) -> Step:
        state = self.work / "state" / f"{stage}-{instance}.tfstate"
        return self.run(
            f"init {stage}/{instance}",
            stage,
            instance,
            "init",
            "-input=false",
            f"-backend-config=path={state}",
        )

    def apply(self, stage: str, instance: str) -> Step:
        self.init(stage, instance)
        return self.run(
            f"apply {stage}/{instance}",
            stage,
            instance,
            "apply",
            "-auto-approve",
            "-input=false",
            *self.inputs(stage, instance),
        )

    def plan(self, stage: str, instance: str, name: str = "replan") -> Step:
        """plan -detailed-exitcode: 0 no changes, 2 changes; records the configured types."""
        plan_file = self.work / f"{stage}-{instance}.plan"
        step = self.run(
            f"{name} {stage}/{instance}",
            stage,
            instance,
            "plan",
            "-input=false",
            "-detailed-exitcode",
            f"-out={plan_file}",
            *self.inputs(stage, instance),
        )
        if step.returncode in (0, 2):
            shown = self.run(
                f"show {stage}/{instance}", stage, instance, "show", "-json", str(plan_file)
            )
            self.report.steps.remove(shown)
            plan = json.loads(shown.stdout) if shown.returncode == 0 else {}
            key = f"{stage}/{instance}"
            self.report.configured[key] = configured_types(plan.get("configuration", {}))
            self.report.created[key] = state_types(plan.get("prior_state", {}))
            self.report.states[key] = plan.get("prior_state", {})
        return step

    def destroy(self, stage: str, instance: str) -> Step:
        return self.run(
            f"destroy {stage}/{instance}",
            stage,
            instance,
            "destroy",
            "-auto-approve",
            "-input=false",
            *self.inputs(stage, instance),
        )


def configured_types(configuration: dict) -> set[str]:
    """Managed resource types in a plan's configuration, through every module call."""
    types: set[str] = set()

    def walk(module: dict) -> None:
        types.update(r["type"] for r in module.get("resources", []) if r["mode"] == "managed")
        for call in module.get("module_calls", {}).values():
            walk(call.get("module", {}))

    walk(configuration.get("root_module", {}))
    return types


def state_types(state: dict) -> set[str]:
    types: set[str] = set()

    def walk(module: dict) -> None:
        types.update(r["type"] for r in module.get("resources", []) if r["mode"] == "managed")
        for child in module.get("child_modules", []):
            walk(child)

    walk(state.get("values", {}).get("root_module", {}))
    return types


def resource_values(state: dict, address: str) -> dict:
    """The attributes of one resource in a `tofu show -json` state, by its address."""

    def walk(module: dict) -> Iterator[dict]:
        yield from module.get("resources", [])
        for child in module.get("child_modules", []):
            yield from walk(child)

    for resource in walk(state.get("values", {}).get("root_module", {})):
        if resource["address"] == address:
            return resource["values"]
    raise KeyError(f"{address} is not in the state")


def together(*calls: Callable[[], object]) -> None:
    """Independent stages at once: most of a run against moto is the provider's waiting."""
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        for future in [pool.submit(call) for call in calls]:
            future.result()


def run_scenario(work: Path) -> Report:
    report = Report()
    started = time.monotonic()
    repo = copy_repository(work / "repo")
    tofu_before = tracked_tofu_files(repo)
    report.overrides = write_overrides(repo / "tofu")
    for stage in ("account", "cluster"):
        write_local_backend(repo / "tofu" / "stages" / stage)
    envs = environments(repo)
    facts = {e: load_facts(repo, e) for e in envs}
    account = hcl2.load((repo / f"clusters/accounts/{ACCOUNT}/account.tfvars").open())
    regions = {f["region"] for f in facts.values()} | {account["region"].strip('"')}
    new_cluster = f"{facts['dev']['clusterName'].rsplit('-', 1)[0]}-{NEW_ENV}"
    add_env(repo, "dev", NEW_ENV, new_cluster)
    add_env(repo, envs[0], COLLIDING_ENV, facts[envs[0]]["clusterName"])

    with moto_server(work / "moto.log") as url:
        run = Emulated(repo, work, url, report)
        run.apply("account", ACCOUNT)
        together(*[lambda e=env: run.apply("cluster", e) for env in envs])
        report.held_when_applied = run.inventory(regions)
        together(
            lambda: run.plan("account", ACCOUNT),
            *[lambda e=env: run.plan("cluster", e) for env in envs],
        )
        together(
            lambda: (run.apply("cluster", COLLIDING_ENV), run.destroy("cluster", COLLIDING_ENV)),
            lambda: (run.init("cluster", NEW_ENV), run.plan("cluster", NEW_ENV, "plan new env")),
        )
        report.tofu_unchanged = tracked_tofu_files(repo) == tofu_before
        together(*[lambda e=env: run.destroy("cluster", e) for env in reversed(envs)])
        run.destroy("account", ACCOUNT)
        report.left_after_destroy = run.inventory(regions)
    report.seconds = time.monotonic() - started
    return report


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="aws-emulator-") as tmp:
        report = run_scenario(Path(tmp))
    print(report.summary())
    failed = [s for s in report.steps if s.returncode not in expected_returncodes(s.name)]
    for step in failed:
        print(f"\n--- {step.name} (rc={step.returncode}) ---\n{step.output[-4000:]}")
    return 1 if failed or report.left_after_destroy or not report.tofu_unchanged else 0


def expected_returncodes(step: str) -> set[int]:
    if step.startswith(f"apply cluster/{COLLIDING_ENV}"):
        return {1}
    if step.startswith("plan new env"):
        return {2}
    return {0}
