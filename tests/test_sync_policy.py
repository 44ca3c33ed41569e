"""Who syncs what, over the rendered tree: prod waits for a person, dev syncs by itself, root
never undoes an operator's pause (so rollback works from the UI), prod has sync windows."""

from __future__ import annotations

import copy
import re
from zoneinfo import ZoneInfo

import pytest

from tools import policies
from tools.argocd import PAUSES, applied_by_sync, automated_sync_enabled, normalized

ENVS = ["dev", "prod"]


def children(r):
    return r.apps[1:]


def test_prod_applications_wait_for_a_person_and_dev_ones_sync_by_themselves(rendered):
    assert rendered["dev"].facts["autoSync"] == "true"
    assert rendered["prod"].facts["autoSync"] == "false"
    for app in children(rendered["dev"]):
        assert automated_sync_enabled(app.spec), app.name
    for app in children(rendered["prod"]):
        automated = app.spec["syncPolicy"]["automated"]
        # A real boolean: a string "false" would fail Argo CD's schema, not switch sync off.
        assert automated["enabled"] is False, app.name
        assert not automated_sync_enabled(app.spec), app.name
    for env in ENVS:
        assert policies.applications_sync_as_their_env_says(rendered[env]) == []


@pytest.mark.parametrize("env", ENVS)
def test_root_itself_syncs_by_itself_in_every_env(rendered, env):
    root = rendered[env].apps[0]
    assert automated_sync_enabled(root.spec)
    assert root.spec["syncPolicy"]["automated"]["selfHeal"] is True


def test_an_application_that_disagrees_with_its_env_is_reported(rendered):
    r = copy.deepcopy(rendered["prod"])
    r.app("swin-t").application.obj["spec"]["syncPolicy"]["automated"]["enabled"] = True
    problems = policies.applications_sync_as_their_env_says(r)
    assert len(problems) == 1 and "Application/swin-t" in problems[0]
    assert "clusters/prod/cluster-facts.yaml says autoSync 'false'" in problems[0]


@pytest.mark.parametrize("env", ENVS)
@pytest.mark.parametrize("pause", list(PAUSES))
def test_root_sees_no_difference_in_a_paused_child_and_its_sync_keeps_the_pause(
    rendered, env, pause
):
    root = rendered[env].apps[0]
    rules = root.spec["ignoreDifferences"]
    assert "RespectIgnoreDifferences=true" in root.spec["syncPolicy"]["syncOptions"]
    for app in children(rendered[env]):
        desired = app.application.obj
        live = PAUSES[pause](desired)
        # Self-heal only acts on a difference: there is none.
        assert normalized(live, rules) == normalized(desired, rules), app.name
        # A sync of root for another reason writes the live setting back, not Git's.
        applied = applied_by_sync(desired, live, rules)
        assert applied["spec"]["syncPolicy"].get("automated") == live["spec"]["syncPolicy"].get(
            "automated"
        ), app.name
        assert automated_sync_enabled(applied["spec"]) == automated_sync_enabled(live["spec"])


@pytest.mark.parametrize("env", ENVS)
def test_root_still_sees_and_undoes_every_other_change_to_a_child(rendered, env):
    root = rendered[env].apps[0]
    rules = root.spec["ignoreDifferences"]
    desired = rendered[env].app("swin-t").application.obj
    for change in (
        lambda a: a["spec"]["source"].update(targetRevision="some-branch"),
        lambda a: a["spec"]["syncPolicy"]["syncOptions"].remove("RespectIgnoreDifferences=true"),
        lambda a: a["spec"].update(project="default"),
        lambda a: a["spec"]["syncPolicy"].pop("retry"),
    ):
        live = copy.deepcopy(desired)
        change(live)
        assert normalized(live, rules) != normalized(desired, rules)
        assert applied_by_sync(desired, live, rules) == desired


def test_without_the_ignore_rule_root_would_undo_a_pause(rendered):
    r = copy.deepcopy(rendered["dev"])
    assert policies.root_leaves_paused_applications_alone(r) == []
    r.apps[0].application.obj["spec"]["ignoreDifferences"] = [
        {"group": "argoproj.io", "kind": "Application", "jsonPointers": ["/spec/source"]}
    ]
    problems = policies.root_leaves_paused_applications_alone(r)
    assert problems and "self-heal would undo the pause" in problems[0]
    # Ignoring only `enabled` covers the UI's pause but not `argocd app set --sync-policy none`.
    r.apps[0].application.obj["spec"]["ignoreDifferences"] = [
        {
            "group": "argoproj.io",
            "kind": "Application",
            "jsonPointers": ["/spec/syncPolicy/automated/enabled"],
        }
    ]
    problems = policies.root_leaves_paused_applications_alone(r)
    assert problems and "--sync-policy none" in problems[0]
    r.apps[0].application.obj["spec"]["syncPolicy"]["syncOptions"] = []
    assert (
        "lacks RespectIgnoreDifferences=true"
        in policies.root_leaves_paused_applications_alone(r)[0]
    )


def test_prod_has_sync_windows_that_never_block_a_person_and_dev_has_none(rendered):
    for env, r in rendered.items():
        projects = [m for _a, m in r.manifests() if m.kind == "AppProject"]
        assert {p.name for p in projects} == {"platform", "workloads"}
        for project in projects:
            windows = project.obj["spec"].get("syncWindows", [])
            if env == "dev":
                assert windows == [], project.name
                continue
            assert windows, f"prod AppProject/{project.name} has no sync window"
            for window in windows:
                assert window["kind"] in ("allow", "deny")
                assert len(window["schedule"].split()) == 5  # cron: min hour dom month dow
                assert re.fullmatch(r"\d+[hm]", window["duration"])
                ZoneInfo(window["timeZone"])  # a real IANA zone, not an abbreviation
                assert window["applications"] == ["*"]
                # An incident at night must not wait for a Git change: people may always sync.
                assert window["manualSync"] is True


def test_waves_list_what_root_applies_in_order_and_how_to_sync_a_manual_env(rendered):
    from tools import waves

    for env, r in rendered.items():
        order = waves.waves(r)
        assert list(order) == sorted(order)
        applications = [
            o.split("/", 1)[1]
            for objects in order.values()
            for o in objects
            if o.startswith("Application/")
        ]
        assert sorted(applications) == sorted(app.name for app in children(r))
        text = waves.describe(r)
        commands = [line.strip() for line in text.splitlines() if "argocd app sync" in line]
        if env == "dev":
            assert commands == []
            continue
        synced = [name for line in commands for name in line.split("&&")[0].split()[3:]]
        assert synced == applications  # every Application once, lowest wave first
