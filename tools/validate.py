"""Strict validation of a rendered environment.

- Core Kubernetes objects against the JSON schema of the cluster's version, from the
  kubernetes-validate package, strict (unknown fields rejected).
- Custom resources against the openAPIV3Schema of the pinned upstream CRDs, read from
  CRD_SOURCE_DIR, made strict the same way (objects with declared properties reject others,
  unless the CRD marks them x-kubernetes-preserve-unknown-fields).
- Every key our Helm values set, against the upstream chart's default values
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
from tools.render import REPO, HelmSource, Manifest, Rendered

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
    ("kube-prometheus-stack", "kube-state-metrics.nodeSelector"): "subchart values",
    ("gpu-operator", "node-feature-discovery.master.nodeSelector"): "subchart values",
    ("gpu-operator", "node-feature-discovery.worker.tolerations"): "subchart values",
}


# Values handed to Kubernetes as they are (label maps, affinity, resources): their keys are
# Kubernetes' or ours, whatever the chart's defaults hold; the API server checks them.
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


class SetupError(Exception):
    """A schema source is missing; the message says how to provide it."""


def crd_dir() -> Path:
    return _source_dir("CRD_SOURCE_DIR", "crds")


def chart_values_dir() -> Path:
    return _source_dir("CHART_VALUES_DIR", "charts")


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
    problems = []
    for _app, manifest in rendered.manifests():
        problems += [
            f"{_written_in(manifest, p, rendered.repo)}: {p}"
            for p in field_problems(manifest.obj, version)
        ]
    root = rendered.apps[0].application  # every other Application is a rendered manifest
    problems += [f"{root.where}: {p}" for p in validate_object(root.obj, version)]
    for app in rendered.apps:
        for source in app.helm:
            problems += check_values_keys(source, rendered.repo)
    return problems


def validate_object(obj: dict, kubernetes_version: str) -> list[str]:
    return [str(p) for p in field_problems(obj, kubernetes_version)]


def field_problems(obj: dict, kubernetes_version: str) -> list[FieldProblem]:
    label = f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"
    schema = crd_schemas().get((obj.get("apiVersion", ""), obj.get("kind", "")))
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
                f"{kubernetes_version} nor in the CRDs under {crd_dir()}",
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
def crd_schemas() -> dict[tuple[str, str], dict]:
    """(apiVersion, kind) -> strict JSON schema, for every CRD under CRD_SOURCE_DIR."""
    schemas = {}
    for file in sorted(crd_dir().rglob("*.y*ml")):
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


def check_values_keys(source: HelmSource, repo: Path) -> list[str]:
    defaults = chart_defaults(source.chart, source.version)
    if defaults is None:
        return [
            f"{', '.join(source.value_files)}: no default values of chart {source.chart} "
            f"{source.version} under {chart_values_dir()} to check the keys against (is "
            "the version exact? a new one needs `python -m tools fetch-schemas`)"
        ]
    problems = []
    inputs = [(f, yaml.safe_load((repo / f).read_text()) or {}) for f in source.value_files]
    inputs.append((f"Application {source.release_name} helm.valuesObject", source.values_object))
    for where, values in inputs:
        for key, reason in _unknown_keys(source.chart, values, defaults, ()):
            problems.append(
                f"{where}: key `{key}` {reason} in the default values of chart "
                f"{source.chart} {source.version} (a misspelt key is ignored by Helm; "
                "list intentional additions in tools/validate.py FREE_FORM_VALUES)"
            )
    return problems


def _unknown_keys(chart: str, values, defaults, path: tuple[str, ...]) -> Iterator[tuple[str, str]]:
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
        if (
            key in KUBERNETES_FIELDS
            or upstream is None
            or upstream == {}
            or isinstance(upstream, list)
        ):
            continue  # a free-form map or a list in the chart: anything goes below
        if isinstance(value, dict) and not isinstance(upstream, dict):
            yield dotted, f"is a map here but a {type(upstream).__name__}"
            continue
        yield from _unknown_keys(chart, value, upstream, (*path, str(key)))
