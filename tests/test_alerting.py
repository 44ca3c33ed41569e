"""People hear about trouble: Alertmanager routes by severity to receivers whose secrets are
made out of band (as docs/alerting.md says), Argo CD's notifications and metrics are wired,
and Argo CD's alerts fire when they should (promtool) and reach a receiver (amtool)."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tools.prometheus import MissingTool, require
from tools.render import REPO, merge
from tools.validate import chart_defaults

ENVS = ["dev", "prod"]
DOC = REPO / "docs/alerting.md"


def need(tool: str) -> str:
    try:
        return require(tool)
    except MissingTool as exc:
        pytest.fail(str(exc))


def helm_values(rendered, env: str, chart: str) -> tuple[dict, str]:
    """The values Helm would use (chart defaults + ours) and the release's namespace."""
    source = next(s for app in rendered[env].apps for s in app.helm if s.chart == chart)
    return merge(chart_defaults(source.chart, source.version), source.values), source.namespace


def alertmanager_config(rendered, env: str) -> dict:
    return helm_values(rendered, env, "kube-prometheus-stack")[0]["alertmanager"]["config"]


def argocd_rules(rendered, env: str) -> list[dict]:
    values = helm_values(rendered, env, "argo-cd")[0]
    rules = values["controller"]["metrics"]["rules"]
    assert rules["enabled"] and values["controller"]["metrics"]["enabled"]
    return rules["spec"]


def documented_secret(command_start: str, tmp_path: Path) -> dict:
    """Run the documented `kubectl create secret` command offline (client dry run), with
    placeholder files where it reads the secret values from, and return the Secret."""
    text = DOC.read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines() if line.strip().startswith(command_start)]
    assert len(lines) == 1, f"docs/alerting.md must show `{command_start} ...` once"
    args = shlex.split(lines[0])
    for arg in args:
        if arg.startswith("--from-file="):
            (tmp_path / arg.split("=", 2)[2]).write_text("placeholder\n")
    result = subprocess.run(
        [*args, "--dry-run=client", "-o", "yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "KUBECONFIG": str(tmp_path / "no-cluster")},
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


@pytest.mark.parametrize("env", ENVS)
def test_alertmanager_config_is_valid(rendered, env, tmp_path):
    config = tmp_path / "alertmanager.yaml"
    config.write_text(yaml.safe_dump(alertmanager_config(rendered, env)))
    result = subprocess.run(
        [need("amtool"), "check-config", str(config)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("env", ENVS)
def test_alertmanager_routes_each_severity_to_its_receiver(rendered, env, tmp_path):
    config = tmp_path / "alertmanager.yaml"
    config.write_text(yaml.safe_dump(alertmanager_config(rendered, env)))

    def route(*labels: str) -> str:
        result = subprocess.run(
            [need("amtool"), "config", "routes", "test", f"--config.file={config}", *labels],
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()

    assert route("severity=critical", "alertname=ArgoCdAppDegraded") == "oncall"
    assert route("severity=warning", "alertname=ArgoCdAppOutOfSync") == "team"
    assert route("severity=info", "alertname=Something") == "null"
    assert route("severity=none", "alertname=Watchdog") == "null"
    assert route("alertname=NoSeverity") == "team"  # nothing is dropped by accident


def app_alerts(rendered, env: str) -> list[dict]:
    """The alerting rules of the PrometheusRules that the env's Applications sync."""
    return [
        rule
        for _app, manifest in rendered[env].manifests()
        if manifest.kind == "PrometheusRule"
        for group in manifest.obj["spec"]["groups"]
        for rule in group["rules"]
        if "alert" in rule
    ]


@pytest.mark.parametrize("env", ENVS)
def test_every_alert_severity_has_a_receiver_that_sends_it(rendered, env):
    config = alertmanager_config(rendered, env)
    routed = {
        re.search(r'severity = "(\w+)"', matcher)[1]: route["receiver"]
        for route in config["route"]["routes"]
        for matcher in route.get("matchers", [])
        if "severity" in matcher
    }
    senders = {r["name"] for r in config["receivers"] if len(r) > 1}
    for rule in argocd_rules(rendered, env):
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]
    alerts = argocd_rules(rendered, env) + app_alerts(rendered, env)
    assert len(alerts) > len(argocd_rules(rendered, env)), "the app's alerts were not found"
    for rule in alerts:
        severity = rule["labels"]["severity"]
        assert routed.get(severity) in senders, (rule["alert"], severity)


@pytest.mark.parametrize("env", ENVS)
def test_receiver_secrets_are_mounted_from_the_secret_the_docs_create(rendered, env, tmp_path):
    values, namespace = helm_values(rendered, env, "kube-prometheus-stack")
    spec = values["alertmanager"]["alertmanagerSpec"]
    secret = documented_secret("kubectl -n monitoring create secret", tmp_path)
    assert secret["metadata"]["namespace"] == namespace
    volume = next(v for v in spec["volumes"] if "secret" in v)
    assert volume["secret"]["secretName"] == secret["metadata"]["name"]
    assert volume["secret"]["optional"] is True  # Alertmanager starts before the secret exists
    mount = next(m for m in spec["volumeMounts"] if m["name"] == volume["name"])
    files = {
        value
        for receiver in values["alertmanager"]["config"]["receivers"]
        for configs in receiver.values()
        if isinstance(configs, list)
        for config in configs
        for key, value in config.items()
        if key.endswith("_file")
    }
    assert files, "no receiver reads its secret from a file"
    assert files == {f"{mount['mountPath']}/{key}" for key in secret["data"]}
    assert spec.get("secrets", []) == []  # a listed secret would block the pod until it exists


@pytest.mark.parametrize("env", ENVS)
def test_argocd_notifications_use_the_secret_the_docs_create(rendered, env, tmp_path):
    values, namespace = helm_values(rendered, env, "argo-cd")
    notifications = values["notifications"]
    assert notifications["enabled"] and notifications["secret"]["create"] is False
    secret = documented_secret("kubectl -n argocd create secret", tmp_path)
    assert secret["metadata"]["namespace"] == namespace
    assert secret["metadata"]["name"] == notifications["secret"]["name"]
    referenced = {
        ref
        for text in notifications["notifiers"].values()
        for ref in re.findall(r"\$([\w-]+)", text)
    }
    assert referenced == set(secret["data"])


@pytest.mark.parametrize("env", ENVS)
def test_argocd_notifies_on_sync_failed_degraded_and_deployed(rendered, env):
    notifications = helm_values(rendered, env, "argo-cd")[0]["notifications"]
    templates = {k.removeprefix("template."): k for k in notifications["templates"]}
    triggers = {}
    for key, text in notifications["triggers"].items():
        conditions = yaml.safe_load(text)
        for condition in conditions:
            assert set(condition["send"]) <= templates.keys(), (key, condition["send"])
        triggers[key.removeprefix("trigger.")] = conditions
    assert {"on-sync-failed", "on-health-degraded", "on-deployed"} <= triggers.keys()
    services = {k.removeprefix("service.") for k in notifications["notifiers"]}
    subscriptions = notifications["subscriptions"]
    assert subscriptions, f"clusters/{env}/values/argocd.yaml subscribes nobody"
    for subscription in subscriptions:
        assert set(subscription["triggers"]) <= triggers.keys()
        for recipient in subscription["recipients"]:
            assert recipient.split(":", 1)[0] in services, recipient
    assert notifications["context"]["env"] == env


@pytest.mark.parametrize("env", ENVS)
def test_argocd_components_are_scraped(rendered, env):
    values = helm_values(rendered, env, "argo-cd")[0]
    for component in ("controller", "server", "repoServer", "applicationSet", "notifications"):
        metrics = values[component]["metrics"]
        assert metrics["enabled"] and metrics["serviceMonitor"]["enabled"], component
    prometheus = helm_values(rendered, env, "kube-prometheus-stack")[0]["prometheus"]
    # ServiceMonitors in the argocd namespace, without the release's label, are selected.
    assert prometheus["prometheusSpec"]["serviceMonitorSelectorNilUsesHelmValues"] is False
    assert prometheus["prometheusSpec"]["ruleSelectorNilUsesHelmValues"] is False


def test_argocd_alerts_fire_when_they_should_and_stay_silent_otherwise(rendered, tmp_path):
    rules = []
    for rule in argocd_rules(rendered, "dev"):
        annotations = {k: v for k, v in rule["annotations"].items() if k != "description"}
        rules.append({**rule, "annotations": annotations})
    assert argocd_rules(rendered, "prod") == argocd_rules(rendered, "dev")
    # The same group the chart's template makes (templates/argocd-application-controller/
    # prometheusrule.yaml).
    (tmp_path / "argocd-rules.yaml").write_text(
        yaml.safe_dump({"groups": [{"name": "argocd", "rules": rules}]}, sort_keys=False)
    )
    spec = tmp_path / "argocd.rules-test.yaml"
    shutil.copy(REPO / "tests/rules/argocd.rules-test.yaml", spec)
    promtool = need("promtool")
    check = subprocess.run(
        [promtool, "check", "rules", str(tmp_path / "argocd-rules.yaml")],
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    result = subprocess.run(
        [promtool, "test", "rules", spec.name], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    tested = set(re.findall(r"alertname: (\w+)", spec.read_text()))
    assert tested == {r["alert"] for r in rules}, "every alert needs its promtool test"
