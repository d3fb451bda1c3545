"""`vigil`: the command line of the Vigil code location.

Every command reads the same configuration as the Dagster code location (environment variables,
see the README) and executes through Dagster on the configured instance (`DAGSTER_HOME`), so what
it runs shows in the UI like any other run.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

QUIET_LOGGING = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}
INSTANCE_YAML = "telemetry:\n  enabled: false\n"


def quiet_warnings() -> None:
    """Dagster's beta/preview notices and backfill-policy hints are for developers, not for users."""
    import warnings

    warnings.filterwarnings("ignore", message=r".*(is currently in beta|is currently in preview).*")
    warnings.filterwarnings("ignore", message=r".*varying BackfillPolicies.*")


def ensure_dagster_home() -> Path:
    """Use `DAGSTER_HOME`, or `.dagster_home` in the working directory, with telemetry off."""
    home = Path(os.environ.get("DAGSTER_HOME") or Path.cwd() / ".dagster_home").resolve()
    home.mkdir(parents=True, exist_ok=True)
    os.environ["DAGSTER_HOME"] = str(home)
    config = home / "dagster.yaml"
    if not config.exists():
        shipped = Path.cwd() / "dagster.yaml"
        config.write_text(shipped.read_text() if shipped.exists() else INSTANCE_YAML)
    return home


@dataclass
class RunSummary:
    partitions_ok: list[str] = field(default_factory=list)
    partitions_failed: dict[str, str] = field(default_factory=dict)
    steps_failed: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.partitions_failed and not self.steps_failed


def _failure_text(result) -> str:
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data and event.step_failure_data.error:
            return f"{event.step_key}: {event.step_failure_data.error.message.strip()}"
    return "run failed"


# After the daily partitions: (label, job, whether it needs the partition range, demo only).
# The health history is one single-run backfill over the range; the shadow replay needs a
# baseline and a candidate, which only the demo starts by itself.
FOLLOW_UP_JOBS = (
    ("daily models over the range", "daily_models", True, False),
    ("service health history and SLOs", "health_probe", True, False),
    ("shadow replay and canary verdict", "shadow_canary", False, True),
    ("staging, marts and reports", "refresh_derived", False, False),
)


def run_range(
    start: date, end: date, *, ingest_only: bool = False, demo: bool = False, out=sys.stdout
) -> RunSummary:
    """Materialize the daily partitions from `start` to `end`, then everything downstream."""
    import dagster as dg

    from observability_assets.definitions import defs

    if end < start:
        raise SystemExit(f"--to {end} is before --from {start}")
    ensure_dagster_home()
    instance = dg.DagsterInstance.get()
    summary = RunSummary()
    began = time.monotonic()
    days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    ingest = defs.resolve_job_def("ingest_raw")
    for index, day in enumerate(days, 1):
        key = day.isoformat()
        t0 = time.monotonic()
        result = ingest.execute_in_process(
            partition_key=key, instance=instance, run_config=QUIET_LOGGING, raise_on_error=False
        )
        status = "ok" if result.success else "FAILED"
        print(
            f"[{index:>3}/{len(days)}] {key}  ingest {status:<6} {time.monotonic() - t0:6.1f} s",
            file=out,
            flush=True,
        )
        if result.success:
            summary.partitions_ok.append(key)
        else:
            summary.partitions_failed[key] = _failure_text(result)
    for label, job_name, ranged, demo_only in () if ingest_only else FOLLOW_UP_JOBS:
        if (demo_only and not demo) or not _has_job(defs, job_name):
            continue
        t0 = time.monotonic()
        tags = (
            {
                "dagster/asset_partition_range_start": start.isoformat(),
                "dagster/asset_partition_range_end": end.isoformat(),
            }
            if ranged
            else None
        )
        result = defs.resolve_job_def(job_name).execute_in_process(
            instance=instance, run_config=QUIET_LOGGING, tags=tags, raise_on_error=False
        )
        if not result.success:
            summary.steps_failed[label] = _failure_text(result)
        status = "ok" if result.success else "FAILED"
        print(f"[{job_name}] {label} {status} {time.monotonic() - t0:6.1f} s", file=out, flush=True)
    # Writes may have deferred the analyst snapshot (VIGIL_SNAPSHOT_INTERVAL_S); publish the end state.
    from resources.warehouse import warehouse_from_env

    warehouse_from_env().publish_snapshot()
    summary.seconds = time.monotonic() - began
    return summary


def _has_job(defs, name: str) -> bool:
    return any(job.name == name for job in defs.jobs or [])


def print_summary(summary: RunSummary, out=sys.stdout) -> None:
    from resources.warehouse import warehouse_from_env

    warehouse = warehouse_from_env()
    print("", file=out)
    print(
        f"Partitions: {len(summary.partitions_ok)} ok, {len(summary.partitions_failed)} failed "
        f"in {summary.seconds:.1f} s",
        file=out,
    )
    for key, error in summary.partitions_failed.items():
        print(f"  {key}: {error}", file=out)
    for label, error in summary.steps_failed.items():
        print(f"  {label}: {error}", file=out)
    print("\nWarehouse tables (rows):", file=out)
    for name, rows in table_counts(warehouse):
        print(f"  {name:<32} {rows:>12,}", file=out)
    print(f"\nWarehouse: {warehouse.path}\nAnalyst snapshot (read-only): {warehouse.snapshot_path}", file=out)


def table_counts(warehouse) -> list[tuple[str, int]]:
    """Exact row counts of every warehouse table, in one short read."""
    from resources.warehouse import quote_identifier

    with warehouse.read("table counts") as con:
        tables = con.execute(
            "SELECT schema_name, table_name FROM duckdb_tables() ORDER BY schema_name, table_name"
        ).fetchall()
        return [
            (
                f"{schema}.{name}",
                con.execute(
                    f"SELECT count(*) FROM {quote_identifier(schema)}.{quote_identifier(name)}"  # noqa: S608
                ).fetchall()[0][0],
            )
            for schema, name in tables
        ]


def _cmd_run(args: argparse.Namespace) -> int:
    summary = run_range(args.start, args.end, ingest_only=args.ingest_only)
    print_summary(summary)
    return 0 if summary.ok else 1


def _cmd_demo(args: argparse.Namespace) -> int:
    from observability_assets.demo.embedded import demo_spec_from_env
    from observability_assets.demo.verify import verify_against_simulation

    spec = demo_spec_from_env()
    end = spec.start + timedelta(days=spec.days - 1)
    print(f"Vigil demo: simulated organisation seed {spec.seed}, {spec.start} to {end}\n", flush=True)
    summary = run_range(spec.start, end, demo=True)
    print_summary(summary)
    if not summary.ok:
        return 1
    narrowed = [r.strip() for r in os.environ.get("VIGIL_GITHUB_REPOS", "").split(",") if r.strip()]
    problems = verify_against_simulation(spec, repos=narrowed or None)
    if problems:
        print(
            "\nDEMO CHECK FAILED: the warehouse does not equal the simulated organisation:", file=sys.stderr
        )
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
        return 1
    print(
        "\nDemo check: the warehouse equals the simulated organisation "
        "(every run attempt, job and test execution)."
    )
    # The report covers the simulated weeks, not the minutes the live drill adds at today's date.
    return _demo_sensors_and_ledger(report_as_of=end + timedelta(days=1))


def _demo_sensors_and_ledger(report_as_of: date) -> int:
    """One tick of every sensor, the live incident drill, the ledger check and the weekly report."""
    import dagster as dg

    from observability_assets.definitions import defs
    from observability_assets.demo.drill import DrillFailed, run_incident_drill
    from observability_assets.derived.weekly_report import latest_report_path
    from observability_assets.ops_cli import tick_sensors, verify_ledger
    from resources.warehouse import warehouse_from_env

    print("\nSensors (one tick, as `vigil sensors tick` runs them):")
    with dg.DagsterInstance.get() as instance:
        for result in tick_sensors(defs, instance):
            print(f"  {result.describe()}")
        drill_ok = True
        if os.environ.get("VIGIL_DEMO_DRILL", "1") != "0":
            try:
                drill = run_incident_drill(defs, instance, sys.stdout)
            except DrillFailed as error:
                print(f"\nINCIDENT DRILL FAILED: {error}", file=sys.stderr)
                return 1
            drill_ok = drill.ok or drill.skipped
        # Last, so the automation KPIs and the report include what the sensors and the drill did.
        report_config = {"ops": {"reports__weekly_health": {"config": {"as_of": report_as_of.isoformat()}}}}
        report_run = defs.resolve_job_def("weekly_report").execute_in_process(
            instance=instance, run_config={**QUIET_LOGGING, **report_config}, raise_on_error=False
        )
    warehouse = warehouse_from_env()
    warehouse.publish_snapshot()
    verification = verify_ledger(warehouse.path)
    print(f"Ledger: {verification.describe()}")
    print(f"\nWeekly health report: {latest_report_path(warehouse)}")
    if not report_run.success:
        print(f"report failed: {_failure_text(report_run)}", file=sys.stderr)
    return 0 if verification.ok and report_run.success and drill_ok else 1


def _cmd_sql(args: argparse.Namespace) -> int:
    from observability_assets.analyst import run_sql
    from resources.warehouse import Warehouse, WarehouseLockTimeout, warehouse_from_env

    configured = warehouse_from_env()
    snapshot = configured.snapshot_path
    if configured.snapshot_is_stale():
        # Writes publish at most every VIGIL_SNAPSHOT_INTERVAL_S: catch up first, unless a write
        # holds the lock; a query never waits long for a run.
        try:
            Warehouse(configured.path, snapshot, lock_timeout_s=2.0).publish_snapshot()
        except WarehouseLockTimeout:
            print("note: a write is in progress; querying the last published snapshot", file=sys.stderr)
    if not snapshot.exists():
        print(f"no analyst snapshot at {snapshot}: run `make demo` or `vigil run` first", file=sys.stderr)
        return 1
    print(run_sql(snapshot, args.query, args.format), end="")
    return 0


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vigil", description="Vigil reliability observability (Dagster + DuckDB)."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser(
        "run", help="materialize the daily partitions in a range, then everything downstream"
    )
    run.add_argument("--from", dest="start", type=_day, required=True, help="first day (UTC), YYYY-MM-DD")
    run.add_argument("--to", dest="end", type=_day, required=True, help="last day (UTC), YYYY-MM-DD")
    run.add_argument("--ingest-only", action="store_true", help="skip the derived tables")
    run.set_defaults(handler=_cmd_run)

    demo = commands.add_parser("demo", help="run the whole demo window and check it against the simulation")
    demo.set_defaults(handler=_cmd_demo)

    from observability_assets.baselines_cli import register as register_baselines
    from observability_assets.ops_cli import register as register_ops

    register_ops(commands)
    register_baselines(commands)

    sql = commands.add_parser("sql", help="query the read-only analyst snapshot")
    sql.add_argument("query", help='a SQL query, e.g. "SELECT * FROM marts.ci_daily_kpis LIMIT 5"')
    sql.add_argument("--format", choices=("table", "csv", "json"), default="table")
    sql.set_defaults(handler=_cmd_sql)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    quiet_warnings()
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    raise SystemExit(main())
