"""Monitoring keeps its data: encrypted EBS volumes from a StorageClass in Git, sized per env,
with a retention that fits the volume."""

from __future__ import annotations

import copy
import re

import pytest

from tools import policies
from tools.render import Rendered

ENVS = ["dev", "prod"]
UNITS = {"": 1, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
PROMETHEUS_UNITS = {"KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40}


def storage_classes(r: Rendered):
    return [m for _a, m in r.manifests() if m.kind == "StorageClass"]


def wave(obj: dict) -> int:
    return int(obj["metadata"].get("annotations", {}).get("argocd.argoproj.io/sync-wave", "0"))


@pytest.mark.parametrize("env", ENVS)
def test_one_default_storage_class_makes_encrypted_gp3_volumes_before_monitoring_needs_them(
    rendered, env
):
    r = rendered[env]
    defaults = [
        m
        for m in storage_classes(r)
        if m.obj["metadata"]
        .get("annotations", {})
        .get("storageclass.kubernetes.io/is-default-class")
        == "true"
    ]
    assert len(defaults) == 1, [m.where for m in defaults]
    (gp3,) = defaults
    assert gp3.obj["provisioner"] == "ebs.csi.aws.com"
    assert gp3.obj["parameters"]["encrypted"] == "true"
    assert gp3.obj["parameters"]["type"] == "gp3"
    assert gp3.obj["volumeBindingMode"] == "WaitForFirstConsumer", "EBS volumes are zonal"
    assert wave(gp3.obj) < wave(r.app("kube-prometheus-stack").application.obj)


@pytest.mark.parametrize("env", ENVS)
def test_prometheus_alertmanager_and_grafana_claim_volumes_of_a_class_that_exists(rendered, env):
    r = rendered[env]
    assert policies.storage_classes_exist(r) == []
    values = r.app("kube-prometheus-stack").helm[0].values
    names = {m.name for m in storage_classes(r)}
    claims = {
        "prometheus": values["prometheus"]["prometheusSpec"]["storageSpec"],
        "alertmanager": values["alertmanager"]["alertmanagerSpec"]["storage"],
    }
    for component, storage in claims.items():
        spec = storage["volumeClaimTemplate"]["spec"]
        assert spec["storageClassName"] in names, component
        assert spec["resources"]["requests"]["storage"], component
    assert values["grafana"]["persistence"]["enabled"] is True
    assert values["grafana"]["persistence"]["storageClassName"] in names
    assert values["grafana"]["deploymentStrategy"]["type"] == "Recreate", (
        "one ReadWriteOnce volume: a rolling update would wait for it for ever"
    )


def test_a_claim_on_a_missing_storage_class_is_refused(rendered):
    r = copy.deepcopy(rendered["dev"])
    values = r.app("kube-prometheus-stack").helm[0].values
    values["prometheus"]["prometheusSpec"]["storageSpec"]["volumeClaimTemplate"]["spec"][
        "storageClassName"
    ] = "gp2"
    problems = policies.storage_classes_exist(r)
    assert len(problems) == 1
    assert (
        "prometheus.prometheusSpec.storageSpec.volumeClaimTemplate.spec.storageClassName"
        in (problems[0])
    )


def quantity(value: str) -> int:
    number, unit = re.fullmatch(r"(\d+)([KMGT]i)?", value).groups()
    return int(number) * UNITS[unit or ""]


def prometheus_size(value: str) -> int:
    number, unit = re.fullmatch(r"(\d+)([KMGT]iB)", value).groups()
    return int(number) * PROMETHEUS_UNITS[unit]


@pytest.mark.parametrize("env", ENVS)
def test_prometheus_deletes_old_data_before_its_volume_fills(rendered, env):
    spec = rendered[env].app("kube-prometheus-stack").helm[0].values["prometheus"]["prometheusSpec"]
    volume = quantity(
        spec["storageSpec"]["volumeClaimTemplate"]["spec"]["resources"]["requests"]["storage"]
    )
    kept = prometheus_size(spec["retentionSize"])
    # Headroom: compaction writes a new block before the old ones go.
    assert kept <= 0.9 * volume, f"clusters/{env}/values/kube-prometheus-stack.yaml"
    assert spec["retention"], "a time limit too"
