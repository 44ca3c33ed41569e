"""Which overlay patch wrote a field of a rendered object.

Kustomize's origin annotation names the file an object comes from (the base), not the patch
that added a field to it. A misspelt field in an overlay patch would then be blamed on a base
file that nobody touched. Given the kustomization that was built, this finds the patches on
the way from it to the object's base file that target the object and set the field, and the
line where they set it.

Read: `patches` (file or inline, strategic merge or JSON 6902, with or without `target`),
`patchesStrategicMerge` and `patchesJson6902`, in the built kustomization and every local
resource or component directory on the way to the base file.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

KUSTOMIZATIONS = ("kustomization.yaml", "kustomization.yml", "Kustomization")


@dataclass
class Patch:
    file: str  # repository-relative; a kustomization file for inline patches
    target: dict  # kustomize's selector: kind, name (a regex), namespace, ...
    node: yaml.Node  # the patch document, as YAML nodes (lines included)


@dataclass
class Written:
    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file


def patches_towards(repo: Path, built: str, origin: str) -> list[Patch]:
    """The patches of every kustomization from `built` down to the one that lists `origin`."""
    return _chain(repo, os.path.normpath(built), os.path.normpath(origin), set()) or []


def writer(patches: list[Patch], obj: dict, field: list[str | int]) -> Written | None:
    """The last patch (kustomize applies them in order) that targets obj and sets field."""
    kind = obj.get("kind", "")
    metadata = obj.get("metadata") or {}
    for patch in reversed(patches):
        if not _targets(patch, kind, metadata.get("name", ""), metadata.get("namespace", "")):
            continue
        line = _line_of_field(patch.node, obj, field)
        if line is not None:
            return Written(patch.file, line)
    return None


def _chain(repo: Path, directory: str, origin: str, seen: set[str]) -> list[Patch] | None:
    if directory in seen:
        return None
    seen.add(directory)
    kustomization = next(
        (f"{directory}/{n}" for n in KUSTOMIZATIONS if (repo / directory / n).is_file()), None
    )
    if kustomization is None:
        return None
    try:
        data = yaml.safe_load((repo / kustomization).read_text()) or {}
    except yaml.YAMLError:
        return None
    for entry in [*(data.get("resources") or []), *(data.get("components") or [])]:
        path = os.path.normpath(f"{directory}/{entry}")
        if path == origin:
            return _patches(repo, directory, kustomization, data)
        if (repo / path).is_dir():
            below = _chain(repo, path, origin, seen)
            if below is not None:
                return below + _patches(repo, directory, kustomization, data)
    return None


def _patches(repo: Path, directory: str, kustomization: str, data: dict) -> list[Patch]:
    found: list[Patch] = []
    entries = [*(data.get("patchesStrategicMerge") or []), *(data.get("patchesJson6902") or [])]
    for entry in [*entries, *(data.get("patches") or [])]:
        if isinstance(entry, str):  # patchesStrategicMerge: a file, or an inline patch
            entry = {"path": entry} if "\n" not in entry else {"patch": entry}
        target = entry.get("target") or {}
        if entry.get("path"):
            file = os.path.normpath(f"{directory}/{entry['path']}")
            try:
                nodes = list(yaml.compose_all((repo / file).read_text()))
            except (OSError, yaml.YAMLError):
                continue
        elif entry.get("patch"):
            file = kustomization
            try:
                nodes = list(yaml.compose_all(entry["patch"]))
            except yaml.YAMLError:
                continue
            # An inline patch's lines count from its own start: name the kustomization only.
            nodes = [_without_lines(n) for n in nodes if n is not None]
        else:
            continue
        found += [Patch(file, target, node) for node in nodes if node is not None]
    return found


def _targets(patch: Patch, kind: str, name: str, namespace: str) -> bool:
    selector = patch.target
    if not selector and isinstance(patch.node, yaml.MappingNode):
        # A strategic merge patch names its object itself.
        own = _scalar(patch.node, "kind"), _scalar(_child(patch.node, "metadata"), "name")
        return own == (kind, name)
    for key, value in (("kind", kind), ("name", name), ("namespace", namespace)):
        wanted = selector.get(key)
        if wanted and not re.fullmatch(str(wanted), value or ""):
            return False
    return bool(selector)


def _line_of_field(node: yaml.Node, obj: dict, field: list[str | int]) -> int | None:
    if isinstance(node, yaml.SequenceNode):  # JSON 6902: a list of operations
        for operation in node.value:
            op, path = _scalar(operation, "op"), _scalar(operation, "path")
            if op not in ("add", "replace") or path is None:
                continue
            steps = [s.replace("~1", "/").replace("~0", "~") for s in path.split("/")[1:]]
            if [str(s) for s in field[: len(steps)]] == steps:
                rest, value = field[len(steps) :], _child(operation, "value")
                if not rest:
                    return operation.start_mark.line + 1
                found = _walk(value, _at(obj, field[: len(steps)]), rest)
                if found is not None:
                    return found
        return None
    return _walk(node, obj, field)


def _walk(node: yaml.Node | None, obj: object, field: list[str | int]) -> int | None:
    """The line of `field` in a strategic merge patch, following the rendered object."""
    line = None
    for step in field:
        if isinstance(step, int):
            if not isinstance(node, yaml.SequenceNode) or not isinstance(obj, list):
                return None
            node, obj = _element(node, obj, step), obj[step] if step < len(obj) else None
        else:
            if not isinstance(node, yaml.MappingNode):
                return None
            key = next((k for k, _ in node.value if k.value == step), None)
            if key is None:
                return None
            line = key.start_mark.line + 1
            node, obj = _child(node, step), obj.get(step) if isinstance(obj, dict) else None
    return line if node is not None else None


def _element(node: yaml.SequenceNode, obj: list, index: int) -> yaml.Node | None:
    """The patch's list item merged into obj[index]: lists of named items merge by name."""
    name = obj[index].get("name") if index < len(obj) and isinstance(obj[index], dict) else None
    if name is not None:
        return next((item for item in node.value if _scalar(item, "name") == name), None)
    return node.value[index] if index < len(node.value) else None


def _at(obj: object, path: list[str | int]) -> object:
    for step in path:
        try:
            obj = obj[step]  # type: ignore[index]
        except (KeyError, IndexError, TypeError):
            return None
    return obj


def _child(node: yaml.Node | None, key: str) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        return next((v for k, v in node.value if k.value == key), None)
    return None


def _scalar(node: yaml.Node | None, key: str) -> str | None:
    child = _child(node, key)
    return child.value if isinstance(child, yaml.ScalarNode) else None


def _without_lines(node: yaml.Node) -> yaml.Node:
    """Marks the nodes of an inline patch with line 0: found, but not locatable."""
    mark = yaml.Mark("", 0, -1, 0, None, None)
    stack = [node]
    while stack:
        current = stack.pop()
        current.start_mark = mark
        if isinstance(current, yaml.MappingNode):
            stack += [n for pair in current.value for n in pair]
        elif isinstance(current, yaml.SequenceNode):
            stack += current.value
    return node
