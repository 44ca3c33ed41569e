"""The autoscaling end-to-end run: a real server, a real Prometheus, the rendered manifests.

`plan()` reads what the run needs from the rendered envs and fails fast, naming the file and
field, when the parts do not fit (a trigger query naming a metric nobody provides, a
ServiceMonitor port name that reaches no container port, ...). `run()` then starts
Prometheus with a scrape job made from the rendered ServiceMonitor and the rendered
PrometheusRule as its rule file, drives the server through the phases with `tools loadtest`,
and at every step evaluates each env's ScaledObject trigger queries through Prometheus' HTTP
API and feeds them to tools/autoscaler.py. It records everything as JSON and a plot.

Time: one step of STEP_S real seconds is one HPA sync period (15 s) of controller time, so
the controllers' clock runs TIME_SCALE times faster than the wall clock. Everything the run
can configure follows that clock: the scrape interval (the ServiceMonitor's 15s becomes 1s),
the rule evaluation interval, the alerts' `for:` (tools.monitoring.rule_file) and the HPA's
windows and periods (counted in controller time). What it cannot compress stays real: the
PromQL range windows ([1m], [5m]) and the load itself.

One server process stands in for all replicas: the in-flight total and the p95 it reports are
what N replicas would report together if adding replicas added no capacity. The simulated
HPA divides the total by its own replica count (AverageValue), exactly as the real one divides
KEDA's total by the Deployment's; it just never sees the relief that more pods would bring,
so under load it goes to maxReplicaCount and stays there until the load stops.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx

from tools.autoscaler import HPA_SYNC_PERIOD_S, Autoscaler, ScalingSpec, SpecError
from tools.monitoring import (
    OPERATOR_EVALUATION_INTERVAL,
    PanelQuery,
    ScrapeTarget,
    WiringError,
    dashboard_queries,
    duration,
    promql_metric_names,
    recorded_names,
    rule_file,
    scrape_targets,
    seconds,
    server_settings,
    unprovided_metrics,
)
from tools.prometheus import PrometheusServer, QueryError
from tools.render import REPO, Manifest, Rendered

STEP_S = 1.0
TIME_SCALE = HPA_SYNC_PERIOD_S / STEP_S

# The server on 2 CPU cores: small batches, one decode thread, and load shed by count: a
# queue of 32 (with the batch and the decode thread, 37 requests in hand before it answers
# 503 queue_full). The phases below are defined by client counts, so the shedding point must
# not move with the machine's speed: the time rule (MAX_QUEUE_DELAY_MS, 503
# queue_wait_too_long), which deployed pods shed by, is set beyond the deadline here. With a
# 4 s limit a run on a busy machine (the server slowed to under 1 image/s by other jobs)
# refused the ramp's 32 clients, and clients that resend a refused request at once then
# kept the server busy answering thousands of 503s a second. model-server/tests and
# `make bench-overload` prove the time rule.
SERVER_ENV = {
    "MAX_BATCH_SIZE": "4",
    "MAX_BATCH_WAIT_MS": "20",
    "DECODE_THREADS": "1",
    "MAX_QUEUE_SIZE": "32",
    "MAX_QUEUE_DELAY_MS": "60000",
}


def every_env_scaled_down(steps: list[dict]) -> bool:
    """Each env has scaled down at least once in these steps."""
    envs = steps[0]["envs"] if steps else {}
    return bool(envs) and all(
        any(s["envs"][env]["desired"] < s["envs"][env]["current"] for s in steps) for env in envs
    )


@dataclass(frozen=True)
class Phase:
    name: str
    seconds: float  # at least this long, and until its load test has finished
    load: tuple[str, ...] = ()  # `tools loadtest` arguments; none = no load
    stop_server: bool = False
    check_dashboard: bool = False  # evaluate every dashboard query when the phase ends
    until: Callable[[list[dict]], bool] | None = None  # then also until this holds ...
    max_seconds: float = 0.0  # ... or this long


# Measured on 2 quiet cores: the server answers about 16 images/s. One client stays under
# both targets; 32 clients queue about 30 requests (over 24 per replica, p95 about 2 s, and
# under the 37 in hand at which it sheds); 40/s offered is 2.5x capacity and about 60% is
# shed. A request gives up after 15 s, so that a busy machine cannot stretch a phase much.
# The second idle phase lasts the 1m latency window plus prod's 600 s scale-down window
# (40 s here), until both envs scaled down.
LOAD_TIMEOUT = ("--timeout", "15")
PHASES = (
    Phase("idle", 15),
    Phase("ramp", 10, ("--concurrency", "1", *LOAD_TIMEOUT)),
    Phase("ramp", 20, ("--concurrency", "32", *LOAD_TIMEOUT)),
    Phase(
        "overload",
        55,
        ("--rate", "40", "--concurrency", "256", *LOAD_TIMEOUT),
        check_dashboard=True,
    ),
    Phase("idle again", 60, until=every_env_scaled_down, max_seconds=150),
    Phase("scrape stopped", 20, stop_server=True),
)


class Server(Protocol):
    url: str

    def wait_ready(self, timeout_s: float = 60) -> Server: ...

    def stop(self) -> None: ...


@dataclass
class Plan:
    """What the run reads from the rendered envs, checked before anything starts."""

    specs: dict[str, ScalingSpec]  # env -> the ScaledObject's scaling spec
    scaled_objects: dict[str, Manifest]
    rule: Manifest
    target: ScrapeTarget
    port_setting: str  # the server setting the scraped container port is: METRICS_PORT or PORT
    evaluation_interval: str
    dashboard: list[PanelQuery]

    def queries(self) -> list[str]:
        return sorted({t.query for spec in self.specs.values() for t in spec.triggers})


def _one(r: Rendered, app: str, kind: str) -> Manifest:
    found = [m for m in r.app(app).manifests if m.kind == kind]
    if len(found) != 1:
        raise WiringError(f"{r.env}: Application {app} has {len(found)} {kind}s, the run needs one")
    return found[0]


def plan(rendered: dict[str, Rendered], app: str = "swin-t") -> Plan:
    """Read and cross-check everything the run needs; raise WiringError naming the cause."""
    from model_server.metrics import exported_metric_names

    envs = sorted(rendered)
    first = rendered[envs[0]]
    rule, monitor = _one(first, app, "PrometheusRule"), _one(first, app, "ServiceMonitor")
    for env in envs[1:]:
        for kind, mine in (("PrometheusRule", rule), ("ServiceMonitor", monitor)):
            theirs = _one(rendered[env], app, kind)
            if theirs.obj.get("spec") != mine.obj.get("spec"):
                raise WiringError(
                    f"{theirs.where}: {kind}/{theirs.name} differs between {envs[0]} and "
                    f"{env}; the run starts one Prometheus for every env"
                )
    manifests = first.app(app).manifests
    targets = scrape_targets(monitor, manifests)
    if len(targets) != 1:
        raise WiringError(f"{monitor.where}: {len(targets)} scrape targets, the run models one")
    target = targets[0]
    deployment = _one(first, app, "Deployment")
    settings = server_settings(deployment)
    if settings.metrics_port and target.container_port == settings.metrics_port:
        port_setting = "METRICS_PORT"
    elif not settings.metrics_port and target.container_port == settings.port:
        port_setting = "PORT"
    else:
        raise WiringError(
            f"{monitor.where}: ServiceMonitor/{monitor.name} port {target.port_name!r} reaches "
            f"container port {target.container_port}, where the server of "
            f"Deployment/{deployment.name} ({deployment.where}) serves no metrics: PORT "
            f"{settings.port}, METRICS_PORT {settings.metrics_port or 'unset (metrics on PORT)'}"
        )
    exported = exported_metric_names()
    recorded = recorded_names([rule])
    for name, expr in recorded.items():
        missing = unprovided_metrics(expr, exported, recorded)
        if missing:
            raise WiringError(
                f"{rule.where}: PrometheusRule/{rule.name} rule {name} reads {sorted(missing)}, "
                "which the model server does not export (model-server/src/model_server/"
                "metrics.py)"
            )
    specs, scaled_objects = {}, {}
    for env in envs:
        scaled = _one(rendered[env], app, "ScaledObject")
        try:
            spec = ScalingSpec.from_scaled_object(scaled.obj)
        except (SpecError, KeyError, ValueError) as exc:
            raise WiringError(f"{scaled.where}: ScaledObject/{scaled.name} {exc}") from None
        for i, trigger in enumerate(spec.triggers):
            missing = unprovided_metrics(trigger.query, exported, recorded)
            if missing:
                raise WiringError(
                    f"{scaled.where}: ScaledObject/{scaled.name} spec.triggers[{i}] "
                    f"({trigger.name}) metadata.query names {sorted(missing)}, which neither "
                    "the model server exports (model-server/src/model_server/metrics.py) nor "
                    f"PrometheusRule/{rule.name} records ({rule.where})"
                )
        specs[env], scaled_objects[env] = spec, scaled
    kps = first.app("kube-prometheus-stack").helm[0].values
    evaluation = kps.get("prometheus", {}).get("prometheusSpec", {}).get("evaluationInterval")
    return Plan(
        specs=specs,
        scaled_objects=scaled_objects,
        rule=rule,
        target=target,
        port_setting=port_setting,
        evaluation_interval=evaluation or OPERATOR_EVALUATION_INTERVAL,
        dashboard=dashboard_queries(manifests),
    )


@dataclass
class Run:
    """Everything the run saw; `as_json()` is what build/e2e/autoscaling.json holds."""

    time_scale: float
    step_s: float
    server_env: dict[str, str]
    prometheus: dict[str, Any]
    specs: dict[str, dict]
    phases: list[dict] = field(default_factory=list)
    steps: list[dict] = field(default_factory=list)
    alerts: list[dict] = field(default_factory=list)  # one entry per (alert, activeAt)
    dashboard: list[dict] = field(default_factory=list)
    setup_s: float = 0.0
    wall_s: float = 0.0

    def as_json(self) -> dict:
        return asdict(self)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run(
    p: Plan,
    start_server: Callable[..., Server],
    workdir: Path,
    phases: tuple[Phase, ...] = PHASES,
    log: Callable[[str], None] = print,
) -> Run:
    """Start the server and Prometheus, go through `phases`, return what was seen."""
    started = time.monotonic()
    port = free_port()
    server_env = {**SERVER_ENV}
    if p.port_setting == "METRICS_PORT":
        server_env["METRICS_PORT"] = str(port)
    server = start_server(**server_env)
    address = (
        f"127.0.0.1:{port}" if p.port_setting == "METRICS_PORT" else urlsplit(server.url).netloc
    )
    job = p.target.scrape_config(address, TIME_SCALE)
    job["static_configs"][0]["labels"]["pod"] = f"{p.target.labels['service']}-e2e"
    evaluation = duration(seconds(p.evaluation_interval) / TIME_SCALE)
    config = {
        "global": {"scrape_interval": job["scrape_interval"], "evaluation_interval": evaluation},
        "scrape_configs": [job],
    }
    rules = rule_file(p.rule, TIME_SCALE)
    prom = PrometheusServer(
        workdir / "prometheus", config, {"swin-t.rules.yml": rules}, free_port()
    )
    result = Run(
        time_scale=TIME_SCALE,
        step_s=STEP_S,
        server_env=server_env,
        prometheus={
            "scrape_config": job,
            "evaluation_interval": evaluation,
            "for": {
                r["alert"]: [r["for"], scaled["for"]]
                for g, sg in zip(rule_file(p.rule)["groups"], rules["groups"], strict=True)
                for r, scaled in zip(g["rules"], sg["rules"], strict=True)
                if "alert" in r and "for" in r
            },
        },
        specs={env: asdict(spec) for env, spec in p.specs.items()},
    )
    try:
        server.wait_ready()
        prom.start()
        _wait_for_first_values(prom, p, log)
        result.setup_s = round(time.monotonic() - started, 1)
        _go_through_phases(prom, p, server, phases, workdir, result, log)
    finally:
        prom.stop()
        server.stop()
    result.wall_s = round(time.monotonic() - started, 1)
    return result


def _wait_for_first_values(prom: PrometheusServer, p: Plan, log, timeout_s: float = 60) -> None:
    """Until the target is scraped and every trigger query answers one series; else name why."""
    deadline = time.monotonic() + timeout_s
    answers: dict[str, Any] = {}
    while time.monotonic() < deadline:
        answers = {}
        for query in p.queries():
            try:
                answers[query] = len(prom.query(query))
            except QueryError as exc:
                answers[query] = str(exc)
        if all(n == 1 for n in answers.values()):
            log(f"e2e: Prometheus scrapes the server; every trigger query answers ({answers})")
            _wait_for_no_alert(prom, deadline, log)
            return
        time.sleep(0.5)
    problems = []
    for target in prom.targets():
        if target["health"] != "up":
            problems.append(f"scrape of {target['scrapeUrl']}: {target['lastError']}")
    for rule in prom.rules():
        if rule.get("lastError"):
            problems.append(f"rule {rule.get('name')}: {rule['lastError']}")
    known = prom.metric_names() | set(recorded_names([p.rule]))
    for env, scaled in p.scaled_objects.items():
        for trigger in p.specs[env].triggers:
            if answers.get(trigger.query) != 1:
                unknown = sorted(promql_metric_names(trigger.query) - known)
                problems.append(
                    f"{scaled.where}: ScaledObject/{scaled.name} ({env}) trigger {trigger.name} "
                    f"query answered {answers.get(trigger.query)} series, not one"
                    + (f"; Prometheus has no series named {unknown}" if unknown else "")
                )
    raise WiringError("the e2e setup failed:\n  " + "\n  ".join(problems))


def _wait_for_no_alert(prom: PrometheusServer, deadline: float, log) -> None:
    """The alerts on missing inputs go pending while the first scrapes and rule evaluations
    come in; the run starts at a healthy idle, once the rules have seen the data."""
    active: list[str] = []
    while time.monotonic() < deadline:
        active = sorted(a["labels"]["alertname"] for a in prom.alerts())
        if not active:
            return
        time.sleep(0.5)
    raise WiringError(f"the e2e setup failed: alerts still active at idle: {active}")


def _go_through_phases(prom, p: Plan, server, phases, workdir: Path, result: Run, log) -> None:
    autoscalers = {env: Autoscaler.start(spec) for env, spec in p.specs.items()}
    namespace = p.target.labels["namespace"]
    answered_query = (
        f'sum by (status) (rate(http_requests_total{{namespace="{namespace}", '
        'endpoint="/predict"}[5s]))'
    )
    refused_query = (
        f'sum by (reason) (inference_requests_rejected_total{{namespace="{namespace}"}})'
    )
    t0, wall0 = time.monotonic(), time.time()
    next_step = t0
    episodes: dict[tuple[str, str], dict] = {}
    for index, phase in enumerate(phases):
        start = time.monotonic() - t0
        loadtest, summary_path = None, workdir / f"loadtest-{index}.json"
        if phase.load:
            command = [sys.executable, "-m", "tools", "loadtest", server.url + "/predict"]
            command += [*phase.load, "--duration", str(phase.seconds), "--json", str(summary_path)]
            loadtest = subprocess.Popen(
                command,
                cwd=REPO,
                stdout=subprocess.DEVNULL,
                stderr=(workdir / f"loadtest-{index}.log").open("wb"),
            )
        if phase.stop_server:
            server.stop()
        log(f"e2e: {start:6.1f}s  {phase.name} {' '.join(phase.load) or '(no load)'}")
        phase_steps: list[dict] = []
        while True:
            now = time.monotonic()
            elapsed = now - t0 - start
            done = elapsed >= phase.seconds and (loadtest is None or loadtest.poll() is not None)
            if done and phase.until is not None:
                done = phase.until(phase_steps) or elapsed >= phase.max_seconds
            if done:
                break
            next_step = max(next_step + STEP_S, now)
            time.sleep(max(0.0, next_step - time.monotonic()))
            step = _sample(prom, p, autoscalers, answered_query, t0, phase.name)
            step["phase_index"] = index
            result.steps.append(step)
            phase_steps.append(step)
            for alert in step.pop("_alerts"):
                key = (alert["labels"]["alertname"], alert["activeAt"])
                active_at = datetime.fromisoformat(alert["activeAt"].replace("Z", "+00:00"))
                episode = episodes.setdefault(
                    key,
                    {
                        "name": key[0],
                        "active_at": round(active_at.timestamp() - wall0, 2),
                        "fired_at": None,
                        "last_seen": step["t"],
                    },
                )
                episode["last_seen"] = step["t"]
                if alert["state"] == "firing" and episode["fired_at"] is None:
                    episode["fired_at"] = step["t"]
        if loadtest is not None and loadtest.returncode != 0:
            raise RuntimeError(f"loadtest of phase {phase.name} failed: see {workdir}")
        entry = {"name": phase.name, "start": round(start, 2), "end": round(now - t0, 2)}
        entry["load"] = list(phase.load)
        if summary_path.exists():
            entry["loadtest"] = json.loads(summary_path.read_text())
        # The server's own count of refusals by reason so far: how it shed the load.
        try:
            entry["rejected_total"] = {
                s.labels.get("reason", "?"): s.value for s in prom.query(refused_query)
            }
        except (QueryError, httpx.HTTPError):
            entry["rejected_total"] = None
        result.phases.append(entry)
        if phase.check_dashboard:
            result.dashboard = _evaluate_dashboard(prom, p, round(now - t0, 2))
    result.alerts = sorted(episodes.values(), key=lambda e: e["active_at"])


def _sample(prom, p: Plan, autoscalers, answered_query: str, t0: float, phase: str) -> dict:
    t = time.monotonic() - t0
    answers: dict[str, list[float] | None] = {}
    for query in p.queries():
        try:
            answers[query] = [s.value for s in prom.query(query)]
        except (QueryError, httpx.HTTPError):
            answers[query] = None
    envs = {}
    for env, autoscaler in autoscalers.items():
        spec = autoscaler.spec
        decision = autoscaler.sync(
            t * TIME_SCALE, {tr.name: answers[tr.query] for tr in spec.triggers}
        )
        envs[env] = {
            "current": decision.current,
            "proposed": decision.proposed,
            "desired": decision.desired,
            "reason": decision.reason,
            "fallback": decision.fallback_active,
            "readings": {
                r.trigger: {
                    "raw": r.raw,
                    "value": r.value,
                    "replicas": r.replicas,
                    "fallback": r.fallback,
                    "error": r.error,
                }
                for r in decision.readings
            },
        }
    alerts = prom.alerts()
    return {
        "t": round(t, 2),
        "controller_t": t * TIME_SCALE,
        "phase": phase,
        "answered": {s.labels.get("status", "?"): s.value for s in prom.query(answered_query)},
        "alerts": {a["labels"]["alertname"]: a["state"] for a in alerts},
        "envs": envs,
        "_alerts": alerts,
    }


def _evaluate_dashboard(prom, p: Plan, t: float) -> list[dict]:
    results = []
    for query in p.dashboard:
        entry = {"t": t, **asdict(query), "series": 0, "values": [], "error": ""}
        try:
            series = prom.query(query.expr)
            entry["series"], entry["values"] = len(series), [s.value for s in series]
        except QueryError as exc:
            entry["error"] = str(exc)
        results.append(entry)
    return results


def _json_safe(value: Any) -> Any:
    """NaN and infinities as strings: JSON has no numbers for them."""
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return str(value)
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def write(result: Run, out: Path) -> tuple[Path, Path]:
    """build/e2e/autoscaling.json and autoscaling.png."""
    from tools.e2e_plot import plot

    out.mkdir(parents=True, exist_ok=True)
    data = out / "autoscaling.json"
    data.write_text(json.dumps(_json_safe(result.as_json()), indent=1) + "\n")
    image = plot(result.as_json(), out / "autoscaling.png")
    return data, image
