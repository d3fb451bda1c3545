"""The warehouse resource over real DuckDB files: partitions, transactions, lock, snapshot."""

from __future__ import annotations

import multiprocessing
import threading
import time
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from resources.warehouse import Warehouse, WarehouseLockTimeout, WarehouseResource


def _runs(n: int, day: str = "2026-10-01", offset: int = 0) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "repo": ["acme/api"] * n,
            "run_id": range(offset, offset + n),
            "run_attempt": [1] * n,
            "created_at": [pd.Timestamp(day) + pd.Timedelta(minutes=i) for i in range(n)],
            "conclusion": ["success"] * n,
        }
    )


def test_constructing_the_resource_touches_no_file(tmp_path: Path) -> None:
    folder = tmp_path / "warehouse"
    folder.mkdir()
    resource = WarehouseResource(path=str(folder / "w.duckdb"))
    resource.get()
    assert list(folder.iterdir()) == []


def test_replace_partition_replaces_exactly_one_day(tmp_path: Path) -> None:
    wh = Warehouse(tmp_path / "w.duckdb")
    wh.replace_partition("raw.ci_runs", "2026-10-01", _runs(5))
    wh.replace_partition("raw.ci_runs", "2026-10-02", _runs(3, "2026-10-02", offset=100))
    assert wh.replace_partition("raw.ci_runs", "2026-10-01", _runs(2)) == 2
    counts = wh.query("SELECT partition_day, count(*) AS n FROM raw.ci_runs GROUP BY ALL ORDER BY 1")
    assert counts["n"].tolist() == [2, 3]


def test_arrow_input_loads_like_pandas(tmp_path: Path) -> None:
    import pyarrow as pa

    wh = Warehouse(tmp_path / "w.duckdb")
    wh.replace_partition("raw.ci_runs", "2026-10-01", pa.Table.from_pandas(_runs(4)))
    assert wh.query("SELECT count(*) AS n FROM raw.ci_runs")["n"][0] == 4


def test_failed_write_leaves_the_previous_partition_whole(tmp_path: Path) -> None:
    wh = Warehouse(tmp_path / "w.duckdb")
    wh.replace_partition("raw.ci_runs", "2026-10-01", _runs(5))
    bad = _runs(5).assign(run_attempt=["not a number"] * 5)
    with pytest.raises(duckdb.ConversionException):
        wh.replace_partitions(
            "2026-10-01", {"raw.ci_jobs": pd.DataFrame({"repo": ["x"]}), "raw.ci_runs": bad}
        )
    assert wh.query("SELECT count(*) AS n FROM raw.ci_runs")["n"][0] == 5
    assert wh.query("SELECT count(*) AS n FROM raw.ci_jobs")["n"][0] == 0


def test_unknown_columns_are_refused_with_their_names(tmp_path: Path) -> None:
    wh = Warehouse(tmp_path / "w.duckdb")
    with pytest.raises(ValueError, match=r"\['surprise'\].*raw.ci_runs"):
        wh.replace_partition("raw.ci_runs", "2026-10-01", _runs(1).assign(surprise=1))


def test_tables_and_columns_carry_comments(tmp_path: Path) -> None:
    wh = Warehouse(tmp_path / "w.duckdb")
    wh.ensure_schema()
    wh.ensure_schema()  # idempotent
    missing = wh.query(
        "SELECT table_name, column_name FROM duckdb_columns() "
        "WHERE schema_name IN ('raw', 'ops') AND (comment IS NULL OR comment = '')"
    )
    assert missing.empty, missing
    tables = wh.query(
        "SELECT comment FROM duckdb_tables() WHERE schema_name = 'raw' AND table_name = 'ci_runs'"
    )
    assert "run attempt" in tables["comment"][0]


def _hold_lock(path: str, ready, release) -> None:
    wh = Warehouse(path)
    with wh.lock.hold("a long test write"):
        ready.set()
        release.wait(30)


def test_lock_timeout_names_the_holder(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    ready, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold_lock, args=(str(tmp_path / "w.duckdb"), ready, release))
    holder.start()
    try:
        assert ready.wait(30)
        waiter = Warehouse(tmp_path / "w.duckdb", lock_timeout_s=0.5)
        started = time.monotonic()
        with pytest.raises(WarehouseLockTimeout) as caught:
            waiter.query("SELECT 1")
        waited = time.monotonic() - started
        assert 0.5 <= waited < 3
        assert f"pid {holder.pid}" in str(caught.value)
        assert "a long test write" in str(caught.value)
    finally:
        release.set()
        holder.join(30)
    assert Warehouse(tmp_path / "w.duckdb", lock_timeout_s=5).query("SELECT 1 AS one")["one"][0] == 1


def test_snapshot_is_readable_by_analysts_while_writes_go_on(tmp_path: Path) -> None:
    wh = Warehouse(tmp_path / "w.duckdb", snapshot_interval_s=0)  # publish after every write
    wh.replace_partition("raw.ci_runs", "2026-10-01", _runs(10))
    errors: list[BaseException] = []
    seen: list[int] = []
    stop = threading.Event()

    def analyst() -> None:
        while not stop.is_set():
            try:
                con = duckdb.connect(str(wh.snapshot_path), read_only=True)
                seen.append(con.execute("SELECT count(*) FROM raw.ci_runs").fetchone()[0])
                con.close()
            except BaseException as exc:  # the assertion below reports it
                errors.append(exc)

    reader = threading.Thread(target=analyst)
    reader.start()
    for i in range(15):
        wh.replace_partition("raw.ci_runs", "2026-10-01", _runs(10 + i))
    stop.set()
    reader.join()
    assert not errors, errors[:3]
    assert seen and all(10 <= n <= 24 for n in seen)
    final = duckdb.connect(str(wh.snapshot_path), read_only=True)
    assert final.execute("SELECT count(*) FROM raw.ci_runs").fetchone()[0] == 24


def test_snapshot_interval_defers_publication_until_due_or_asked(tmp_path: Path) -> None:
    wh = Warehouse(tmp_path / "w.duckdb", snapshot_interval_s=3600)
    wh.replace_partition("raw.ci_runs", "2026-10-01", _runs(3))  # first write: no snapshot yet, publish
    wh.replace_partition("raw.ci_runs", "2026-10-01", _runs(7))  # within the interval: deferred
    snapshot = duckdb.connect(str(wh.snapshot_path), read_only=True)
    assert snapshot.execute("SELECT count(*) FROM raw.ci_runs").fetchall()[0][0] == 3
    snapshot.close()
    assert wh.snapshot_is_stale()
    assert wh.publish_snapshot() is True
    assert wh.publish_snapshot() is False  # nothing new
    snapshot = duckdb.connect(str(wh.snapshot_path), read_only=True)
    assert snapshot.execute("SELECT count(*) FROM raw.ci_runs").fetchall()[0][0] == 7


def test_contract_ddl_runs_once_per_contract_version(tmp_path: Path) -> None:
    """Every Dagster step is a fresh process: re-applying ~900 DDL statements each time would cost
    more than most steps. The fingerprint in ops.contract_version skips them while it matches."""
    path = tmp_path / "w.duckdb"
    Warehouse(path).ensure_schema()
    with duckdb.connect(str(path)) as con:
        ((first_applied,),) = con.execute("SELECT applied_at FROM ops.contract_version").fetchall()
        con.execute("COMMENT ON COLUMN raw.ci_runs.repo IS 'edited by hand'")
    Warehouse(path).ensure_schema()  # a new instance, as in a new process: same version, skipped
    with duckdb.connect(str(path)) as con:
        assert con.execute("SELECT applied_at FROM ops.contract_version").fetchall() == [(first_applied,)]
        comment = "SELECT comment FROM duckdb_columns() WHERE table_name = 'ci_runs' AND column_name = 'repo'"
        assert con.execute(comment).fetchall() == [("edited by hand",)]
        con.execute("DELETE FROM ops.contract_version")  # as after a contract change: re-apply
    Warehouse(path).ensure_schema()
    with duckdb.connect(str(path)) as con:
        assert con.execute("SELECT count(*) FROM ops.contract_version").fetchall() == [(1,)]
        assert con.execute(comment).fetchall()[0][0] != "edited by hand"


def test_threads_sharing_one_warehouse_take_turns(tmp_path: Path) -> None:
    """Sensors of one code server share the cached Warehouse: re-entry is per thread, not per object."""
    wh = Warehouse(tmp_path / "w.duckdb")
    held = threading.Event()
    events: list[str] = []

    def first() -> None:
        with wh.lock.hold("first"):
            events.append("first in")
            held.set()
            time.sleep(0.3)
            events.append("first out")

    thread = threading.Thread(target=first)
    thread.start()
    held.wait(5)
    with wh.lock.hold("second"):
        events.append("second in")
    thread.join()
    assert events == ["first in", "first out", "second in"]
    with wh.lock.hold("outer"), wh.lock.hold("inner"):  # the same thread may still nest
        pass
