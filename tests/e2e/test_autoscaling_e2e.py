"""Autoscaling and alerts end to end: the model server under real load, a real Prometheus
scraping it through the rendered ServiceMonitor and evaluating the rendered PrometheusRule,
and each env's rendered ScaledObject turned into replica counts by tools/autoscaler.py.

One run (tools/e2e.py, about four minutes) feeds every test here; it writes
build/e2e/autoscaling.json and build/e2e/autoscaling.png. `make e2e` runs only this.
"""

from __future__ import annotations

import math

import pytest

from tools import e2e
from tools.autoscaler import HPA_SYNC_PERIOD_S, ScalingSpec, fallback_replicas
from tools.monitoring import OTHER_EXPORTERS, recorded_names, rule_file, source_metrics
from tools.prometheus import MissingTool, require
from tools.render import REPO

OUT = REPO / "build" / "e2e"
# In which phases each alert of PrometheusRule swin-t must fire; it must not start (go
# pending) in any other. Empty: silent throughout. SwinTNoPodAvailable reads kube-state-metrics,
# which this run does not have; the promtool scenarios prove it (tests/rules/).
ALERT_PHASES = {
    "SwinTHighLatency": {"ramp", "overload"},
    "SwinTSheddingLoad": {"overload"},
    "SwinTServerErrors": set(),
    "SwinTNoPodAvailable": set(),
    "SwinTMetricsDown": {"scrape stopped"},
    "SwinTAutoscalerInputMissing": {"scrape stopped"},
}


@pytest.fixture(scope="module")
def run(rendered, start_module_server, tmp_path_factory) -> dict:
    try:
        require("prometheus")
    except MissingTool as exc:
        pytest.fail(str(exc))
    plan = e2e.plan(rendered)
    result = e2e.run(plan, start_module_server, tmp_path_factory.mktemp("e2e"))
    data, image = e2e.write(result, OUT)
    print(f"\ne2e: {result.wall_s}s (setup {result.setup_s}s); wrote {data} and {image}")
    return result.as_json()


@pytest.fixture(scope="module")
def specs(rendered) -> dict[str, ScalingSpec]:
    return e2e.plan(rendered).specs


def phase_steps(run: dict, name: str, occurrence: int = 0) -> list[dict]:
    """The steps of the `occurrence`-th phase entry called `name`."""
    indexes = [i for i, p in enumerate(run["phases"]) if p["name"] == name]
    return [s for s in run["steps"] if s["phase_index"] == indexes[occurrence]]


def phase_at(run: dict, t: float) -> str:
    for phase in run["phases"]:
        if phase["start"] <= t < phase["end"]:
            return phase["name"]
    return "after the run"


def value(step: dict, env: str, trigger: str) -> float | None:
    return step["envs"][env]["readings"][trigger]["value"]


def over_target(spec: ScalingSpec, step: dict, env: str) -> bool:
    """Some trigger asks for more replicas than the current count, beyond the tolerance."""
    current = step["envs"][env]["current"]
    for trigger in spec.triggers:
        v = value(step, env, trigger.name)
        per = current if trigger.metric_type == "AverageValue" else 1
        if v is not None and v > trigger.threshold * per * (1 + spec.scale_up.tolerance):
            return True
    return False


def test_idle_gives_min_replicas_and_every_trigger_reads_zero(run, specs):
    steps = phase_steps(run, "idle")
    assert len(steps) >= 10
    for env, spec in specs.items():
        for step in steps:
            assert step["envs"][env]["desired"] == spec.min_replicas, (env, step)
            for trigger in spec.triggers:
                assert value(step, env, trigger.name) == 0, (env, trigger.name, step)


def test_light_load_stays_under_the_targets_at_min_replicas(run, specs):
    for env, spec in specs.items():
        for step in phase_steps(run, "ramp", 0):
            assert not over_target(spec, step, env), f"light load already over a target: {step}"
            assert step["envs"][env]["desired"] == spec.min_replicas, (env, step)


def test_load_scales_up_within_the_expected_number_of_evaluations(run, specs):
    loaded = phase_steps(run, "ramp", 0) + phase_steps(run, "ramp", 1)
    loaded += phase_steps(run, "overload")
    for env, spec in specs.items():
        steps = [s["envs"][env] for s in loaded]
        crossing = next(
            (
                i
                for i, s in enumerate(loaded)
                if over_target(spec, s, env) and steps[i]["current"] < spec.max_replicas
            ),
            None,
        )
        assert crossing is not None, f"{env}: the load never took a trigger over its target"
        assert loaded[crossing]["phase"] == "ramp", f"{env}: the ramp did not reach a target"
        # The HPA acts at the first sync after the scale-up window; 0 s means at once.
        window = spec.scale_up.stabilization_window_seconds
        expected = crossing + math.ceil(window / HPA_SYNC_PERIOD_S)
        first_up = next(i for i, s in enumerate(steps) if s["desired"] > s["current"])
        assert first_up == expected, (
            f"{env}: scaled up {first_up - crossing} evaluations after a trigger went over its "
            f"target; expected {expected - crossing} (scaleUp window {window}s)"
        )
        assert any(s["desired"] == spec.max_replicas for s in steps), (
            f"{env}: never reached maxReplicaCount {spec.max_replicas} under load"
        )


def test_the_ramp_is_admitted_whole_and_the_overload_is_shed_with_retry_after(run):
    # The server's own refusal counter (cumulative) at the end of each phase.
    for phase in run["phases"]:
        if phase["name"] in ("idle", "ramp"):
            assert not phase["rejected_total"], f"refused before the overload: {phase}"
    overload = next(p for p in run["phases"] if p["name"] == "overload")
    assert overload["rejected_total"], "the overload was not shed"
    shed = overload["loadtest"]["shed"]
    assert shed["count"] > 0 and shed["with_retry_after"] == shed["count"], shed


def test_back_at_idle_scale_down_waits_for_the_stabilization_window(run, specs):
    steps = phase_steps(run, "idle again")
    for env, spec in specs.items():
        window = spec.scale_down.stabilization_window_seconds
        down = next(
            i for i, s in enumerate(steps) if s["envs"][env]["desired"] < s["envs"][env]["current"]
        )
        current = steps[down]["envs"][env]["current"]
        earlier = [s for s in run["steps"] if s["t"] < steps[down]["t"]]
        high = [s for s in earlier if (s["envs"][env]["proposed"] or 0) >= current]
        last_high = high[-1]["controller_t"]
        waited = steps[down]["controller_t"] - last_high
        not_yet = steps[down - 1]["controller_t"] - last_high
        # The HPA drops a recommendation once it is `window` old: not a step before, and at
        # the first step after (times in controller seconds, one step is one sync).
        assert not_yet < window <= waited, (
            f"{env}: scaled down {waited:.1f}s (controller time) after the last proposal of "
            f"{current} or more, {not_yet:.1f}s was too early; the window is {window}s"
        )
    dev = specs["dev"]
    assert steps[-1]["envs"]["dev"]["desired"] == dev.min_replicas, "dev is not back at min"


def test_a_stopped_scrape_holds_replicas_and_the_fallback_takes_over(run, specs):
    steps = phase_steps(run, "scrape stopped")
    for env, spec in specs.items():
        errors = [
            i
            for i, s in enumerate(steps)
            if any(r["error"] for r in s["envs"][env]["readings"].values())
        ]
        assert errors, f"{env}: the triggers never failed after the scrape stopped"
        first = errors[0]
        # Prometheus notices at its next scrape (1 s here) and the rules at their next
        # evaluation (2 s); a few more steps allow for a busy machine.
        assert steps[first]["t"] - steps[0]["t"] <= 6, f"{env}: triggers read values too long"
        before = steps[first]["envs"][env]["current"]
        for step in steps[first:]:
            assert step["envs"][env]["desired"] >= step["envs"][env]["current"], (
                f"{env}: scaled down while the metrics were missing: {step}"
            )
        active = [i for i, s in enumerate(steps) if s["envs"][env]["fallback"]]
        assert active, f"{env}: the fallback never took over"
        # KEDA falls back once a trigger failed more than failureThreshold times in a row.
        assert active[0] - first == spec.fallback.failure_threshold, (env, first, active)
        hold = fallback_replicas(spec.fallback, before)
        assert steps[-1]["envs"][env]["desired"] == hold >= before, (env, steps[-1])


def test_each_alert_fires_in_its_phase_and_no_other_starts(run, rendered):
    rules = rule_file(e2e.plan(rendered).rule)
    alerts = {r["alert"] for g in rules["groups"] for r in g["rules"] if "alert" in r}
    assert set(ALERT_PHASES) == alerts, "say in ALERT_PHASES in which phases each alert fires"
    for name, phases in ALERT_PHASES.items():
        episodes = [e for e in run["alerts"] if e["name"] == name]
        for episode in episodes:
            started = phase_at(run, episode["active_at"])
            assert started in phases, f"{name} went pending during {started!r}: {episode}"
        if phases:
            fired = [phase_at(run, e["fired_at"]) for e in episodes if e["fired_at"] is not None]
            assert set(fired) & phases, f"{name} did not fire in {phases}: {episodes}"


def test_every_dashboard_panel_query_evaluates_and_the_servers_have_data_after_load(run, rendered):
    recorded = recorded_names([e2e.plan(rendered).rule])
    assert run["dashboard"], "the dashboard was not evaluated"
    for query in run["dashboard"]:
        where = f"{query['where']}: panel {query['panel']!r} {query['ref_id']}"
        assert not query["error"], f"{where}: {query['error']}"
        others = source_metrics(query["expr"], recorded) & OTHER_EXPORTERS.keys()
        if not others:  # only the server's own metrics: data is expected after the load
            finite = [v for v in query["values"] if isinstance(v, float) and math.isfinite(v)]
            assert finite, f"{where}: no data after the load phase (`{query['expr']}`)"
