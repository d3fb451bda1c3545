"""`vigil`: the command line of the Vigil code location, one module per command group.

Every command reads the same configuration as the Dagster code location (environment variables,
see the README) and executes through Dagster on the configured instance (`DAGSTER_HOME`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def build_parser() -> argparse.ArgumentParser:
    from observability_assets.cli import analyst, baselines, demo, gate, ops, plan, runs

    parser = argparse.ArgumentParser(
        prog="vigil", description="Vigil reliability observability (Dagster + DuckDB)."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for group in (runs, demo, ops, baselines, analyst, plan, gate):
        group.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from observability_assets.assetkit.settings import SettingError
    from observability_assets.cli.instance import quiet_warnings

    quiet_warnings()
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except SettingError as error:
        # A missing setting is the user's to fix: one line naming it, not a stack trace.
        print(f"vigil: {error}", file=sys.stderr)
        return 2
