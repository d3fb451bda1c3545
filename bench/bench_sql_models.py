"""Benchmark: the SQL model layer's cost for `marts.ci_daily_kpis` against DuckDB on its own.

One year × 50 repositories of simulated workflow runs go into raw.ci_runs; staging.stg_ci_runs is
built by one single-run backfill. Then, alternating in the same process:

- the model layer: `dagster.materialize` of marts.ci_daily_kpis; the time inside the asset (lock,
  connect, the SQL, comments, metadata queries, checkpoint, close, and the analyst-snapshot copy
  when one is due) comes from the asset's own `vigil/seconds_in_asset` metadata, so Dagster's run
  launch is excluded;
- DuckDB directly: the same SQL file as `CREATE OR REPLACE TABLE ... AS` on the same database the
  way one runs it by hand (`duckdb warehouse.duckdb -c "..."`): connect, the statement, close
  (which checkpoints). The asset cannot do less: each Dagster step is a fresh process that has to
  open the file, and its table has to be on disk when the step ends. The bare statement on an
  already open connection is reported as well.

The ratio of the medians is the headline (goal <= 1.2x). The analyst-snapshot copy, which writes
make at most every `VIGIL_SNAPSHOT_INTERVAL_S` (`analyst_snapshot_sensor` the rest), is
timed on its own. The whole `dagster asset materialize` command (a fresh process with the
default executor) is timed once beside it.

    .venv/bin/python bench/bench_sql_models.py [--repos 50] [--days 365] [--repeats 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import duckdb

from observability_assets.core.contract import CI_RUNS
from observability_assets.demo.simulator import OrgSpec, simulate
from observability_assets.sql_layer.build import MODELS_DIR, build_sql_assets
from resources.warehouse import (
    DEFAULT_SNAPSHOT_INTERVAL_S,
    STORAGE_COMPATIBILITY_VERSION,
    WarehouseResource,
    quote_identifier,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
START = date(2025, 10, 1)
KPIS = dg.AssetKey(["marts", "ci_daily_kpis"])
STG_RUNS = dg.AssetKey(["staging", "stg_ci_runs"])


def load_runs(resource: WarehouseResource, repos: int, days: int) -> int:
    spec = OrgSpec(
        repos=tuple(f"repo{i:02d}" for i in range(repos)), start=START, days=days, with_test_reports=False
    )
    runs = simulate(spec).runs_frame()
    present = [c for c in CI_RUNS.column_names if c in runs.columns]
    columns = ", ".join(quote_identifier(c) for c in present)
    # One bulk insert: the benchmark is about the model layer, not about ingestion.
    with resource.get().write("bench: load raw.ci_runs") as con:
        con.register("bench_runs", runs)
        con.execute(
            f"INSERT INTO raw.ci_runs ({columns}, partition_day, ingested_at) "
            f"SELECT {columns}, CAST(created_at AS DATE), now()::TIMESTAMP FROM bench_runs"
        )
        con.unregister("bench_runs")
    return len(runs)


def timed_model(assets: list[dg.AssetsDefinition], resource: WarehouseResource) -> tuple[float, float, float]:
    """(seconds inside the asset, seconds in its SQL, wall seconds of dagster.materialize)."""
    kpis = next(a for a in assets if a.key == KPIS)
    began = time.perf_counter()
    result = dg.materialize([kpis], resources={"warehouse": resource})
    wall = time.perf_counter() - began
    (event,) = result.get_asset_materialization_events()
    metadata = event.materialization.metadata
    return metadata["vigil/seconds_in_asset"].value, metadata["vigil/seconds_in_sql"].value, wall


def timed_direct(path: Path, sql: str) -> tuple[float, float]:
    """(seconds of the statement, seconds from connect to a closed, checkpointed file)."""
    began = time.perf_counter()
    con = duckdb.connect(str(path), config={"storage_compatibility_version": STORAGE_COMPATIBILITY_VERSION})
    try:
        statement_began = time.perf_counter()
        con.execute(f"CREATE OR REPLACE TABLE main.ci_daily_kpis_direct AS\n{sql}\n")
        statement = time.perf_counter() - statement_began
    finally:
        con.close()
    return statement, time.perf_counter() - began


def timed_cli(workdir: Path, warehouse: Path) -> float:
    defs_file = workdir / "bench_defs.py"
    defs_file.write_text(
        textwrap.dedent(
            f"""
            import dagster as dg
            from observability_assets.sql_layer.build import build_sql_assets
            from resources.warehouse import WarehouseResource

            daily = dg.DailyPartitionsDefinition(start_date="{START.isoformat()}", timezone="UTC")
            assets, checks = build_sql_assets(partitions_def=daily)
            defs = dg.Definitions(assets=assets, resources={{"warehouse": WarehouseResource(path={str(warehouse)!r})}})
            """
        )
    )
    home = workdir / "dagster_home"
    home.mkdir(exist_ok=True)
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env = {**os.environ, "DAGSTER_HOME": str(home), "PYTHONPATH": str(REPO_ROOT)}
    dagster = Path(sys.executable).parent / "dagster"
    began = time.perf_counter()
    subprocess.run(
        [str(dagster), "asset", "materialize", "-f", str(defs_file), "--select", "marts/ci_daily_kpis"],
        check=True,
        env=env,
        capture_output=True,
        cwd=workdir,
    )
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repos", type=int, default=50)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="vigil-bench-sql-") as tmp:
        workdir = Path(tmp)
        path = workdir / "warehouse.duckdb"
        resource = WarehouseResource(path=str(path))
        began = time.perf_counter()
        attempts = load_runs(resource, args.repos, args.days)
        load_s = time.perf_counter() - began

        daily = dg.DailyPartitionsDefinition(start_date=START.isoformat(), timezone="UTC")
        assets, _ = build_sql_assets(partitions_def=daily)
        last = START + timedelta(days=args.days - 1)
        stg = next(a for a in assets if a.key == STG_RUNS)
        began = time.perf_counter()
        dg.materialize(
            [stg],
            resources={"warehouse": resource},
            tags={
                "dagster/asset_partition_range_start": START.isoformat(),
                "dagster/asset_partition_range_end": last.isoformat(),
            },
        )
        backfill_s = time.perf_counter() - began

        sql = (MODELS_DIR / "marts" / "ci_daily_kpis.sql").read_text().strip().rstrip(";")
        timed_direct(path, sql)  # warm the OS cache for both sides alike
        inside, in_sql, walls, direct, durable = [], [], [], [], []
        for _ in range(args.repeats):
            asset_s, sql_s, wall_s = timed_model(assets, resource)
            inside.append(asset_s)
            in_sql.append(sql_s)
            walls.append(wall_s)
            statement_s, durable_s = timed_direct(path, sql)
            direct.append(statement_s)
            durable.append(durable_s)
        with duckdb.connect(str(path), read_only=True) as con:
            (rows,) = con.execute("SELECT count(*) FROM marts.ci_daily_kpis").fetchone()
            (runs,) = con.execute("SELECT count(*) FROM staging.stg_ci_runs").fetchone()
        size_mb = path.stat().st_size / 1e6
        warehouse = resource.get()
        publications = []
        for _ in range(args.repeats):
            began = time.perf_counter()
            warehouse._publish_snapshot()
            publications.append(time.perf_counter() - began)
        cli_s = timed_cli(workdir, path)

    med = statistics.median
    print(
        textwrap.dedent(
            f"""
            ### SQL model layer: marts.ci_daily_kpis ({args.repos} repositories × {args.days} days)

            | figure | value |
            |---|---|
            | raw.ci_runs attempts / staging.stg_ci_runs runs / ci_daily_kpis rows | {attempts:,} / {runs:,} / {rows:,} |
            | warehouse file | {size_mb:.0f} MB |
            | setup: simulate the organisation and bulk-load raw.ci_runs | {load_s:.2f} s |
            | staging.stg_ci_runs, one single-run backfill of {args.days} partitions | {backfill_s:.2f} s |
            | DuckDB directly: connect, CREATE OR REPLACE TABLE AS the model's SQL, close (median of {args.repeats}) | {med(durable):.3f} s |
            | of which the statement on the open connection | {med(direct):.3f} s |
            | model layer, time inside the asset (median) | {med(inside):.3f} s |
            | of which the model's SQL statement (with its comments) | {med(in_sql):.3f} s |
            | **ratio inside the asset / DuckDB directly** (goal ≤ 1.2×) | **{med(inside) / med(durable):.2f}×** |
            | ratio of the model's statement / the same statement directly | {med(in_sql) / med(direct):.2f}× |
            | ratio inside the asset / the bare statement on an open connection | {med(inside) / med(direct):.2f}× |
            | one analyst-snapshot publication: copy of the {size_mb:.0f} MB file (median), made by a write at most every {DEFAULT_SNAPSHOT_INTERVAL_S:.0f} s, else by analyst_snapshot_sensor | {med(publications):.3f} s |
            | ratio inside the asset / DuckDB directly, had this write published the snapshot | {(med(inside) + med(publications)) / med(durable):.2f}× |
            | `dagster.materialize` in process, wall (median) | {med(walls):.2f} s |
            | `dagster asset materialize --select marts/ci_daily_kpis`, wall, fresh process | {cli_s:.2f} s |
            """
        ).strip()
    )


def run(quick: bool = False) -> str:
    """For bench/run_all.py: the figures table (60 days instead of 365 when quick)."""
    import contextlib
    import io

    argv = ["bench_sql_models.py"] + (["--days", "60", "--repeats", "3"] if quick else [])
    captured = io.StringIO()
    saved, sys.argv = sys.argv, argv
    try:
        with contextlib.redirect_stdout(captured):
            main()
    finally:
        sys.argv = saved
    text = captured.getvalue()
    return "## " + text[text.index("### SQL model layer") + 4 :].strip()


if __name__ == "__main__":
    main()
