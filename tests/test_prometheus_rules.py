"""PrometheusRule swin-t under promtool: valid, and every rule proven by the scenarios in
tests/rules/swin-t.rules-test.yaml (including missing data), with the durations as written."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from tools.monitoring import dashboard_queries, rule_file
from tools.prometheus import MissingTool, require
from tools.render import REPO, Manifest, Rendered

ENVS = ["dev", "prod"]
RULE_TESTS = REPO / "tests/rules/swin-t.rules-test.yaml"


@pytest.fixture(scope="module")
def promtool() -> str:
    try:
        return require("promtool")
    except MissingTool as exc:
        pytest.fail(str(exc))


def only(r: Rendered, kind: str) -> Manifest:
    found = [m for m in r.app("swin-t").manifests if m.kind == kind]
    assert len(found) == 1, f"expected one {kind} in swin-t, found {len(found)}"
    return found[0]


def write_rules(tmp_path: Path, r: Rendered) -> Path:
    path = tmp_path / f"swin-t-{r.env}.rules.yml"
    path.write_text(yaml.safe_dump(rule_file(only(r, "PrometheusRule")), sort_keys=False))
    return path


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=120)


def rules_of(r: Rendered) -> list[dict]:
    return [rule for g in rule_file(only(r, "PrometheusRule"))["groups"] for rule in g["rules"]]


@pytest.mark.parametrize("env", ENVS)
def test_the_rendered_rules_pass_promtool_check(rendered, env, promtool, tmp_path):
    result = run(promtool, "check", "rules", str(write_rules(tmp_path, rendered[env])))
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_env_loads_the_same_rules_so_one_rule_test_covers_them(rendered):
    dev, prod = (rule_file(only(rendered[e], "PrometheusRule")) for e in ENVS)
    assert dev == prod, "an env patches PrometheusRule swin-t: give it its own rule tests"


def test_the_promtool_scenarios_pass_against_the_rendered_rules(rendered, promtool, tmp_path):
    scenarios = yaml.safe_load(RULE_TESTS.read_text())
    scenarios["rule_files"] = [str(write_rules(tmp_path, rendered["dev"]))]
    test_file = tmp_path / RULE_TESTS.name
    test_file.write_text(yaml.safe_dump(scenarios, sort_keys=False))
    result = run(promtool, "test", "rules", str(test_file))
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_a_scenario_where_it_fires_and_is_silent_at_healthy_idle(rendered):
    scenarios = yaml.safe_load(RULE_TESTS.read_text())["tests"]
    fires, silent_at_idle = set(), set()
    for scenario in scenarios:
        for check in scenario.get("alert_rule_test", []):
            if check["exp_alerts"]:
                fires.add(check["alertname"])
            elif scenario["name"].startswith("healthy idle"):
                silent_at_idle.add(check["alertname"])
    alerts = {r["alert"] for r in rules_of(rendered["dev"]) if "alert" in r}
    assert alerts - fires == set(), f"no scenario in {RULE_TESTS.name} fires these"
    assert alerts - silent_at_idle == set(), "no healthy idle scenario checks these"


def test_every_recording_rule_is_checked_with_present_and_missing_data(rendered):
    scenarios = yaml.safe_load(RULE_TESTS.read_text())["tests"]
    with_value, empty = set(), set()
    for scenario in scenarios:
        for check in scenario.get("promql_expr_test", []):
            (with_value if check["exp_samples"] else empty).add(check["expr"])
    for rule in rules_of(rendered["dev"]):
        if "record" in rule:
            name = rule["record"]
            assert any(name in expr for expr in with_value), f"{name}: no scenario with data"
            if name.endswith((":sum", "_or_idle")):  # KEDA's inputs: missing must stay missing
                assert name in empty, f"{name}: no scenario with the data missing"


@pytest.mark.parametrize("env", ENVS)
def test_the_scaled_object_and_dashboard_queries_are_valid_promql(
    rendered, env, promtool, tmp_path
):
    triggers = only(rendered[env], "ScaledObject").obj["spec"]["triggers"]
    queries = [t["metadata"]["query"] for t in triggers]
    queries += [q.expr for q in dashboard_queries(rendered[env].app("swin-t").manifests)]
    # promtool parses expressions inside rule files only: each query becomes a recording rule.
    records = [{"record": f"query:{i}", "expr": q} for i, q in enumerate(queries)]
    groups = {"groups": [{"name": "queries", "rules": records}]}
    path = tmp_path / "queries.yml"
    path.write_text(yaml.safe_dump(groups))
    result = run(promtool, "check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
