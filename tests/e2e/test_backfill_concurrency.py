"""A 30-partition backfill, four runs at a time, while an analyst queries the snapshot in a loop."""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import date, timedelta
from pathlib import Path

import duckdb

DAYS = 30
ENV = {
    "VIGIL_DEMO_DAYS": str(DAYS),
    "VIGIL_DEMO_SEED": "5",
    "VIGIL_START_DATE": "2026-10-01",
    "VIGIL_GITHUB_REPOS": "acme/api,acme/infra",
    "VIGIL_SNAPSHOT_INTERVAL_S": "0",  # publish after every write: the most swaps a reader can meet
}


def _init_worker(workdir: str, env: dict[str, str]) -> None:
    os.chdir(workdir)
    os.environ.update(env)


def _run_partition(key: str) -> tuple[str, bool, str]:
    import dagster as dg

    from observability_assets.definitions import defs

    # The raw ingestion of each day: the writes that contend for the warehouse. (The daily models add
    # Great Expectations checks, minutes of CPU on 2 cores, and are covered by tests/integration.)
    result = defs.resolve_job_def("ingest_raw").execute_in_process(
        partition_key=key,
        instance=dg.DagsterInstance.get(),
        raise_on_error=False,
        run_config={"loggers": {"console": {"config": {"log_level": "ERROR"}}}},
    )
    errors = [
        e.step_failure_data.error.message
        for e in result.all_events
        if e.is_step_failure and e.step_failure_data
    ]
    return key, result.success, "; ".join(errors)


def test_backfill_with_four_concurrent_runs_and_an_analyst_reading(tmp_path: Path, monkeypatch) -> None:
    env = {**ENV, "DAGSTER_HOME": os.environ["DAGSTER_HOME"]}
    snapshot = tmp_path / "data" / "warehouse.snapshot.duckdb"
    reads: list[int] = []
    errors: list[str] = []
    stop = threading.Event()

    def analyst() -> None:
        while not stop.is_set():
            if not snapshot.exists():
                time.sleep(0.05)
                continue
            try:
                con = duckdb.connect(str(snapshot), read_only=True)
                reads.append(con.execute("SELECT count(*) FROM raw.ci_runs").fetchall()[0][0])
                con.close()
            except Exception as exc:  # reported by the assertion below
                errors.append(repr(exc))

    reader = threading.Thread(target=analyst, daemon=True)
    reader.start()
    # Create the instance's storage once, as `dagster dev` or `vigil run` would, before the workers.
    import dagster as dg

    dg.DagsterInstance.get().dispose()
    keys = [(date(2026, 10, 1) + timedelta(days=i)).isoformat() for i in range(DAYS)]
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        4, mp_context=ctx, initializer=_init_worker, initargs=(str(tmp_path), env)
    ) as pool:
        outcomes = list(pool.map(_run_partition, keys))
    stop.set()
    reader.join(10)

    failed = [(k, msg) for k, ok, msg in outcomes if not ok]
    assert not failed, failed[:3]
    assert not errors, errors[:3]
    assert len(reads) > 10 and reads == sorted(reads)  # each snapshot holds at least what the last one did

    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    from observability_assets.demo.embedded import demo_spec_from_env
    from observability_assets.demo.verify import verify_against_simulation
    from resources.warehouse import Warehouse

    warehouse = Warehouse(tmp_path / "data" / "warehouse.duckdb")
    days = warehouse.query("SELECT count(DISTINCT partition_day) AS n FROM raw.ci_runs")["n"][0]
    assert days == DAYS
    problems = verify_against_simulation(
        demo_spec_from_env(), warehouse, repos=ENV["VIGIL_GITHUB_REPOS"].split(",")
    )
    assert problems == []
