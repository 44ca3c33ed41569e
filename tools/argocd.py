"""What Argo CD does with an Application's sync settings, for checks over the rendered tree.

Mirrors Argo CD 3.4 (the version the pinned argo-cd chart installs):
- `automated_sync_enabled` is SyncPolicy.IsAutomatedSyncEnabled (pkg/apis/application/
  v1alpha1/types.go): automated present and `enabled` absent or true.
- `normalized` applies an Application's `ignoreDifferences` rules that use jsonPointers (RFC
  6901) to one object, the way the diff leaves those fields out on both sides;
  `applied_by_sync` is what a sync with RespectIgnoreDifferences=true writes.
- `PAUSES` are the two ways a person pauses auto-sync: the UI's "Disable Auto-Sync" writes
  automated {prune, selfHeal, enabled: false} (ui/.../application-summary.tsx setAutoSync);
  `argocd app set APP --sync-policy none` removes automated (cmd/util/app.go).
"""

from __future__ import annotations

import copy
from collections.abc import Callable


def automated_sync_enabled(spec: dict) -> bool:
    automated = (spec.get("syncPolicy") or {}).get("automated")
    return automated is not None and automated.get("enabled", True) is not False


def _ui_pause(app: dict) -> dict:
    paused = copy.deepcopy(app)
    automated = paused["spec"].setdefault("syncPolicy", {}).get("automated") or {}
    paused["spec"]["syncPolicy"]["automated"] = {
        "prune": bool(automated.get("prune")),
        "selfHeal": bool(automated.get("selfHeal")),
        "enabled": False,
    }
    return paused


def _cli_pause(app: dict) -> dict:
    paused = copy.deepcopy(app)
    (paused["spec"].get("syncPolicy") or {}).pop("automated", None)
    return paused


def _cli_resume(app: dict) -> dict:
    """`argocd app set APP --sync-policy automated` without --auto-prune/--self-heal."""
    resumed = copy.deepcopy(app)
    resumed["spec"].setdefault("syncPolicy", {})["automated"] = {}
    return resumed


PAUSES: dict[str, Callable[[dict], dict]] = {
    "UI Disable Auto-Sync": _ui_pause,
    "argocd app set --sync-policy none": _cli_pause,
    "argocd app set --sync-policy automated (resumed by hand)": _cli_resume,
}


def rules_for(obj: dict, ignore_differences: list[dict]) -> list[dict]:
    """The ignoreDifferences entries that select this object (group, kind, name, namespace)."""
    group = obj.get("apiVersion", "").rpartition("/")[0]
    metadata = obj.get("metadata", {})
    return [
        rule
        for rule in ignore_differences
        if rule.get("group", "") == group
        and rule.get("kind") == obj.get("kind")
        and rule.get("name", metadata.get("name")) == metadata.get("name")
        and rule.get("namespace", metadata.get("namespace")) == metadata.get("namespace")
    ]


def normalized(obj: dict, ignore_differences: list[dict]) -> dict:
    """The object as Argo CD compares it: every jsonPointer of a matching rule removed."""
    result = copy.deepcopy(obj)
    for rule in rules_for(obj, ignore_differences):
        for pointer in rule.get("jsonPointers", []):
            _remove(result, pointer)
    return result


def _remove(obj: dict, pointer: str) -> None:
    parts = _parts(pointer)
    parent = obj
    for part in parts[:-1]:
        if isinstance(parent, list) and part.isdigit() and int(part) < len(parent):
            parent = parent[int(part)]
        elif isinstance(parent, dict) and part in parent:
            parent = parent[part]
        else:
            return
    if isinstance(parent, dict):
        parent.pop(parts[-1], None)
    elif isinstance(parent, list) and parts[-1].isdigit() and int(parts[-1]) < len(parent):
        parent.pop(int(parts[-1]))


def applied_by_sync(target: dict, live: dict, ignore_differences: list[dict]) -> dict:
    """What a sync with RespectIgnoreDifferences=true applies to an existing object: the
    target from Git, with every ignored field taken from the live object (or left out where
    the live object has none), as Argo CD's controller/sync.go normalizeTargetResources does."""
    result = normalized(target, ignore_differences)
    for rule in rules_for(target, ignore_differences):
        for pointer in rule.get("jsonPointers", []):
            found, value = _get(live, pointer)
            if found:
                _set(result, pointer, copy.deepcopy(value))
    return result


def _parts(pointer: str) -> list[str]:
    return [p.replace("~1", "/").replace("~0", "~") for p in pointer.split("/")[1:]]


def _get(obj, pointer: str) -> tuple[bool, object]:
    for part in _parts(pointer):
        if isinstance(obj, dict) and part in obj:
            obj = obj[part]
        elif isinstance(obj, list) and part.isdigit() and int(part) < len(obj):
            obj = obj[int(part)]
        else:
            return False, None
    return True, obj


def _set(obj: dict, pointer: str, value) -> None:
    parts = _parts(pointer)
    for part in parts[:-1]:
        obj = obj.setdefault(part, {})
    obj[parts[-1]] = value
