"""SLO compliance over a year of one-minute probes for 50 services (26 million rows).

Measured, in the same run on the same warehouse file:

- **Vigil**: `evaluate_at`, what marts.slo_compliance computes for 100 SLOs (availability and
  latency per service) as of a moment that is not on the hour: counts for the 30-day SLO window and
  the seven alert windows from the hourly rollup plus raw partial hours, then core.slo's budgets,
  burn rates and alert rules.
- **bare DuckDB**: one aggregation over raw.health_probes giving the same counts for the same
  windows (no rollup, no alert logic). The goal is Vigil <= 2x this.
- **a new day**: loading one more day of probes for every service (the hysteresis fold, the
  insert and the recomputed hours of the rollup, one transaction) and evaluating every SLO after it,
  on a warehouse holding one month and one holding one year of history. Publishing the analyst
  snapshot (a copy of the whole file, made at most every `VIGIL_SNAPSHOT_INTERVAL_S`) is timed
  apart: it grows with the file.

The probes are generated directly in DuckDB (the same probe_id expression the loaders use).
"""

import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from observability_assets.core.probe_state import HysteresisPolicy
from observability_assets.core.service_catalogue import Service, ServiceCatalogue, Slo
from observability_assets.derived.slo_compliance import (
    compute_slo_compliance,
    evaluate_at,
    evaluation_windows,
    hourly_points,
    window_counts,
)
from observability_assets.ingest.health_probes import (
    GOOD_SQL,
    PROBE_ID_SQL,
    SOURCE_SIMULATED,
    refresh_hourly,
    slo_definitions,
    store_probes,
)
from resources.warehouse import Warehouse

END = datetime(2026, 11, 1)  # the history ends here; the new day is the day after
THRESHOLD_MS = 250.0


class _UnpublishedWarehouse(Warehouse):
    """Writes without copying the analyst snapshot, so that copy can be timed on its own."""

    def _publish_snapshot(self) -> None:
        return None


def _catalogue(services: int) -> ServiceCatalogue:
    return ServiceCatalogue(
        tuple(
            Service(
                name=f"svc{i:02d}",
                base_url=f"https://svc{i:02d}.example",
                slos=(
                    Slo("availability", "availability", 0.999, 30),
                    Slo("latency", "latency", 0.95, 30, threshold_ms=THRESHOLD_MS),
                ),
            )
            for i in range(services)
        )
    )


def _generate(path: Path, services: int, days: int) -> tuple[Warehouse, float, float]:
    """A warehouse with `days` of one-minute probes for `services` services ending at END, rollup included.

    Rows are generated in time order, as live probing appends them. Returns (warehouse, seconds to
    generate the probes, seconds to build the rollup).
    """
    warehouse = _UnpublishedWarehouse(path)
    warehouse.ensure_schema()
    rows = services * days * 24 * 60
    start = END - timedelta(days=days)
    started = time.perf_counter()
    with warehouse.write("bench: generate probes") as con:
        con.execute(
            f"""
            INSERT INTO raw.health_probes
                (probe_id, service, url, probed_at, status_code, latency_ms, ok, error, state, source,
                 partition_day, ingested_at)
            SELECT {PROBE_ID_SQL}, service, url, probed_at, CASE WHEN ok THEN 200 ELSE 503 END,
                   latency_ms, ok, CASE WHEN ok THEN NULL ELSE 'HTTP 503' END, 'ok', 'simulated',
                   CAST(probed_at AS DATE), CAST(now() AT TIME ZONE 'UTC' AS TIMESTAMP)
            FROM (
                SELECT 'svc' || lpad(CAST(i % ? AS VARCHAR), 2, '0') AS service,
                       'https://svc' || lpad(CAST(i % ? AS VARCHAR), 2, '0') || '.example/health' AS url,
                       CAST(? AS TIMESTAMP) + to_minutes(CAST(i // ? AS BIGINT)) AS probed_at,
                       hash(i) % 10000 >= 5 AS ok,
                       20 + (hash(i) // 10000) % 1000 / 4.0 AS latency_ms
                FROM range(?) t(i)
            )
            """,
            [services, services, start + timedelta(minutes=1), services, rows],
        )
    generate_s = time.perf_counter() - started
    catalogue = _catalogue(services)
    started = time.perf_counter()
    with warehouse.write("bench: build the rollup") as con:
        refresh_hourly(con, slo_definitions(catalogue), start, END)
    return warehouse, generate_s, time.perf_counter() - started


def _bare(warehouse: Warehouse, defs: pd.DataFrame, as_of: datetime) -> dict:
    """The same window counts straight from raw.health_probes."""
    windows = evaluation_windows(defs)
    columns = ", ".join(
        f"count(*) FILTER (WHERE p.probed_at > ?) AS v{i}, count(*) FILTER (WHERE p.probed_at > ? AND {GOOD_SQL}) AS g{i}"
        for i in range(len(windows))
    )
    params = [as_of - w for w in windows for _ in range(2)] + [as_of - max(windows), as_of]
    with warehouse.read("bench: bare aggregation") as con:
        con.register("slo_defs", defs)
        rows = con.execute(
            f"SELECT d.service, d.slo, {columns} FROM raw.health_probes p JOIN slo_defs d ON d.service = p.service "
            "WHERE p.probed_at > ? AND p.probed_at <= ? GROUP BY d.service, d.slo",
            params,
        ).fetchall()
    return {(r[0], r[1], w): (r[3 + 2 * i], r[2 + 2 * i]) for r in rows for i, w in enumerate(windows)}


def _vigil(warehouse: Warehouse, defs: pd.DataFrame, as_of: datetime) -> list:
    with warehouse.read("bench: evaluate") as con:
        return evaluate_at(con, defs, as_of)


def _median_s(run: Callable[[], object], repeats: int) -> float:
    run()  # warm the file cache and DuckDB's
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _day_of_probes(services: int, day: int) -> pd.DataFrame:
    """Day number `day` after END (1 = the day after) for every service, as the simulated loader writes it."""
    rng = np.random.default_rng(day)
    first = END + timedelta(days=day - 1)
    ticks = pd.date_range(first + timedelta(minutes=1), first + timedelta(days=1), freq="1min").as_unit("us")
    n = len(ticks)
    frames = []
    for i in range(services):
        ok = rng.random(n) > 0.0005
        frames.append(
            pd.DataFrame(
                {
                    "service": pd.Series([f"svc{i:02d}"] * n, dtype="string"),
                    "url": pd.Series([f"https://svc{i:02d}.example/health"] * n, dtype="string"),
                    "probed_at": ticks,
                    "status_code": pd.Series(np.where(ok, 200, 503), dtype="Int32"),
                    "latency_ms": pd.Series(rng.uniform(20, 270, n), dtype="Float64"),
                    "ok": pd.Series(ok, dtype="boolean"),
                    "error": pd.Series(np.where(ok, None, "HTTP 503"), dtype="string"),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def _new_days(warehouse: Warehouse, services: int, days: int) -> dict[str, float]:
    """Median cost of adding one more day, over `days` consecutive new days."""
    catalogue = _catalogue(services)
    defs = slo_definitions(catalogue)
    policies = {s.name: HysteresisPolicy() for s in catalogue}
    load, evaluate, publish = [], [], []
    for day in range(1, days + 1):
        frame = _day_of_probes(services, day)
        started = time.perf_counter()
        store_probes(
            warehouse,
            frame,
            source=SOURCE_SIMULATED,
            slo_defs=defs,
            policies=policies,
            replace_day=(END + timedelta(days=day - 1)).date(),
        )
        load.append(time.perf_counter() - started)
        started = time.perf_counter()
        _vigil(warehouse, defs, END + timedelta(days=day))
        evaluate.append(time.perf_counter() - started)
        started = time.perf_counter()
        Warehouse._publish_snapshot(warehouse)  # the copy a due write makes, outside this bench
        publish.append(time.perf_counter() - started)
    return {
        "load": statistics.median(load),
        "evaluate": statistics.median(evaluate),
        "publish": statistics.median(publish),
        "rows": len(frame),
    }


def run(quick: bool = False) -> str:
    services = 10 if quick else 50
    repeats = 3 if quick else 5
    lines = []
    with tempfile.TemporaryDirectory(prefix="bench_slo_") as tmp:
        year, generate_s, rollup_s = _generate(Path(tmp) / "year.duckdb", services, 365)
        month, _, _ = _generate(Path(tmp) / "month.duckdb", services, 30)
        catalogue = _catalogue(services)
        defs = slo_definitions(catalogue)
        as_of = END - timedelta(minutes=17, seconds=23)  # not on the hour: both partial hours count

        with year.read() as con:
            counts = window_counts(con, defs, as_of, evaluation_windows(defs))
        bare = _bare(year, defs, as_of)
        disagree = [key for key, c in counts.items() if bare.get(key, (0, 0)) != (c.good, c.valid)]
        assert not disagree, f"Vigil and the bare aggregation disagree on {disagree[:3]}"
        bare_s = _median_s(lambda: _bare(year, defs, as_of), repeats)
        vigil_s = _median_s(lambda: _vigil(year, defs, as_of), repeats)
        with year.read() as con:
            started = time.perf_counter()
            points = hourly_points(con, defs, END, days=7)
            series_s = time.perf_counter() - started
        started = time.perf_counter()
        compute_slo_compliance(year, catalogue, as_of=as_of, timeseries_days=0)
        asset_s = time.perf_counter() - started
        rows = year.query("SELECT count(*) AS n FROM raw.health_probes").loc[0, "n"]
        size_mb = (Path(tmp) / "year.duckdb").stat().st_size / 1e6
        day_month = _new_days(month, services, repeats)
        day_year = _new_days(year, services, repeats)

    ratio = vigil_s / bare_s
    lines += [
        "## SLO compliance (`bench/bench_slo.py`)",
        "",
        f"{rows:,} one-minute probes: {services} services x 365 days, {len(defs)} SLOs "
        f"(availability 99.9 % and latency <= {THRESHOLD_MS:g} ms at 95 %, 30-day windows), "
        f"warehouse file {size_mb:,.0f} MB. Generated in DuckDB in {generate_s:.1f} s; hourly rollup "
        f"built once in {rollup_s:.1f} s.",
        "",
        "| measure | time | note |",
        "|---|---:|---|",
        f"| bare DuckDB aggregation, 8 windows x {len(defs)} SLOs | {bare_s * 1000:.0f} ms | one scan of the 30-day window of raw probes |",
        f"| Vigil `evaluate_at` (counts + core.slo alerts) | {vigil_s * 1000:.0f} ms | hourly rollup + raw partial hours |",
        f"| **ratio Vigil / bare** | **{ratio:.2f}x** | goal <= 2x: {'met' if ratio <= 2 else 'NOT met'} |",
        f"| whole mart refresh (`compute_slo_compliance`, no export) | {asset_s * 1000:.0f} ms | + definition check and mart write (snapshot copy apart, below) |",
        f"| hourly series, 7 days x {len(defs)} SLOs ({len(points):,} points) | {series_s * 1000:.0f} ms | slo-timeseries.json input |",
        "",
        f"A new day ({day_year['rows']:,} probes; median of {repeats} consecutive days) with one month vs one year of history:",
        "",
        "| history | load day (fold + insert + rollup hours) | evaluate all SLOs | snapshot copy |",
        "|---|---:|---:|---:|",
        f"| 1 month | {day_month['load'] * 1000:.0f} ms | {day_month['evaluate'] * 1000:.0f} ms | {day_month['publish'] * 1000:.0f} ms |",
        f"| 1 year | {day_year['load'] * 1000:.0f} ms | {day_year['evaluate'] * 1000:.0f} ms | {day_year['publish'] * 1000:.0f} ms |",
        f"| year / month | {day_year['load'] / day_month['load']:.2f}x | {day_year['evaluate'] / day_month['evaluate']:.2f}x | {day_year['publish'] / day_month['publish']:.1f}x |",
        "",
        "Loading and evaluating a day cost the same whatever the history; the analyst snapshot, a copy "
        "of the whole file, grows with it: which is why writes publish it at most every 30 s "
        "(`VIGIL_SNAPSHOT_INTERVAL_S`), not after every minute's probes.",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    import sys

    print(run(quick="--quick" in sys.argv))
