"""python -m tools <command> [options]"""

from __future__ import annotations

import argparse
import sys

from tools import loadtest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    load = commands.add_parser(
        "loadtest", help="load an upload endpoint and report throughput and latency",
        description=loadtest.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    loadtest.add_arguments(load)
    load.set_defaults(run=loadtest.main)
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
