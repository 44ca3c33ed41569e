"""Render an environment the way Argo CD would: from the root Application down.

The root Application (bootstrap/root-application.yaml, filled in from
clusters/<env>/cluster-facts.yaml) points at clusters/<env>. Every source in this repository
is built with Kustomize (or read as plain YAML); every Application found in the output is
rendered in turn. Sources from upstream Helm repositories cannot be templated offline, so
for each one the chart, version and the merged values Argo CD would pass are recorded.

Each object remembers the file it came from (Kustomize's origin annotations, added to a
temporary copy of the tree), so that checks can name the file to fix.
"""

from __future__ import annotations

import os
import shutil
import string
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from tools import facts as facts_file

REPO = Path(__file__).resolve().parents[1]
GITOPS_DIRS = ("bootstrap", "clusters", "platform", "apps")
ROOT_APPLICATION = "bootstrap/root-application.yaml"
ROOT_PROJECT = "bootstrap/root-project.yaml"
FACTS_FILE = "clusters/{env}/cluster-facts.yaml"
CHART_VERSIONS_FILE = "clusters/{env}/chart-versions.yaml"
_ORIGIN = "config.kubernetes.io/origin"
_TRANSFORMATIONS = "alpha.config.kubernetes.io/transformations"


class RenderError(Exception):
    """The tree cannot be rendered; the message names the file."""


@dataclass
class Manifest:
    """One rendered object and where it came from (repository-relative paths)."""

    obj: dict
    origin: str
    built_from: str = ""  # the kustomization that was built, when not the origin's own

    @property
    def kind(self) -> str:
        return self.obj.get("kind", "")

    @property
    def name(self) -> str:
        return self.obj.get("metadata", {}).get("name", "")

    @property
    def where(self) -> str:
        """'file (as built by overlay)' for error messages."""
        built = f" (as built by {self.built_from})" if self.built_from else ""
        return f"{self.origin}{built}"


@dataclass
class HelmSource:
    """An upstream chart as Argo CD would install it."""

    repo_url: str
    chart: str
    version: str
    release_name: str
    namespace: str
    value_files: list[str]  # repository-relative, in the order Helm merges them
    values_object: dict
    values: dict  # everything merged


@dataclass
class RenderedApp:
    application: Manifest
    manifests: list[Manifest] = field(default_factory=list)
    helm: list[HelmSource] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.application.name

    @property
    def spec(self) -> dict:
        return self.application.obj.get("spec", {})


@dataclass
class Rendered:
    env: str
    facts: dict[str, str]
    apps: list[RenderedApp]  # the root Application first
    repo: Path
    root_project: Manifest  # made by tofu beside the root Application, not synced by it
    chart_versions: dict[str, str] = field(default_factory=dict)  # chart -> exact version

    def app(self, name: str) -> RenderedApp:
        for app in self.apps:
            if app.name == name:
                return app
        raise KeyError(f"no Application {name!r} in {self.env}")

    def manifests(self) -> list[tuple[RenderedApp, Manifest]]:
        return [(app, m) for app in self.apps for m in app.manifests]


def environments(repo: Path = REPO) -> list[str]:
    return facts_file.environments(repo)


def load_facts(repo: Path, env: str) -> dict[str, str]:
    """The env's facts, checked against their schema (FactsError names every problem)."""
    return facts_file.load(repo, env)


def load_chart_versions(repo: Path, env: str) -> dict[str, str]:
    """chart -> exact version, from clusters/<env>/chart-versions.yaml."""
    where = CHART_VERSIONS_FILE.format(env=env)
    path = repo / where
    if not path.is_file():
        raise RenderError(f"{where}: missing (every env pins its chart versions there)")
    data = (yaml.safe_load(path.read_text()) or {}).get("data") or {}
    if not data:
        raise RenderError(f"{where}: data lists no chart")
    for chart, version in data.items():
        if not isinstance(version, str):
            raise RenderError(
                f"{where}: data.{chart} is {version!r}; quote it, ConfigMap data are strings"
            )
    return data


def bootstrap_object(repo: Path, path: str, facts: dict[str, str]) -> dict:
    """A file that tofu fills in with templatefile() from the env's facts."""
    template = string.Template((repo / path).read_text())
    return yaml.safe_load(
        template.substitute(
            env=facts["env"], repo_url=facts["repoURL"], target_revision=facts["targetRevision"]
        )
    )


def root_application(repo: Path, facts: dict[str, str]) -> dict:
    return bootstrap_object(repo, ROOT_APPLICATION, facts)


def check_syntax(repo: Path) -> None:
    """Every YAML file of the tree parses, else one line per file: file:line:column (kustomize
    would report it without the file)."""
    problems = []
    for name in GITOPS_DIRS:
        for path in sorted((repo / name).rglob("*.y*ml")):
            try:
                for _document in yaml.compose_all(path.read_text()):
                    pass
            except yaml.YAMLError as exc:
                problems.append(facts_file.yaml_problem(str(path.relative_to(repo)), exc))
    if problems:
        raise RenderError("\n".join(problems))


def render(env: str, repo: Path = REPO) -> Rendered:
    facts = load_facts(repo, env)
    chart_versions = load_chart_versions(repo, env)
    check_syntax(repo)
    with tempfile.TemporaryDirectory(prefix="render-") as tmp:
        tree = Path(tmp)
        _copy_with_origins(repo, tree)
        apps: list[RenderedApp] = []
        pending = [Manifest(root_application(repo, facts), ROOT_APPLICATION)]
        seen: set[str] = set()
        while pending:
            application = pending.pop(0)
            if application.name in seen:
                raise RenderError(f"{application.origin}: Application {application.name} twice")
            seen.add(application.name)
            app = _render_application(application, facts, repo, tree)
            apps.append(app)
            pending += [m for m in app.manifests if m.kind == "Application"]
    project = Manifest(bootstrap_object(repo, ROOT_PROJECT, facts), ROOT_PROJECT)
    return Rendered(env, facts, apps, repo, project, chart_versions)


def _sources(spec: dict) -> list[dict]:
    return spec.get("sources") or ([spec["source"]] if spec.get("source") else [])


def _render_application(application: Manifest, facts: dict, repo: Path, tree: Path) -> RenderedApp:
    app = RenderedApp(application)
    spec = application.obj.get("spec", {})
    sources = _sources(spec)
    refs = {s["ref"]: s for s in sources if s.get("ref")}
    for index, source in enumerate(sources):
        if source.get("chart"):
            app.helm.append(_helm_source(application, spec, source, refs, facts, repo))
        elif source.get("path") is not None:
            if source.get("repoURL") != facts["repoURL"]:
                raise RenderError(
                    f"{application.origin}: Application {application.name} "
                    f"spec.sources[{index}] points at {source.get('repoURL')}, not this "
                    f"repository ({facts['repoURL']}): it cannot be rendered offline"
                )
            app.manifests += _render_path(source["path"], tree)
    return app


def _render_path(path: str, tree: Path) -> list[Manifest]:
    directory = tree / path
    if not directory.is_dir():
        raise RenderError(f"{path}: the path an Application points at does not exist")
    if any((directory / k).is_file() for k in ("kustomization.yaml", "kustomization.yml")):
        if shutil.which("kubectl") is None:
            raise RenderError(
                f"{path}: kubectl is needed to build Kustomize overlays (its built-in "
                "kustomize): https://kubernetes.io/docs/tasks/tools/"
            )
        result = subprocess.run(
            ["kubectl", "kustomize", str(directory)], capture_output=True, text=True
        )
        if result.returncode != 0:
            raise RenderError(f"{path}: kustomize failed: {result.stderr.strip()}")
        docs = [d for d in yaml.safe_load_all(result.stdout) if d]
        return [_with_origin(doc, path) for doc in docs]
    manifests = []
    for file in sorted(directory.glob("*.y*ml")):
        for doc in yaml.safe_load_all(file.read_text()):
            if doc:
                manifests.append(Manifest(doc, f"{path}/{file.name}"))
    return manifests


def _with_origin(doc: dict, built: str) -> Manifest:
    metadata = doc.get("metadata", {})
    annotations = metadata.get("annotations", {})
    origin = yaml.safe_load(annotations.pop(_ORIGIN, "") or "") or {}
    annotations.pop(_TRANSFORMATIONS, None)
    if not annotations:
        metadata.pop("annotations", None)
    path = _normalise(built, origin.get("path") or origin.get("configuredIn") or ".")
    return Manifest(doc, path, "" if os.path.dirname(path) == built else built)


def _normalise(built: str, relative: str) -> str:
    return os.path.normpath(os.path.join(built, relative))


def _helm_source(application, spec, source, refs, facts, repo) -> HelmSource:
    helm = source.get("helm", {})
    values: dict = {}
    files = []
    for value_file in helm.get("valueFiles", []):
        ref, _, rest = value_file.partition("/")
        if not (ref.startswith("$") and ref[1:] in refs):
            raise RenderError(
                f"{application.origin}: {value_file}: value files must come from this "
                "repository through a `ref` source ($values/...)"
            )
        path = repo / rest
        if not path.is_file():
            raise RenderError(f"{application.origin}: value file {rest} does not exist")
        files.append(rest)
        values = merge(values, yaml.safe_load(path.read_text()) or {})
    values_object = helm.get("valuesObject") or {}
    values = merge(values, values_object)
    if helm.get("values"):
        values = merge(values, yaml.safe_load(helm["values"]) or {})
    return HelmSource(
        repo_url=source["repoURL"],
        chart=source["chart"],
        version=str(source.get("targetRevision", "")),
        release_name=helm.get("releaseName") or application.name,
        namespace=spec.get("destination", {}).get("namespace", ""),
        value_files=files,
        values_object=values_object,
        values=values,
    )


def merge(base: dict, override: dict) -> dict:
    """Helm's merge of values: maps merge key by key, everything else is replaced."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _copy_with_origins(repo: Path, tree: Path) -> None:
    for name in GITOPS_DIRS:
        if (repo / name).is_dir():
            shutil.copytree(repo / name, tree / name)
    for kustomization in tree.rglob("kustomization.y*ml"):
        data = yaml.safe_load(kustomization.read_text()) or {}
        if data.get("kind", "Kustomization") == "Kustomization":
            data["buildMetadata"] = ["originAnnotations", "transformerAnnotations"]
            kustomization.write_text(yaml.safe_dump(data, sort_keys=False))


def write(rendered: Rendered, out: Path) -> Path:
    """One folder per Application: its own manifest, its objects, and its Helm sources."""
    env_dir = out / rendered.env
    if env_dir.exists():
        shutil.rmtree(env_dir)
    for app in rendered.apps:
        folder = env_dir / app.name
        folder.mkdir(parents=True)
        _dump(folder / "application.yaml", app.application.obj)
        if app is rendered.apps[0]:
            _dump(folder / "appproject.yaml", rendered.root_project.obj)
        for manifest in app.manifests:
            _dump(folder / f"{manifest.kind.lower()}-{manifest.name}.yaml", manifest.obj)
        for source in app.helm:
            _dump(
                folder / f"helm-{source.chart}.yaml",
                {
                    "repoURL": source.repo_url,
                    "chart": source.chart,
                    "version": source.version,
                    "releaseName": source.release_name,
                    "namespace": source.namespace,
                    "valueFiles": source.value_files,
                    "values": source.values,
                },
            )
    return env_dir


def _dump(path: Path, data: dict) -> None:
    path.write_text(yaml.safe_dump(data, sort_keys=False, width=100))
