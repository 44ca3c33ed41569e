"""Download the pinned upstream CRDs and chart default values that `validate` reads, for
machines outside the project's CI (where ../shared holds them already).

Layout written, the same as CRD_SOURCE_DIR / CHART_VALUES_DIR / REFERENCE_DIR expect:
  OUT/crds/<chart>-<version>/*.yaml      CRDs from the projects' release sources
  OUT/charts/<chart>-<version>/values.yaml   `helm show values` of the pinned chart
  OUT/reference/<chart>-<version>/*      upstream files our code follows (an IAM policy)
Every chart version that any env pins (clusters/<env>/chart-versions.yaml) is fetched, so
each env is validated against its own versions; the chart repositories come from
platform/*/application.yaml. The app versions that the CRDs and reference files belong to
are listed below and must move with the chart versions.
"""

from __future__ import annotations

import shutil
import subprocess
import urllib.request
from pathlib import Path

import yaml

from tools.render import REPO, RenderError, environments, load_chart_versions

CRD_URLS = {
    "argo-cd-10.1.1": [
        f"https://raw.githubusercontent.com/argoproj/argo-cd/v3.4.4/manifests/crds/{name}-crd.yaml"
        for name in ("application", "applicationset", "appproject")
    ],
    "aws-load-balancer-controller-3.5.0": [
        "https://raw.githubusercontent.com/kubernetes-sigs/aws-load-balancer-controller/v3.5.0/"
        "helm/aws-load-balancer-controller/crds/crds.yaml"
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


# Upstream files that code in this repository is written from, checked by tests.
REFERENCE_URLS = {
    "aws-load-balancer-controller-3.5.0": [
        "https://raw.githubusercontent.com/kubernetes-sigs/aws-load-balancer-controller/v3.5.0/"
        "docs/install/iam_policy.json"
    ],
}


def chart_repositories(repo: Path = REPO) -> dict[str, str]:
    """chart -> the Helm repository an Application installs it from."""
    repositories = {}
    for path in sorted((repo / "platform").glob("*/application.yaml")):
        app = yaml.safe_load(path.read_text())
        for source in app["spec"].get("sources", []):
            if source.get("chart"):
                repositories[source["chart"]] = source["repoURL"]
    return repositories


def pinned_charts(repo: Path = REPO) -> list[tuple[str, str, str]]:
    """(repoURL, chart, version) of every chart version that some env pins."""
    repositories = chart_repositories(repo)
    charts = set()
    for env in environments(repo):
        for chart, version in load_chart_versions(repo, env).items():
            if chart not in repositories:
                raise RenderError(
                    f"clusters/{env}/chart-versions.yaml: data.{chart}: no Application under "
                    "platform/ installs this chart"
                )
            charts.add((repositories[chart], chart, version))
    return sorted(charts)


def missing_crd_sources(repo: Path = REPO) -> list[str]:
    """Pinned versions of charts whose CRDs we validate against, with no download URL here."""
    known_charts = {name.rsplit("-", 1)[0] for name in CRD_URLS}
    return [
        f"{chart}-{version}"
        for _url, chart, version in pinned_charts(repo)
        if chart in known_charts and f"{chart}-{version}" not in CRD_URLS
    ]


def fetch(out: Path, repo: Path = REPO) -> None:
    missing = missing_crd_sources(repo)
    if missing:
        raise RenderError(
            f"tools/schemas.py CRD_URLS has no CRD source for {', '.join(missing)}: add the "
            "URLs of that release's CRDs"
        )
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
    pinned = {f"{chart}-{version}" for _url, chart, version in pinned_charts(repo)}
    for kind, sources in (("crds", CRD_URLS), ("reference", REFERENCE_URLS)):
        for name, urls in sources.items():
            if name in pinned:
                _download(out / kind / name, urls)


def _download(folder: Path, urls: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for url in urls:
        target = folder / url.rsplit("/", 1)[1]
        try:
            with urllib.request.urlopen(url, timeout=60) as response:
                target.write_bytes(response.read())
        except OSError as exc:
            raise RenderError(f"{url}: {exc} (is the internet reachable from here?)") from None
        print(f"wrote {target}")
