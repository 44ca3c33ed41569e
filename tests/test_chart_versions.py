"""Chart versions are per-env facts (clusters/<env>/chart-versions.yaml): every Application
installs what its env pins, each env is validated against its own versions, and the Renovate
annotations agree with the repositories the Applications install from."""

from __future__ import annotations

import copy
import re
import shutil
from pathlib import Path

import pytest
import yaml

from tests.tools_cli import run_tools
from tools import policies, schemas
from tools.render import REPO, environments, load_chart_versions
from tools.validate import chart_values_dir, crd_dir

ENVS = ["dev", "prod"]
RENOVATE_LINE = re.compile(
    r"^  # renovate: datasource=helm registryUrl=(?P<url>\S+) depName=(?P<dep>\S+)\n"
    r"  (?P<key>[\w-]+): \"(?P<version>[^\"]+)\"$",
    re.MULTILINE,
)


@pytest.mark.parametrize("env", ENVS)
def test_every_chart_is_installed_at_the_version_its_env_pins(rendered, env):
    r = rendered[env]
    assert policies.charts_follow_the_env_pins(r) == []
    installed = {s.chart: s.version for app in r.apps for s in app.helm}
    assert installed == load_chart_versions(REPO, env)


def test_a_pin_no_application_uses_and_a_chart_without_a_pin_are_reported(rendered):
    r = copy.deepcopy(rendered["dev"])
    r.chart_versions["old-chart"] = "1.0.0"
    del r.chart_versions["keda"]
    problems = "\n".join(policies.charts_follow_the_env_pins(r))
    assert "clusters/dev/chart-versions.yaml: data.old-chart pins a chart that no Application" in (
        problems
    )
    assert "Application/keda chart keda has no version in clusters/dev/chart-versions.yaml" in (
        problems
    )


def test_platform_applications_keep_a_placeholder_not_a_version():
    for path in sorted((REPO / "platform").glob("*/application.yaml")):
        app = yaml.safe_load(path.read_text())
        for source in app["spec"]["sources"]:
            if source.get("chart"):
                assert source["targetRevision"] == "CHART_VERSION", path


@pytest.mark.parametrize("env", ENVS)
def test_renovate_annotations_name_the_chart_and_repository_each_application_uses(env):
    text = (REPO / f"clusters/{env}/chart-versions.yaml").read_text()
    annotated = {m["key"]: m for m in RENOVATE_LINE.finditer(text)}
    pins = load_chart_versions(REPO, env)
    assert annotated.keys() == pins.keys(), "every pin needs its `# renovate:` line above it"
    repositories = schemas.chart_repositories()
    for chart, match in annotated.items():
        assert match["dep"] == chart
        assert match["url"] == repositories[chart], chart
        assert match["version"] == pins[chart]


def with_chart_version(tree: Path, env: str, chart: str, old: str, new: str) -> None:
    pins = tree / f"clusters/{env}/chart-versions.yaml"
    text = pins.read_text()
    assert f'{chart}: "{old}"' in text
    pins.write_text(text.replace(f'{chart}: "{old}"', f'{chart}: "{new}"'))


def test_each_env_is_validated_against_the_chart_version_it_pins(tree_copy, tmp_path):
    """dev tries keda 2.99.0, whose defaults (made here) lack `nodeSelector`: dev's values
    fail against it, prod (still on the shared version) passes."""
    with_chart_version(tree_copy, "dev", "keda", "2.20.2", "2.99.0")
    charts = tmp_path / "charts"
    crds = tmp_path / "crds"
    shutil.copytree(chart_values_dir(), charts)
    shutil.copytree(crd_dir(), crds)
    defaults = yaml.safe_load((charts / "keda-2.20.2/values.yaml").read_text())
    del defaults["nodeSelector"]
    (charts / "keda-2.99.0").mkdir()
    (charts / "keda-2.99.0/values.yaml").write_text(yaml.safe_dump(defaults))
    shutil.copytree(crds / "keda-2.20.2", crds / "keda-2.99.0")
    env = {"CHART_VALUES_DIR": str(charts), "CRD_SOURCE_DIR": str(crds)}

    dev = run_tools(tree_copy, "validate", "dev", env=env)
    prod = run_tools(tree_copy, "validate", "prod", env=env)
    assert dev.returncode == 1
    assert "key `nodeSelector` does not exist in the default values of chart keda 2.99.0" in (
        dev.stdout
    ), dev.stdout
    assert prod.returncode == 0, prod.stdout


def test_a_pinned_version_whose_crds_are_missing_is_named(tree_copy):
    with_chart_version(tree_copy, "dev", "keda", "2.20.2", "2.99.0")
    result = run_tools(tree_copy, "validate", "dev")
    assert result.returncode == 1
    assert (
        "clusters/dev/chart-versions.yaml: data.keda is '2.99.0', but "
        f"{crd_dir()} has the CRDs of keda-2.20.2 only"
    ) in result.stdout, result.stdout


def test_fetch_schemas_wants_every_version_that_any_env_pins(tree_copy):
    assert environments(tree_copy) == ENVS
    before = schemas.pinned_charts(tree_copy)
    assert schemas.missing_crd_sources(tree_copy) == []
    with_chart_version(tree_copy, "dev", "keda", "2.20.2", "2.99.0")
    after = schemas.pinned_charts(tree_copy)
    keda = [(chart, version) for _url, chart, version in after if chart == "keda"]
    assert keda == [("keda", "2.20.2"), ("keda", "2.99.0")]
    assert len(after) == len(before) + 1
    # A new version of a chart whose CRDs we validate needs its CRD URLs, and says so.
    assert schemas.missing_crd_sources(tree_copy) == ["keda-2.99.0"]
