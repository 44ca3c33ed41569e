"""Download the pinned upstream CRDs and chart default values that `validate` reads, for
machines outside the project's CI (where ../shared holds them already).

Layout written, the same as CRD_SOURCE_DIR / CHART_VALUES_DIR expect:
  OUT/crds/<chart>-<version>/*.yaml      CRDs from the projects' release sources
  OUT/charts/<chart>-<version>/values.yaml   `helm show values` of the pinned chart
Chart versions are read from platform/*/application.yaml; the app versions that the CRDs
belong to are listed below and must move with them.
"""

from __future__ import annotations

import shutil
import subprocess
import urllib.request
from pathlib import Path

import yaml

from tools.render import REPO, RenderError

CRD_URLS = {
    "argo-cd-10.1.1": [
        f"https://raw.githubusercontent.com/argoproj/argo-cd/v3.4.4/manifests/crds/{name}-crd.yaml"
        for name in ("application", "applicationset", "appproject")
    ],
    "keda-2.20.2": [
        "https://github.com/kedacore/keda/releases/download/v2.20.2/keda-2.20.2-crds.yaml"
    ],
    "kube-prometheus-stack-88.5.3": [
        "https://raw.githubusercontent.com/prometheus-operator/prometheus-operator/v0.93.1/"
        f"example/prometheus-operator-crd/monitoring.coreos.com_{name}.yaml"
        for name in ("servicemonitors", "podmonitors", "prometheusrules", "probes")
    ],
}


def pinned_charts(repo: Path = REPO) -> list[tuple[str, str, str]]:
    """(repoURL, chart, version) of every upstream chart an Application installs."""
    charts = []
    for path in sorted((repo / "platform").glob("*/application.yaml")):
        app = yaml.safe_load(path.read_text())
        for source in app["spec"].get("sources", []):
            if source.get("chart"):
                charts.append((source["repoURL"], source["chart"], str(source["targetRevision"])))
    return charts


def fetch(out: Path, repo: Path = REPO) -> None:
    if shutil.which("helm") is None:
        raise RenderError(
            "helm is not installed; fetch-schemas reads each pinned chart's default values "
            "with it (helm show values): install Helm 3, https://helm.sh/docs/intro/install/"
        )
    for repo_url, chart, version in pinned_charts(repo):
        folder = out / "charts" / f"{chart}-{version}"
        folder.mkdir(parents=True, exist_ok=True)
        values = subprocess.run(
            ["helm", "show", "values", chart, "--repo", repo_url, "--version", version],
            capture_output=True,
            text=True,
        )
        if values.returncode != 0:
            raise RenderError(f"helm show values {chart} {version}: {values.stderr.strip()}")
        (folder / "values.yaml").write_text(values.stdout)
        print(f"wrote {folder / 'values.yaml'}")
    for name, urls in CRD_URLS.items():
        folder = out / "crds" / name
        folder.mkdir(parents=True, exist_ok=True)
        for url in urls:
            target = folder / url.rsplit("/", 1)[1]
            try:
                with urllib.request.urlopen(url, timeout=60) as response:
                    target.write_bytes(response.read())
            except OSError as exc:
                raise RenderError(f"{url}: {exc} (is the internet reachable from here?)") from None
            print(f"wrote {target}")
