"""Write the image tag that an env deploys: apps/<app>/overlays/<env>/version.yaml.

CI runs `python -m tools set-image dev <git sha>` after pushing the image it built from that
commit; people rarely need it (promotion copies the file, see `promote`).

Accepted tags, and nothing else:
  - a full git commit SHA, 40 lowercase hex digits: what CI tags every image with, so the
    tag says exactly which commit's code runs (a short SHA can become ambiguous);
  - a release version, MAJOR.MINOR.PATCH with an optional v and -suffix (0.1.0, v1.2.3-rc.1),
    for images built and pushed by hand.
`latest`, branch names and digests are refused: a tag that moves would let two pods of one
Deployment run different code, and Argo CD would never see the change.

Only the `tag:` line changes; comments and layout stay. With --repository, the overlay's
image repository must be the one the image was pushed to (so dev never deploys a tag that
exists in another registry only).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import yaml

from tools.envs import DEFAULT_APP, IMAGE_TAG_FILE, Refused, require_env

GIT_SHA = re.compile(r"^[0-9a-f]{40}$")
RELEASE = re.compile(r"^v?\d+\.\d+\.\d+(-[0-9A-Za-z][0-9A-Za-z.-]*)?$")
# The value of an indented `tag:` line (quoted or plain); a comment after it stays.
TAG_LINE = re.compile(
    r"""^(?P<lead>[ \t]+tag:[ \t]*)(?P<value>"[^"\n]*"|'[^'\n]*'|[^\s#]+)""", re.M
)
IMAGE_NAME = "model-server"  # the image name in apps/<app>/base, rewritten by each overlay


def check_tag(tag: str) -> None:
    if GIT_SHA.match(tag) or RELEASE.match(tag):
        return
    hint = ""
    if re.fullmatch(r"[0-9a-fA-F]{7,39}", tag):
        hint = " (a short SHA: CI tags images with the full 40-digit `git rev-parse HEAD`)"
    elif re.fullmatch(r"[0-9a-fA-F]{40}", tag):
        hint = " (upper-case hex: git prints SHAs in lower case)"
    raise Refused(
        f"tag {tag!r} is neither a full git commit SHA (40 lowercase hex digits) nor a "
        f"release version like 1.2.3 or v1.2.3-rc.1{hint}"
    )


def overlay_repository(repo: Path, app: str, env: str) -> str:
    kustomization = repo / f"apps/{app}/overlays/{env}/kustomization.yaml"
    data = yaml.safe_load(kustomization.read_text()) or {}
    for image in data.get("images", []):
        if image.get("name") == IMAGE_NAME:
            return image.get("newName", IMAGE_NAME)
    raise Refused(f"{kustomization.relative_to(repo)}: images lists no {IMAGE_NAME!r}")


def set_image(
    repo: Path, env: str, tag: str, app: str = DEFAULT_APP, repository: str | None = None
) -> tuple[str, str]:
    """Write TAG into ENV's tag file; returns (old tag, new tag)."""
    require_env(repo, env)
    check_tag(tag)
    relative = IMAGE_TAG_FILE.format(app=app, env=env)
    path = repo / relative
    if not path.is_file():
        raise Refused(f"{relative}: missing (apps/{app} has no overlay for {env})")
    if repository is not None:
        deployed_from = overlay_repository(repo, app, env)
        if deployed_from != repository:
            raise Refused(
                f"apps/{app}/overlays/{env}/kustomization.yaml deploys {IMAGE_NAME} from "
                f"{deployed_from}, but the image was pushed to {repository}: set images[].newName "
                "there to the registry CI pushes to"
            )
    text = path.read_text()
    lines = TAG_LINE.findall(text)
    if len(lines) != 1:
        raise Refused(f"{relative}: expected one `tag:` line under data, found {len(lines)}")
    old = str((yaml.safe_load(text).get("data") or {}).get("tag"))
    # Always quoted: YAML would read some SHAs (all digits, or 1e5...) as numbers.
    path.write_text(TAG_LINE.sub(lambda m: f'{m["lead"]}"{tag}"', text, count=1))
    written = (yaml.safe_load(path.read_text()).get("data") or {}).get("tag")
    if written != tag:
        path.write_text(text)
        raise Refused(f"{relative}: the `tag:` line is not data.tag; nothing was changed")
    return old, tag


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("env", help="an env under clusters/, e.g. dev")
    parser.add_argument("tag", help="a full git commit SHA or a release version")
    parser.add_argument("--app", default=DEFAULT_APP, help=f"default: {DEFAULT_APP}")
    parser.add_argument(
        "--repository",
        help="the image repository the tag was pushed to; refuse if the overlay deploys "
        "from another one",
    )


def main(args: argparse.Namespace) -> int:
    try:
        old, new = set_image(args.repo, args.env, args.tag, args.app, args.repository)
    except Refused as exc:
        print(f"set-image: {exc}", file=sys.stderr)
        return 2
    where = IMAGE_TAG_FILE.format(app=args.app, env=args.env)
    print(f"{where}: {old} -> {new}" if old != new else f"{where}: already {new}")
    return 0
