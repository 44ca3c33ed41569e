"""An env's facts, clusters/<env>/cluster-facts.yaml, checked against
clusters/cluster-facts.schema.json before anything reads them.

Every problem is one line that names the file and line, the field, the value as written and
what is allowed (the schema's `description` of that field), so a typo stops here and not
later in AWS or Argo CD. tofu reads the same schema's lists and patterns
(tofu/modules/env-facts), so both sides accept the same facts.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import jsonschema
import yaml

SCHEMA = "clusters/cluster-facts.schema.json"
FACTS = "cluster-facts.yaml"

_YAML_TYPES = {
    "tag:yaml.org,2002:int": "a number",
    "tag:yaml.org,2002:float": "a number",
    "tag:yaml.org,2002:bool": "a boolean",
    "tag:yaml.org,2002:null": "empty",
    "tag:yaml.org,2002:map": "a map",
    "tag:yaml.org,2002:seq": "a list",
}


class FactsError(Exception):
    """Facts that cannot be used; one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass
class _Written:
    """Where a key of the file is, and its value as written (before YAML typed it)."""

    line: int
    text: str
    tag: str


def facts_path(repo: Path, env: str) -> Path:
    return repo / "clusters" / env / FACTS


def environments(repo: Path) -> list[str]:
    return sorted(p.parent.name for p in (repo / "clusters").glob(f"*/{FACTS}"))


@cache
def schema(repo: Path) -> dict:
    return json.loads((repo / SCHEMA).read_text())


def load(repo: Path, env: str) -> dict[str, str]:
    """The facts of `env`, or FactsError with every problem found."""
    path = facts_path(repo, env)
    name = str(path.relative_to(repo))
    if not path.is_file():
        known = ", ".join(environments(repo)) or "none"
        raise FactsError([f"{name}: no such env {env!r} (known: {known})"])
    text = path.read_text()
    try:
        document = yaml.safe_load(text)
        written = _written(yaml.compose(text))
    except yaml.YAMLError as exc:
        raise FactsError([yaml_problem(name, exc)]) from None
    problems = check(document, env, name, written, repo)
    if problems:
        raise FactsError(problems)
    return document["data"]


def check(
    document: object, env: str, name: str, written: dict[str, _Written], repo: Path
) -> list[str]:
    """Problems of one parsed facts file, against the schema and its folder's name."""
    validator = jsonschema.Draft202012Validator(schema(repo))
    # One problem per field (1.30 is a number and so also not in the list: say the first),
    # in the order of the file.
    first: dict[tuple, jsonschema.ValidationError] = {}
    for error in validator.iter_errors(document):
        keyed = error.validator in ("required", "additionalProperties")
        first.setdefault((*error.absolute_path, error.validator if keyed else ""), error)
    problems = [problem for error in first.values() for problem in _describe(error, name, written)]
    data = document.get("data") if isinstance(document, dict) else None
    if isinstance(data, dict) and isinstance(data.get("env"), str) and data["env"] != env:
        problems.append(
            f'{_at(name, written, "env")}: data.env: "{data["env"]}" is not allowed; allowed: '
            f'"{env}", the name of its folder'
        )
    return sorted(problems, key=lambda problem: _line_of(problem, name))


def collisions(repo: Path) -> list[str]:
    """Facts two envs must not share: AWS names derive from the cluster name, so two envs
    with one name collide in an account. Envs whose facts do not load are left to load()."""
    problems: list[str] = []
    owners: dict[str, str] = {}
    for env in environments(repo):
        try:
            name = load(repo, env)["clusterName"]
        except FactsError:
            continue
        if name in owners:
            problems.append(
                f"clusters/{env}/{FACTS}: data.clusterName: {name!r} is also the cluster name "
                f"of clusters/{owners[name]}; every env needs its own"
            )
        owners.setdefault(name, env)
    return problems


def yaml_problem(name: str, exc: yaml.YAMLError) -> str:
    """A YAML syntax error as one line: file:line:column: what the parser says."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    where = f"{name}:{mark.line + 1}:{mark.column + 1}" if mark else name
    problem = getattr(exc, "problem", None) or " ".join(str(exc).split())
    context, context_mark = getattr(exc, "context", None), getattr(exc, "context_mark", None)
    if context and context_mark and context_mark is not mark:
        context += f" that starts at line {context_mark.line + 1}"
    return f"{where}: YAML syntax error: {problem}" + (f" ({context})" if context else "")


def _written(node: yaml.Node | None) -> dict[str, _Written]:
    """data.<key> -> where it is written, from the YAML node tree."""
    if not isinstance(node, yaml.MappingNode):
        return {}
    found = {}
    for key, value in node.value:
        if key.value == "data" and isinstance(value, yaml.MappingNode):
            found[""] = _Written(key.start_mark.line + 1, "", "")
            for fact, fact_value in value.value:
                text = fact_value.value if isinstance(fact_value, yaml.ScalarNode) else ""
                found[fact.value] = _Written(fact.start_mark.line + 1, text, fact_value.tag)
    return found


def _at(name: str, written: dict[str, _Written], key: str) -> str:
    spot = written.get(key) or written.get("")
    return f"{name}:{spot.line}" if spot else name


def _describe(
    error: jsonschema.ValidationError, name: str, written: dict[str, _Written]
) -> list[str]:
    path = [str(p) for p in error.absolute_path]
    if error.validator in ("required", "additionalProperties"):
        return _describe_keys(error, name, written, path)
    allowed = error.schema.get("description", "")
    if path[:1] != ["data"] or len(path) != 2:
        field = ".".join(path) or "(top)"
        return [f"{name}: {field}: {error.message}" + (f"; allowed: {allowed}" if allowed else "")]
    key = path[1]
    spot = written.get(key)
    if error.validator == "type" and spot and spot.tag in _YAML_TYPES:
        problem = f"is {_YAML_TYPES[spot.tag]}, not a string"
        if isinstance(error.instance, int | float) and not isinstance(error.instance, bool):
            problem += f'; write it in quotes, "{spot.text}"'
    else:
        problem = "is not allowed"
    options = error.schema.get("enum", [])
    listed = f" (one of: {', '.join(options)})" if 0 < len(options) <= 6 else ""
    suggestion = _closest(str(error.instance), options) if len(options) > 6 else None
    if suggestion:
        problem += f" (did you mean {suggestion!r}?)"
    return [
        f"{_at(name, written, key)}: data.{key}: {_shown(error.instance, spot)} {problem}; "
        f"allowed: {allowed or error.message}{listed}"
    ]


def _describe_keys(
    error: jsonschema.ValidationError, name: str, written: dict[str, _Written], path: list[str]
) -> list[str]:
    prefix = "".join(f"{p}." for p in path)
    properties = error.schema.get("properties", {})
    if error.validator == "required":
        missing = [k for k in error.validator_value if k not in error.instance]
        if path == ["data"] and missing == ["repoSecret"]:
            return [
                f"{_at(name, written, 'repoURL')}: data.repoURL: "
                f"{_shown(error.instance['repoURL'], None)} is an SSH URL, which Argo CD reads "
                "only with a repository secret; allowed: an https:// URL, or an SSH URL with "
                "data.repoSecret naming that Secret (docs/gitops.md, private repositories)"
            ]
        return [
            f"{_at(name, written, '')}: {prefix}{key} is missing; allowed: "
            f"{properties.get(key, {}).get('description', 'any value')}"
            for key in missing
        ]
    known = list(properties)
    problems = []
    for key in (k for k in error.instance if k not in properties):
        suggestion = _closest(key, known)
        hint = f" (did you mean {suggestion!r}?)" if suggestion else ""
        problems.append(
            f"{_at(name, written, key)}: {prefix}{key} is not a known fact{hint}; allowed: "
            f"{', '.join(known)}"
        )
    return problems


def _line_of(problem: str, name: str) -> int:
    line = problem.removeprefix(f"{name}:").split(":", 1)[0]
    return int(line) if line.isdigit() else 0


def _shown(value: object, spot: _Written | None) -> str:
    """The value as the person wrote it: `1.30`, not the float 1.3 YAML made of it."""
    if spot and spot.text and spot.tag != "tag:yaml.org,2002:str":
        return spot.text
    return json.dumps(value) if not isinstance(value, str) else f'"{value}"'


def _closest(value: str, options: list[str]) -> str | None:
    matches = difflib.get_close_matches(value, [str(o) for o in options], n=1, cutoff=0.75)
    return matches[0] if matches else None
