"""`vigil ledger verify` and `vigil sensors tick`: the ledger audit and the sensors, from a shell.

`vigil sensors tick` evaluates every sensor once (`sensors.tick.tick_sensors`) and launches the
runs they request on the instance in `DAGSTER_HOME`; in production the daemon does the same.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from observability_assets.core.ledger import Verification
from sensors.tick import DEFAULT_DEFINITIONS, load_definitions, tick_sensors

if TYPE_CHECKING:
    pass


def verify_ledger(warehouse_path: Path, anchor_path: Path | None = None) -> Verification:
    from resources.ledger import Ledger
    from resources.warehouse import Warehouse

    return Ledger(Warehouse(warehouse_path), anchor_path).verify()


def _cmd_ledger_verify(args: argparse.Namespace) -> int:
    from resources.warehouse import warehouse_from_env

    path = Path(args.warehouse) if args.warehouse else warehouse_from_env().path
    if not path.exists():
        print(f"no warehouse at {path}", file=sys.stderr)
        return 1
    result = verify_ledger(path, Path(args.anchor) if args.anchor else None)
    if result.ok:
        print(result.describe())
        return 0
    print(f"LEDGER VERIFICATION FAILED: {result.describe()}", file=sys.stderr)
    return 1


def _cmd_sensors_tick(args: argparse.Namespace) -> int:
    import dagster as dg

    from observability_assets.cli.instance import ensure_dagster_home

    ensure_dagster_home()
    defs = load_definitions(args.definitions)
    with dg.DagsterInstance.get() as instance:
        results = tick_sensors(defs, instance, args.sensor)
    for result in results:
        print(result.describe(), flush=True)
    failed = [r for r in results if r.error or any(not ok for _, ok in r.runs)]
    return 1 if failed else 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `ledger verify` and `sensors tick` to the `vigil` command line."""
    ledger = subparsers.add_parser("ledger", help="the audit trail of automated decisions (ops.ledger)")
    ledger_commands = ledger.add_subparsers(dest="ledger_command", required=True)
    verify = ledger_commands.add_parser(
        "verify", help="check every row's hash and link; exit 1 naming the first bad row"
    )
    verify.add_argument("--warehouse", help="DuckDB file (default: VIGIL_WAREHOUSE or data/warehouse.duckdb)")
    verify.add_argument("--anchor", help="anchor file (default: <warehouse>.ledger-anchor.json)")
    verify.set_defaults(handler=_cmd_ledger_verify)

    sensors = subparsers.add_parser("sensors", help="Vigil's sensors outside the Dagster daemon")
    sensor_commands = sensors.add_subparsers(dest="sensors_command", required=True)
    tick = sensor_commands.add_parser(
        "tick", help="evaluate every sensor once and launch the runs they request (for cron, CI, the demo)"
    )
    tick.add_argument(
        "--definitions", default=DEFAULT_DEFINITIONS, help="module:attribute of the Definitions"
    )
    tick.add_argument("--sensor", action="append", help="only this sensor (repeatable)")
    tick.set_defaults(handler=_cmd_sensors_tick)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="vigil", description="Vigil ledger and sensor commands.")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    raise SystemExit(main())
