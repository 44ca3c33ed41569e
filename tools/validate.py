"""Strict validation of a rendered environment.

- Core Kubernetes objects against the JSON schema of the cluster's version, from the
  kubernetes-validate package, strict (unknown fields rejected).
- Custom resources against the openAPIV3Schema of the upstream CRDs of the chart versions the
  env pins (CRD_SOURCE_DIR/<chart>-<version>/, versions from clusters/<env>/
  chart-versions.yaml), made strict the same way (objects with declared properties reject
  others, unless the CRD marks them x-kubernetes-preserve-unknown-fields).
- Every key our Helm values set, against the default values of the chart version the env pins
  (CHART_VALUES_DIR/<chart>-<version>/values.yaml): Helm silently ignores a misspelt key.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import jsonschema
import kubernetes_validate
import yaml

from tools.patches import patches_towards, writer
from tools.render import CHART_VERSIONS_FILE, REPO, HelmSource, Manifest, Rendered

# Keys our values files may set although the chart's defaults do not list them.
FREE_FORM_VALUES: dict[tuple[str, str], str] = {
    ("cluster-autoscaler", "extraArgs"): "a map of cluster-autoscaler command-line flags",
    ("argo-cd", "configs.cm"): "the data of the argocd-cm ConfigMap, any Argo CD setting",
    ("argo-cd", "configs.params"): "the data of argocd-cmd-params-cm, any Argo CD parameter",
    ("gpu-operator", "devicePlugin.config.data"): "named device-plugin config files",
    ("kube-prometheus-stack", "grafana.service"): "grafana subchart values, not in the parent's",
    (
        "kube-prometheus-stack",
        "grafana.nodeSelector",
    ): "grafana subchart values, not in the parent's",
    (
        "kube-prometheus-stack",
        "grafana.persistence",
    ): "grafana subchart values, not in the parent's",
    (
        "kube-prometheus-stack",
        "grafana.deploymentStrategy",
    ): "grafana subchart values, not in the parent's",
    ("kube-prometheus-stack", "kube-state-metrics.nodeSelector"): "subchart values",
    ("gpu-operator", "node-feature-discovery.master.nodeSelector"): "subchart values",
    ("gpu-operator", "node-feature-discovery.worker.tolerations"): "subchart values",
}


# Values handed to Kubernetes as they are (label maps, affinity, resources): their keys are
# Kubernetes' or ours, whatever the chart's defaults hold. They are not free-form: each is
# checked against the Kubernetes schema of the field it becomes (KUBERNETES_FIELD_PLACES).
KUBERNETES_FIELDS = {
    "nodeSelector",
    "labels",
    "annotations",
    "podLabels",
    "podAnnotations",
    "affinity",
    "resources",
    "securityContext",
    "podSecurityContext",
}


# Where each of KUBERNETES_FIELDS lands in a Pod, to validate it there: (container, pod) paths,
# the first that accepts the value wins.
KUBERNETES_FIELD_PLACES: dict[str, tuple[tuple[str, ...], ...]] = {
    "nodeSelector": (("spec", "nodeSelector"),),
    "labels": (("metadata", "labels"),),
    "podLabels": (("metadata", "labels"),),
    "annotations": (("metadata", "annotations"),),
    "podAnnotations": (("metadata", "annotations"),),
    "affinity": (("spec", "affinity"),),
    "resources": (("spec", "containers", 0, "resources"),),
    "securityContext": (("spec", "containers", 0, "securityContext"), ("spec", "securityContext")),
    "podSecurityContext": (("spec", "securityContext"),),
}


class SetupError(Exception):
    """A schema source is missing; the message says how to provide it."""


def crd_dir() -> Path:
    return _source_dir("CRD_SOURCE_DIR", "crds")


def chart_values_dir() -> Path:
    return _source_dir("CHART_VALUES_DIR", "charts")


def reference_dir() -> Path:
    """Upstream files our code is written from, e.g. a controller's IAM policy."""
    return _source_dir("REFERENCE_DIR", "reference")


def _source_dir(variable: str, shared_name: str) -> Path:
    value = os.environ.get(variable)
    path = Path(value) if value else REPO.parent / "shared" / shared_name
    if not path.is_dir():
        raise SetupError(
            f"{variable}={value or path}: no such directory. Point {variable} at the pinned "
            f"upstream {shared_name} (`python -m tools fetch-schemas --out DIR` downloads "
            "them where the internet is reachable)."
        )
    return path


@dataclass
class FieldProblem:
    """A schema violation in one object: where in it, and what."""

    label: str  # Kind/name
    path: list[str | int]
    message: str
    fields: list[list[str | int]]  # the fields to blame: each unknown one, or the bad value

    def __str__(self) -> str:
        return f"{self.label} {_path(self.path) or '(top)'}: {self.message}"


# Errors about a value itself (not about what its parent lacks): the file that wrote the
# value is the one to fix.
_VALUE_ERRORS = {"type", "enum", "const", "pattern", "format", "minimum", "maximum"}


def validate(rendered: Rendered) -> list[str]:
    """Every problem found, each naming the file and the field."""
    version = rendered.facts["kubernetesVersion"]
    folders, problems = crd_folders(rendered)
    schemas = crd_schemas(folders)
    for _app, manifest in rendered.manifests():
        problems += [
            f"{_written_in(manifest, p, rendered.repo)}: {p}"
            for p in field_problems(manifest.obj, version, schemas)
        ]
    # Every other Application and AppProject is a rendered manifest.
    for made_by_tofu in (rendered.apps[0].application, rendered.root_project):
        problems += [
            f"{made_by_tofu.where}: {p}"
            for p in validate_object(made_by_tofu.obj, version, schemas)
        ]
    for app in rendered.apps:
        for source in app.helm:
            problems += check_values_keys(source, rendered.repo, version)
    return problems


def crd_folders(rendered: Rendered) -> tuple[tuple[Path, ...], list[str]]:
    """The CRD folders of the chart versions this env pins, and a problem for each pinned
    chart whose CRDs are known in another version only."""
    root = crd_dir()
    available = [folder.name for folder in sorted(root.iterdir()) if folder.is_dir()]
    folders, problems = [], []
    where = CHART_VERSIONS_FILE.format(env=rendered.env)
    for chart, version in sorted(rendered.chart_versions.items()):
        wanted = f"{chart}-{version}"
        if wanted in available:
            folders.append(root / wanted)
            continue
        others = [name for name in available if _chart_of(name, rendered) == chart]
        if others:
            problems.append(
                f"{where}: data.{chart} is {version!r}, but {root} has the CRDs of "
                f"{', '.join(others)} only (`python -m tools fetch-schemas` downloads them)"
            )
    return tuple(folders), problems


def _chart_of(folder_name: str, rendered: Rendered) -> str | None:
    """The pinned chart a `<chart>-<version>` folder belongs to (chart names hold dashes)."""
    for chart in rendered.chart_versions:
        if folder_name.startswith(f"{chart}-") and "-" not in folder_name[len(chart) + 1 :]:
            return chart
    return None


def validate_object(
    obj: dict, kubernetes_version: str, schemas: dict[tuple[str, str], dict]
) -> list[str]:
    return [str(p) for p in field_problems(obj, kubernetes_version, schemas)]


def field_problems(
    obj: dict, kubernetes_version: str, schemas: dict[tuple[str, str], dict]
) -> list[FieldProblem]:
    label = f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"
    schema = schemas.get((obj.get("apiVersion", ""), obj.get("kind", "")))
    if schema is not None:
        validator = jsonschema.Draft7Validator(schema)
        errors = sorted(validator.iter_errors(obj), key=lambda e: list(e.path))
        return [_problem(label, e) for e in errors]
    try:
        kubernetes_validate.validate(obj, kubernetes_version, strict=True)
    except kubernetes_validate.ValidationError as exc:
        return [_problem(label, exc)]
    except kubernetes_validate.SchemaNotFoundError:
        return [
            FieldProblem(
                label,
                [],
                f"no schema for {obj.get('apiVersion')} {obj.get('kind')} in Kubernetes "
                f"{kubernetes_version} nor in the CRDs of the pinned charts under "
                f"{crd_dir()}",
                [],
            )
        ]
    return []


def _problem(label: str, error: jsonschema.ValidationError) -> FieldProblem:
    path = list(error.absolute_path)
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        declared = error.schema.get("properties", {})
        fields = [[*path, key] for key in error.instance if key not in declared]
    else:
        fields = [path] if error.validator in _VALUE_ERRORS else []
    return FieldProblem(label, path, error.message, fields)


def _written_in(manifest: Manifest, problem: FieldProblem, repo: Path) -> str:
    """The overlay patch that wrote the bad field (and the base it patches), else the file
    the object comes from."""
    built = manifest.built_from or os.path.dirname(manifest.origin)
    found = patches_towards(repo, built, manifest.origin)
    for field in problem.fields if found else []:
        written = writer(found, manifest.obj, field)
        if written is not None:
            return f"{written} (patches {manifest.origin}, as built by {built})"
    return manifest.where


def _path(parts) -> str:
    return ".".join(str(p) for p in parts)


@cache
def crd_schemas(folders: tuple[Path, ...]) -> dict[tuple[str, str], dict]:
    """(apiVersion, kind) -> strict JSON schema, for every CRD in these folders."""
    schemas = {}
    for file in sorted(f for folder in folders for f in folder.rglob("*.y*ml")):
        for doc in yaml.safe_load_all(file.read_text()):
            if not doc or doc.get("kind") != "CustomResourceDefinition":
                continue
            spec = doc["spec"]
            for version in spec["versions"]:
                schema = version.get("schema", {}).get("openAPIV3Schema")
                if schema:
                    key = (f"{spec['group']}/{version['name']}", spec["names"]["kind"])
                    schemas[key] = strict(schema, top=True)
    return schemas


def strict(schema: dict, top: bool = False) -> dict:
    """An OpenAPI v3 CRD schema as JSON schema that rejects fields it does not declare."""
    result = {}
    for key, value in schema.items():
        if key == "properties":
            result[key] = {name: strict(sub) for name, sub in value.items()}
        elif key in ("items", "additionalProperties", "not") and isinstance(value, dict):
            result[key] = strict(value)
        elif key in ("allOf", "anyOf", "oneOf"):
            result[key] = [strict(sub) for sub in value]
        else:
            result[key] = value
    if result.get("nullable") and "type" in result:
        result["type"] = [result["type"], "null"]
    if top:
        # apiVersion, kind and metadata are checked by the API server, not the CRD schema.
        result.setdefault("properties", {}).update(
            {
                "apiVersion": {"type": "string"},
                "kind": {"type": "string"},
                "metadata": {"type": "object"},
            }
        )
    if (
        "properties" in result
        and "additionalProperties" not in result
        and not result.get("x-kubernetes-preserve-unknown-fields")
    ):
        result["additionalProperties"] = False
    return result


@cache
def chart_defaults(chart: str, version: str) -> dict | None:
    path = chart_values_dir() / f"{chart}-{version}" / "values.yaml"
    return yaml.safe_load(path.read_text()) or {} if path.is_file() else None


def check_values_keys(source: HelmSource, repo: Path, kubernetes_version: str) -> list[str]:
    defaults = chart_defaults(source.chart, source.version)
    if defaults is None:
        return [
            f"{', '.join(source.value_files)}: no default values of chart {source.chart} "
            f"{source.version} under {chart_values_dir()} to check the keys against (is "
            "the version in clusters/<env>/chart-versions.yaml exact? a new one needs "
            "`python -m tools fetch-schemas`)"
        ]
    problems = []
    inputs = [(f, yaml.safe_load((repo / f).read_text()) or {}) for f in source.value_files]
    inputs.append((f"Application {source.release_name} helm.valuesObject", source.values_object))
    for where, values in inputs:
        for key, reason in _unknown_keys(source.chart, values, defaults, (), kubernetes_version):
            if reason.startswith("is not a Kubernetes"):
                problems.append(
                    f"{where}: key `{key}` {reason}: chart {source.chart} hands it to "
                    "Kubernetes as it is, where a misspelt field is dropped or refused"
                )
                continue
            problems.append(
                f"{where}: key `{key}` {reason} in the default values of chart "
                f"{source.chart} {source.version} (a misspelt key is ignored by Helm; "
                "list intentional additions in tools/validate.py FREE_FORM_VALUES)"
            )
    return problems


def _unknown_keys(
    chart: str, values, defaults, path: tuple[str, ...], kubernetes_version: str
) -> Iterator[tuple[str, str]]:
    if not isinstance(values, dict):
        return
    for key, value in values.items():
        dotted = ".".join((*path, str(key)))
        if (chart, dotted) in FREE_FORM_VALUES:
            continue
        if not isinstance(defaults, dict) or key not in defaults:
            yield dotted, "does not exist"
            continue
        upstream = defaults[key]
        if key in KUBERNETES_FIELDS:
            if isinstance(upstream, dict) and kubernetes_field_problem(
                key, upstream, kubernetes_version
            ):
                # One per component (keda's resources.operator, resources.metricServer):
                # the component names are the chart's, each value is Kubernetes'.
                yield from _per_component(key, value, upstream, dotted, kubernetes_version)
                continue
            problem = kubernetes_field_problem(key, value, kubernetes_version)
            if problem:
                yield dotted, problem
            continue
        if upstream is None or upstream == {} or isinstance(upstream, list):
            continue  # a free-form map or a list in the chart: anything goes below
        if isinstance(value, dict) and not isinstance(upstream, dict):
            yield dotted, f"is a map here but a {type(upstream).__name__}"
            continue
        yield from _unknown_keys(chart, value, upstream, (*path, str(key)), kubernetes_version)


def _per_component(
    key: str, value, upstream: dict, dotted: str, kubernetes_version: str
) -> Iterator[tuple[str, str]]:
    if not isinstance(value, dict):
        return
    for component, setting in value.items():
        if component not in upstream:
            yield f"{dotted}.{component}", "does not exist"
            continue
        problem = kubernetes_field_problem(key, setting, kubernetes_version)
        if problem:
            yield f"{dotted}.{component}", problem


def kubernetes_field_problem(key: str, value, kubernetes_version: str) -> str | None:
    """Why `value` is not a valid Kubernetes `key` (e.g. `resources.requets`), or None."""
    if not isinstance(value, dict):
        return None  # a chart's own form (a template string, a list): left to the chart
    first = None
    for place in KUBERNETES_FIELD_PLACES[key]:
        pod: dict = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "values"},
            "spec": {"containers": [{"name": "values", "image": "values"}]},
        }
        parent = pod
        for part in place[:-1]:
            parent = parent[part]
        parent[place[-1]] = value
        try:
            kubernetes_validate.validate(pod, kubernetes_version, strict=True)
            return None
        except kubernetes_validate.ValidationError as exc:
            inner = _path(exc.path).removeprefix(_path(place)).lstrip(".")
            first = first or f"is not a Kubernetes {key} ({inner or 'value'}: {exc.message})"
    return first
