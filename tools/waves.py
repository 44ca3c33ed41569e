"""The order in which an env comes up: root's objects by sync wave, each wave once the one
before it is healthy. For an env whose Applications sync by hand (autoSync "false"), also the
`argocd` commands that sync them in that order.

Read from the rendered tree, so it is what root really does.
"""

from __future__ import annotations

import argparse
from collections import defaultdict

from tools.argocd import automated_sync_enabled
from tools.render import Rendered, render

WAVE = "argocd.argoproj.io/sync-wave"


def waves(rendered: Rendered) -> dict[int, list[str]]:
    """wave -> `Kind/name` of what root syncs in that wave."""
    found: dict[int, list[str]] = defaultdict(list)
    for manifest in rendered.apps[0].manifests:
        annotations = manifest.obj.get("metadata", {}).get("annotations") or {}
        found[int(annotations.get(WAVE, "0"))].append(f"{manifest.kind}/{manifest.name}")
    return {wave: sorted(found[wave]) for wave in sorted(found)}


def manual_applications(rendered: Rendered) -> dict[int, list[str]]:
    """wave -> names of the Applications that wait for a person."""
    by_wave = {}
    for wave, objects in waves(rendered).items():
        names = [o.split("/", 1)[1] for o in objects if o.startswith("Application/")]
        manual = [n for n in names if not automated_sync_enabled(rendered.app(n).spec)]
        if manual:
            by_wave[wave] = manual
    return by_wave


def describe(rendered: Rendered) -> str:
    lines = [
        f"{rendered.env}: root applies these in order, each wave once the one before is healthy"
    ]
    for wave, objects in waves(rendered).items():
        lines.append(f"  wave {wave:>3}: {', '.join(objects)}")
    manual = manual_applications(rendered)
    if manual:
        lines.append(
            f"{rendered.env}'s Applications sync by hand: sync each wave, in order, once the "
            "one before is healthy:"
        )
        for names in manual.values():
            joined = " ".join(names)
            lines.append(f"  argocd app sync {joined} && argocd app wait {joined} --health")
    return "\n".join(lines) + "\n"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("env", help="an env under clusters/, e.g. dev")


def main(args: argparse.Namespace) -> int:
    print(describe(render(args.env, args.repo)), end="")
    return 0
