"""python -m tools <command> [options]"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from tools import loadtest, mutants, promote, set_image, teardown, waves


def cmd_render(args: argparse.Namespace) -> int:
    from tools.render import render, write

    folder = write(render(args.env, args.repo), args.out)
    print(f"rendered {args.env} into {folder}")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from tools.facts import FactsError, collisions
    from tools.policies import check
    from tools.render import environments, render
    from tools.validate import validate

    started = time.monotonic()
    envs = args.envs or environments(args.repo)
    shared = [] if args.envs else collisions(args.repo)
    for problem in shared:
        print(problem)
    failures = len(shared)
    for env in envs:
        try:
            rendered = render(env, args.repo)
        except FactsError as exc:
            print(f"{env}: the env's facts: {len(exc.problems)} problem(s)")
            for problem in exc.problems:
                print(f"  {problem}")
            failures += len(exc.problems)
            continue
        problems = validate(rendered) + check(rendered)
        objects = sum(len(app.manifests) + 1 for app in rendered.apps)
        charts = sum(len(app.helm) for app in rendered.apps)
        status = "ok" if not problems else f"{len(problems)} problem(s)"
        print(
            f"{env}: {len(rendered.apps)} Applications, {objects} objects, {charts} Helm "
            f"sources: {status}"
        )
        for problem in problems:
            print(f"  {problem}")
        failures += len(problems)
    print(f"render + validate of {', '.join(envs)} took {time.monotonic() - started:.1f}s")
    return 1 if failures else 0


def cmd_diff(args: argparse.Namespace) -> int:
    from tools.diff import as_markdown, as_text, changes

    found = changes(args.base, args.head, args.repo)
    show = as_markdown if args.markdown else as_text
    sys.stdout.write(show(found, args.base, args.head))
    return 1 if args.exit_code and found else 0


def cmd_fetch_schemas(args: argparse.Namespace) -> int:
    from tools.schemas import fetch

    fetch(args.out, args.repo)
    print(
        f"export CRD_SOURCE_DIR={args.out / 'crds'} CHART_VALUES_DIR={args.out / 'charts'} "
        f"REFERENCE_DIR={args.out / 'reference'}"
    )
    return 0


def cmd_aws_emulator(args: argparse.Namespace) -> int:
    from tools import aws_emulator

    return aws_emulator.main()


def main(argv: list[str] | None = None) -> int:
    from tools import doctor as doctor_module
    from tools.aws_emulator import EmulatorMissing
    from tools.facts import FactsError
    from tools.render import REPO, RenderError
    from tools.validate import SetupError

    parser = argparse.ArgumentParser(prog="python -m tools", description=__doc__)
    parser.add_argument("--repo", type=Path, default=REPO, help="repository root")
    commands = parser.add_subparsers(dest="command", required=True)

    render = commands.add_parser("render", help="render an env as Argo CD would")
    render.add_argument("env")
    render.add_argument("--out", type=Path, default=REPO / "rendered")
    render.set_defaults(run=cmd_render)

    check = commands.add_parser("validate", help="render, validate strictly, check policies")
    check.add_argument("envs", nargs="*", help="default: every env under clusters/")
    check.set_defaults(run=cmd_validate)

    diff = commands.add_parser("diff", help="rendered difference between two revisions")
    diff.add_argument("base", help="git revision, e.g. origin/main")
    diff.add_argument("head", nargs="?", default=None, help="default: the working tree")
    diff.add_argument(
        "--exit-code",
        action="store_true",
        help="exit 1 when a rendered env changes, 0 when none does (as git diff --exit-code)",
    )
    diff.add_argument(
        "--markdown", action="store_true", help="for a pull-request comment or job summary"
    )
    diff.set_defaults(run=cmd_diff)

    fetch = commands.add_parser(
        "fetch-schemas", help="download the pinned CRDs and chart values that validate reads"
    )
    fetch.add_argument("--out", type=Path, required=True)
    fetch.set_defaults(run=cmd_fetch_schemas)

    # Commands whose module holds its own arguments, documentation and main().
    for name, module, summary in (
        ("set-image", set_image, "write the image tag an env deploys"),
        ("promote", promote, "copy everything promotable from one env to the next"),
        ("waves", waves, "the order in which root brings an env up"),
        ("teardown", teardown, "delete what Kubernetes made in AWS, before tofu destroy"),
        ("mutants", mutants, "do the tests catch real defects? curated mutations and mutmut"),
        ("loadtest", loadtest, "load an upload endpoint and report throughput and latency"),
    ):
        command = commands.add_parser(
            name,
            help=summary,
            description=module.__doc__,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.add_arguments(command)
        command.set_defaults(run=module.main)

    emulator = commands.add_parser(
        "aws-emulator",
        help="apply, re-plan and destroy the tofu stages against a local AWS API (moto)",
    )
    emulator.set_defaults(run=cmd_aws_emulator)

    doctor = commands.add_parser(
        "doctor",
        help="check this machine and this fork before a first deploy",
        description=doctor_module.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    doctor_module.add_arguments(doctor)
    doctor.set_defaults(run=doctor_module.main)

    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except (RenderError, SetupError, EmulatorMissing, FactsError) as exc:
        for line in str(exc).splitlines():
            print(f"{args.command}: {line}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
