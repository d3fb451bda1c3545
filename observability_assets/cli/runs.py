"""`vigil run`: materialize a range of daily partitions through Dagster, then everything downstream.

It executes on the instance in `DAGSTER_HOME`, so what it runs shows in the UI like any other run.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field
from datetime import date, timedelta

from observability_assets.cli.instance import QUIET_LOGGING, ensure_dagster_home


@dataclass
class RunSummary:
    partitions_ok: list[str] = field(default_factory=list)
    partitions_failed: dict[str, str] = field(default_factory=dict)
    steps_failed: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.partitions_failed and not self.steps_failed


def failure_text(result) -> str:
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
            summary.partitions_failed[key] = failure_text(result)
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
            summary.steps_failed[label] = failure_text(result)
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


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def register(commands: argparse._SubParsersAction) -> None:
    run = commands.add_parser(
        "run", help="materialize the daily partitions in a range, then everything downstream"
    )
    run.add_argument("--from", dest="start", type=_day, required=True, help="first day (UTC), YYYY-MM-DD")
    run.add_argument("--to", dest="end", type=_day, required=True, help="last day (UTC), YYYY-MM-DD")
    run.add_argument("--ingest-only", action="store_true", help="skip the derived tables")
    run.set_defaults(handler=_cmd_run)
