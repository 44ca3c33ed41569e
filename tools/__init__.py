"""The repository's own command line: `python -m tools <command>` (see `--help`)."""
