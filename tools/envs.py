"""The envs of this repository and the files of an env that move from one env to the next."""

from __future__ import annotations

from pathlib import Path

from tools.render import CHART_VERSIONS_FILE, environments

# What `promote` copies whole from one env to the next: the image tag of every app and the
# env's chart versions. Everything else in an env (its facts, values, scaling, load balancer)
# belongs to that env and never moves.
IMAGE_TAG_FILE = "apps/{app}/overlays/{env}/version.yaml"
DEFAULT_APP = "swin-t"


class Refused(Exception):
    """A command refuses to act; the message says why and what to do instead."""


def require_env(repo: Path, env: str) -> None:
    known = environments(repo)
    if env not in known:
        raise Refused(
            f"unknown env {env!r}: there is no clusters/{env}/cluster-facts.yaml "
            f"(known: {', '.join(known) or 'none'})"
        )


def promotable_files(repo: Path, env: str) -> list[str]:
    """Repository-relative paths of what ENV hands on to the next env."""
    tags = sorted(
        str(path.relative_to(repo)) for path in repo.glob(IMAGE_TAG_FILE.format(app="*", env=env))
    )
    return [*tags, CHART_VERSIONS_FILE.format(env=env)]
