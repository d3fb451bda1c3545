"""Analysts read the published snapshot: with `run_sql` (`vigil sql`), with the DuckDB CLI from
PyPI, and while runs keep writing; and docs/warehouse.md is what the generator writes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pytest
from sql_layer_data import DAILY, load_raw, materialize, small_org

from observability_assets.cli.analyst import DOC_PATH, generate_warehouse_doc, run_sql
from observability_assets.sql_layer.build import build_sql_assets
from resources.warehouse import WarehouseResource

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def typed_snapshot(tmp_path: Path) -> Path:
    warehouse = WarehouseResource(path=str(tmp_path / "warehouse.duckdb")).get()
    with warehouse.write("typed example") as con:
        con.execute(
            "CREATE TABLE marts.example AS SELECT * FROM (VALUES "
            "(1, 'plain', 0.25, DATE '2026-10-01', TIMESTAMP '2026-10-01 12:30:00', 1.50::DECIMAL(6,2)), "
            "(22, 'with, comma and \"quote\"', NULL, NULL, NULL, NULL)"
            ") AS t(n, label, rate, day, seen_at, price)"
        )
    return warehouse.snapshot_path


def test_run_sql_renders_a_table(typed_snapshot: Path) -> None:
    out = run_sql(typed_snapshot, "SELECT n, label, rate, day FROM marts.example ORDER BY n", "table")
    assert out == textwrap.dedent(
        """\
         n | label                   | rate | day
        ---+-------------------------+------+-----------
         1 | plain                   | 0.25 | 2026-10-01
        22 | with, comma and "quote" | NULL | NULL
        (2 rows)
        """
    )


def test_run_sql_renders_csv(typed_snapshot: Path) -> None:
    out = run_sql(typed_snapshot, "SELECT n, label, rate, seen_at FROM marts.example ORDER BY n", "csv")
    assert out == 'n,label,rate,seen_at\n1,plain,0.25,2026-10-01T12:30:00\n22,"with, comma and ""quote""",,\n'


def test_run_sql_renders_json(typed_snapshot: Path) -> None:
    out = run_sql(typed_snapshot, "SELECT * FROM marts.example ORDER BY n", "json")
    assert json.loads(out) == [
        {
            "n": 1,
            "label": "plain",
            "rate": 0.25,
            "day": "2026-10-01",
            "seen_at": "2026-10-01T12:30:00",
            "price": 1.5,
        },
        {
            "n": 22,
            "label": 'with, comma and "quote"',
            "rate": None,
            "day": None,
            "seen_at": None,
            "price": None,
        },
    ]


def test_run_sql_is_read_only_and_explains_a_missing_snapshot(typed_snapshot: Path, tmp_path: Path) -> None:
    with pytest.raises(duckdb.Error, match="read-only"):
        run_sql(typed_snapshot, "DROP TABLE marts.example")
    with pytest.raises(FileNotFoundError, match="no analyst snapshot"):
        run_sql(tmp_path / "missing.duckdb", "SELECT 1")
    with pytest.raises(ValueError, match="format must be one of"):
        run_sql(typed_snapshot, "SELECT 1", "xml")


def duckdb_cli() -> Path:
    found = shutil.which(
        "duckdb", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    )
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail("the DuckDB CLI (`duckdb-cli` from the dev extras) is not installed")
        pytest.skip("the DuckDB CLI (`duckdb-cli`) is not installed")
    return Path(found)


def test_the_duckdb_cli_from_pypi_reads_the_snapshot(tmp_path: Path) -> None:
    cli = duckdb_cli()
    org = small_org(days=3, repos=("api", "web"), reports=False)
    resource = WarehouseResource(path=str(tmp_path / "warehouse.duckdb"))
    days = load_raw(resource.get(), org.runs_frame(), org.jobs_frame())
    assets, _ = build_sql_assets(partitions_def=DAILY)
    wanted = {"staging/stg_ci_runs", "marts/ci_daily_kpis"}
    materialize([a for a in assets if a.key.to_user_string() in wanted], resource, days[0], days[-1])
    resource.get().publish_snapshot()  # as analyst_snapshot_sensor does when writes stop
    snapshot = resource.get().snapshot_path
    expected = run_sql(snapshot, "SELECT count(*) AS n, sum(runs) AS runs FROM marts.ci_daily_kpis", "csv")

    query = (
        "SELECT count(*) AS n, sum(runs) AS runs FROM marts.ci_daily_kpis; "
        "SELECT comment FROM duckdb_columns() WHERE table_name = 'ci_daily_kpis' AND column_name = 'success_rate';"
    )
    done = subprocess.run(
        [str(cli), "-readonly", "-csv", str(snapshot), "-c", query],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    counts, comment = done.stdout.strip().split("\ncomment\n")
    assert counts + "\n" == expected
    assert comment == "successful_runs / finished_runs; NULL without finished runs."
    version = subprocess.run([str(cli), "-version"], capture_output=True, text=True, timeout=30).stdout
    assert version.startswith("v1."), "the test should exercise the older CLI line analysts install"


READER = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    from observability_assets.cli.analyst import run_sql

    snapshot, stop, out = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
    seen, errors = [], []
    while not stop.exists():
        try:
            text = run_sql(snapshot, "SELECT count(*) AS n FROM staging.stg_ci_runs", "json")
            seen.append(json.loads(text)[0]["n"])
        except Exception as error:
            errors.append(f"{type(error).__name__}: {error}")
    out.write_text(json.dumps({"seen": seen, "errors": errors}))
    """
)


def test_an_analyst_query_loop_never_errors_while_runs_write(tmp_path: Path) -> None:
    org = small_org(days=6, repos=("api", "web"), reports=False)
    runs = org.runs_frame()
    # Publish after every write: the most snapshot swaps a reader can meet.
    resource = WarehouseResource(path=str(tmp_path / "warehouse.duckdb"), snapshot_interval_s=0)
    days = load_raw(resource.get(), runs, org.jobs_frame())
    assets, _ = build_sql_assets(partitions_def=DAILY)
    stg = next(a for a in assets if a.key.to_user_string() == "staging/stg_ci_runs")
    kpis = next(a for a in assets if a.key.to_user_string() == "marts/ci_daily_kpis")
    materialize([stg], resource, days[0], days[0])

    stop, out = tmp_path / "stop", tmp_path / "reader.json"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(resource.get().snapshot_path), str(stop), str(out)], env=env
    )
    try:
        time.sleep(1.0)  # let the reader start querying before the writes begin
        # A backfill: one run per day, each rewriting the staging window and the mart after it.
        for day in days[1:]:
            materialize([stg, kpis], resource, day, day)
        time.sleep(0.5)  # one more query after the last write
    finally:
        stop.touch()
        reader.wait(timeout=60)
    report = json.loads(out.read_text())
    assert report["errors"] == []
    assert len(report["seen"]) >= 20
    # Each snapshot is whole: readers only ever see the row count after some number of full days.
    per_day = runs.groupby(runs["created_at"].dt.date)["run_id"].nunique().sort_index()
    cumulative = set(per_day.cumsum().tolist())
    assert set(report["seen"]) <= cumulative
    assert report["seen"] == sorted(report["seen"])
    assert report["seen"][-1] == per_day.sum()


def test_the_committed_warehouse_doc_is_the_generated_one() -> None:
    generated = generate_warehouse_doc()
    assert DOC_PATH.read_text(encoding="utf-8") == generated, (
        "docs/warehouse.md is out of date: run `python -m observability_assets.cli.analyst docs/warehouse.md`"
    )
    for table in ("raw.ci_runs", "seeds.runner_prices", "staging.stg_ci_runs", "marts.ci_daily_kpis"):
        assert f"### {table}\n" in generated
    assert (
        "| success_rate | DOUBLE | successful_runs / finished_runs; NULL without finished runs. |"
        in generated
    )
    assert "  staging_stg_ci_runs --> marts_ci_daily_kpis" in generated


def test_vigil_sql_catches_up_a_snapshot_that_writes_left_behind(tmp_path: Path) -> None:
    """Writes publish at most every VIGIL_SNAPSHOT_INTERVAL_S; `vigil sql` shows the last commit."""
    path = tmp_path / "warehouse.duckdb"
    warehouse = WarehouseResource(path=str(path), snapshot_interval_s=3600).get()
    for value in (1, 2):  # the first write publishes, the second is deferred
        with warehouse.write("example") as con:
            con.execute(f"CREATE OR REPLACE TABLE marts.example AS SELECT {value} AS version")
    assert warehouse.snapshot_is_stale()
    vigil = Path(sys.executable).parent / "vigil"
    env = {**os.environ, "VIGIL_WAREHOUSE": str(path), "VIGIL_SNAPSHOT_INTERVAL_S": "3600"}
    shown = subprocess.run(
        [str(vigil), "sql", "SELECT version FROM marts.example", "--format", "csv"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert shown.split() == ["version", "2"]
    assert not warehouse.snapshot_is_stale()


def test_the_snapshot_sensor_publishes_what_the_last_writes_left_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dagster as dg

    from sensors import analyst_snapshot
    from sensors.analyst_snapshot import analyst_snapshot_sensor

    resource = WarehouseResource(path=str(tmp_path / "warehouse.duckdb"), snapshot_interval_s=3600)
    warehouse = resource.get()
    for value in (1, 2):  # the first write publishes, the second is deferred
        with warehouse.write("example") as con:
            con.execute(f"CREATE OR REPLACE TABLE marts.example AS SELECT {value} AS version")

    def tick() -> str:
        with dg.build_sensor_context(resources={"warehouse": resource}) as context:
            return analyst_snapshot_sensor(context).skip_message

    def published_version() -> int:
        with duckdb.connect(str(warehouse.snapshot_path), read_only=True) as con:
            return con.execute("SELECT version FROM marts.example").fetchall()[0][0]

    assert published_version() == 1
    assert tick().startswith("published")
    assert published_version() == 2
    assert tick() == "the analyst snapshot shows every write"

    with warehouse.write("example") as con:
        con.execute("CREATE OR REPLACE TABLE marts.example AS SELECT 3 AS version")
    monkeypatch.setattr(analyst_snapshot, "LOCK_WAIT_S", 0.2)
    with warehouse.lock.hold("a long write"):  # a tick does not wait behind it
        began = time.perf_counter()
        assert tick() == "a write holds the warehouse; publishing on the next tick"
        assert time.perf_counter() - began < 2
    assert tick().startswith("published") and published_version() == 3
