"""marts.slo_compliance: window counts from the hourly rollup plus raw edges equal a bare aggregation
over the raw probes, the hourly series agrees with point evaluations, and the exports are written."""

import json
from datetime import datetime, timedelta
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from observability_assets.core.probe_state import HysteresisPolicy
from observability_assets.core.service_catalogue import parse_catalogue
from observability_assets.derived.slo_compliance import (
    ALERT_WINDOWS,
    compute_slo_compliance,
    evaluate_at,
    hourly_points,
    slo_compliance,
    slo_compliance_consistent,
    window_counts,
    window_pieces,
)
from observability_assets.ingest.health_probes import SOURCE_SIMULATED, slo_definitions, store_probes
from resources.http_probe import ServiceCatalogueResource
from resources.warehouse import Warehouse, WarehouseResource

START = datetime(2026, 10, 1)
DAYS = 4
CATALOGUE = """
services:
  - name: checkout
    base_url: https://checkout.example
    slos:
      - {name: availability, objective: 0.999, window_days: 30}
      - {name: latency, kind: latency, threshold_ms: 100, objective: 0.9, window_days: 28}
  - name: search
    base_url: https://search.example
    slos:
      - {name: availability, objective: 0.99, window_days: 28}
"""


def _random_probes(seed: int) -> pd.DataFrame:
    """Probes at jittered seconds with gaps, failures and a latency spread around the threshold."""
    rng = np.random.default_rng(seed)
    frames = []
    for service in ("checkout", "search"):
        minutes = np.arange(DAYS * 24 * 60)
        minutes = minutes[rng.random(len(minutes)) > 0.1]  # 10 % of ticks missing
        seconds = np.where(rng.random(len(minutes)) < 0.2, 0, rng.integers(0, 60, len(minutes)))
        times = np.datetime64(START) + (minutes * 60 + seconds).astype("timedelta64[s]")
        ok = rng.random(len(minutes)) > 0.05
        frames.append(
            pd.DataFrame(
                {
                    "service": pd.Series(service, index=range(len(minutes)), dtype="string"),
                    "url": pd.Series(
                        f"https://{service}.example/health", index=range(len(minutes)), dtype="string"
                    ),
                    "probed_at": times.astype("datetime64[us]"),
                    "status_code": pd.Series(np.where(ok, 200, 503), dtype="Int32"),
                    "latency_ms": pd.Series(rng.lognormal(np.log(60), 0.6, len(minutes)), dtype="Float64"),
                    "ok": pd.Series(ok, dtype="boolean"),
                    "error": pd.Series(np.where(ok, None, "HTTP 503"), dtype="string"),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def loaded(tmp_path_factory) -> tuple[Warehouse, pd.DataFrame]:
    folder = tmp_path_factory.mktemp("slo")
    warehouse = Warehouse(folder / "w.duckdb")
    catalogue = parse_catalogue(CATALOGUE)
    probes = _random_probes(seed=5)
    defs = slo_definitions(catalogue)
    # Loaded a day at a time, in shuffled order: the rollup must not depend on the order of loads.
    for day in np.random.default_rng(1).permutation(DAYS):
        lo = START + timedelta(days=int(day))
        part = probes[(probes["probed_at"] >= lo) & (probes["probed_at"] < lo + timedelta(days=1))]
        store_probes(
            warehouse, part, source=SOURCE_SIMULATED, slo_defs=defs, policies={"checkout": HysteresisPolicy()}
        )
    return warehouse, defs


def _bare_counts(warehouse: Warehouse, defs: pd.DataFrame, as_of: datetime, window: timedelta) -> dict:
    with warehouse.read() as con:
        con.register("slo_defs", defs)
        rows = con.execute(
            """
            SELECT d.service, d.slo, count(p.probed_at) AS valid,
                   count(p.probed_at) FILTER (WHERE p.ok AND (d.kind = 'availability' OR p.latency_ms <= d.threshold_ms))
            FROM slo_defs d LEFT JOIN raw.health_probes p
              ON p.service = d.service AND p.probed_at > ? AND p.probed_at <= ?
            GROUP BY d.service, d.slo
            """,
            [as_of - window, as_of],
        ).fetchall()
    return {(service, slo): (good, valid) for service, slo, valid, good in rows}


AS_OF = [
    START + timedelta(days=3, hours=5),  # on the hour
    START + timedelta(days=3, hours=5, seconds=1),
    START + timedelta(days=2, hours=23, minutes=59, seconds=59),
    START + timedelta(days=3, hours=17, minutes=31, seconds=17),
    START + timedelta(hours=2, minutes=7),  # windows reaching before the first probe
    START + timedelta(days=DAYS, hours=3),  # after the last probe
]


@pytest.mark.parametrize("as_of", AS_OF, ids=lambda at: at.isoformat())
def test_window_counts_equal_a_bare_aggregation_over_raw(loaded, as_of):
    warehouse, defs = loaded
    windows = sorted(
        set(ALERT_WINDOWS) | {timedelta(days=28), timedelta(days=30), timedelta(hours=7, minutes=13)}
    )
    with warehouse.read() as con:
        counts = window_counts(con, defs, as_of, windows)
    for window in windows:
        bare = _bare_counts(warehouse, defs, as_of, window)
        for key, (good, valid) in bare.items():
            assert (counts[(*key, window)].good, counts[(*key, window)].valid) == (good, valid), (key, window)


@pytest.mark.parametrize(
    ("as_of", "window", "pieces"),
    [
        (datetime(2026, 1, 2, 12), timedelta(hours=6), [("hourly", datetime(2026, 1, 2, 7), datetime(2026, 1, 2, 12))]),
        (datetime(2026, 1, 2, 12, 30), timedelta(minutes=30), [("raw", datetime(2026, 1, 2, 12), datetime(2026, 1, 2, 12, 30))]),
        (
            datetime(2026, 1, 2, 12, 30),
            timedelta(hours=2),
            [
                ("hourly", datetime(2026, 1, 2, 12), datetime(2026, 1, 2, 12)),
                ("raw", datetime(2026, 1, 2, 10, 30), datetime(2026, 1, 2, 11)),
                ("raw", datetime(2026, 1, 2, 12), datetime(2026, 1, 2, 12, 30)),
            ],
        ),
    ],
)  # fmt: skip
def test_a_window_is_whole_rollup_hours_and_raw_edges(as_of, window, pieces):
    assert [(p.source, p.lo, p.hi) for p in window_pieces(as_of, window)] == pieces


def test_the_hourly_series_agrees_with_point_evaluations(loaded):
    warehouse, defs = loaded
    end = START + timedelta(days=DAYS)
    with warehouse.read() as con:
        points = hourly_points(con, defs, end, days=2)
        at_hours = {
            (s.key, s.as_of): s
            for hour in range(0, 48, 5)
            for s in evaluate_at(con, defs, end - timedelta(hours=hour))
        }
    assert len(points) == 3 * 48
    compared = 0
    for point in points:
        if (point.key, point.as_of) in at_hours:
            assert point == at_hours[(point.key, point.as_of)]
            compared += 1
    assert compared == 3 * 10


def test_changing_an_slo_definition_rebuilds_its_rollup(tmp_path):
    warehouse = Warehouse(tmp_path / "w.duckdb")
    probes = _random_probes(seed=9)
    first = parse_catalogue(CATALOGUE)
    store_probes(warehouse, probes, source=SOURCE_SIMULATED, slo_defs=slo_definitions(first), policies={})
    as_of = START + timedelta(days=DAYS)
    before = compute_slo_compliance(warehouse, first, as_of=as_of)
    assert before.rebuilt == []
    changed = parse_catalogue(
        CATALOGUE.replace("threshold_ms: 100", "threshold_ms: 150")
        + "      - {name: latency, kind: latency, threshold_ms: 80, objective: 0.9, window_days: 28}\n"
    )
    after = compute_slo_compliance(warehouse, changed, as_of=as_of)
    assert sorted(after.rebuilt) == ["checkout/latency", "search/latency"]
    assert compute_slo_compliance(warehouse, changed, as_of=as_of).rebuilt == []
    defs = slo_definitions(changed)
    bare = _bare_counts(warehouse, defs, as_of, timedelta(days=28))
    by_key = {(s.service, s.slo): (s.good_events, s.valid_events) for s in after.statuses}
    assert by_key[("checkout", "latency")] == bare[("checkout", "latency")]
    assert by_key[("search", "latency")] == bare[("search", "latency")]
    old = {(s.service, s.slo): s.good_events for s in before.statuses}
    assert by_key[("checkout", "latency")][0] > old[("checkout", "latency")]  # 150 ms lets more through


def test_the_asset_evaluates_as_of_the_newest_probe_and_exports_json(tmp_path):
    warehouse = Warehouse(tmp_path / "w.duckdb")
    catalogue_path = tmp_path / "services.yaml"
    catalogue_path.write_text(CATALOGUE)
    probes = _random_probes(seed=3)
    store_probes(
        warehouse,
        probes,
        source=SOURCE_SIMULATED,
        slo_defs=slo_definitions(parse_catalogue(CATALOGUE)),
        policies={},
    )
    result = dg.materialize(
        [slo_compliance, slo_compliance_consistent],
        resources={
            "warehouse": WarehouseResource(path=str(tmp_path / "w.duckdb")),
            "service_catalogue": ServiceCatalogueResource(path=str(catalogue_path)),
        },
        run_config={
            "ops": {
                "marts__slo_compliance": {
                    "config": {"reports_dir": str(tmp_path / "out"), "timeseries_days": 2}
                }
            }
        },
    )
    assert result.success and all(c.passed for c in result.get_asset_check_evaluations())
    newest = probes["probed_at"].max().to_pydatetime()
    mart = warehouse.query("SELECT * FROM marts.slo_compliance ORDER BY service, slo")
    assert list(mart["as_of"].unique()) == [newest] and len(mart) == 3
    assert (mart["valid_events"] > 0).all() and (mart["sli"] <= 1).all()
    assert set(mart["alert"]) <= {"none", "ticket", "page"}

    metadata = result.asset_materializations_for_node("marts__slo_compliance")[0].metadata
    summary = json.loads(Path(metadata["slo_summary"].value).read_text())
    assert set(summary["targets"]) == {"checkout/availability", "checkout/latency", "search/availability"}
    assert summary["targets"]["checkout/latency"] == {
        "kind": "latency",
        "objective": 0.9,
        "window_days": 28,
        "threshold_ms": 100.0,
    }
    row = mart.set_index(["service", "slo"]).loc[("checkout", "availability")]
    metrics = summary["metrics"]["checkout/availability"]
    assert metrics["good_events"] == row["good_events"] and metrics["valid_events"] == row["valid_events"]
    assert metrics["alert"] == row["alert"] and set(metrics["burn_rates"]) == {
        "5m",
        "30m",
        "1h",
        "2h",
        "6h",
        "1d",
        "3d",
    }
    assert summary["compliance"]["overall"] == bool(mart["compliant"].all())

    series = json.loads(Path(metadata["slo_timeseries"].value).read_text())
    points = series["series"]["search/availability"]
    assert len(points) == 48 + 1  # two days of hours, then the current point
    assert points[-1]["timestamp"] == newest.isoformat(timespec="seconds") + "Z"
    assert [p["timestamp"] for p in points] == sorted(p["timestamp"] for p in points)
    assert len(series["overall"]) == 49


def test_no_probes_gives_an_empty_mart(tmp_path):
    warehouse = Warehouse(tmp_path / "w.duckdb")
    run = compute_slo_compliance(warehouse, parse_catalogue(CATALOGUE), reports_dir=tmp_path / "out")
    assert run.as_of is None and run.statuses == []
    assert warehouse.query("SELECT count(*) AS n FROM marts.slo_compliance").loc[0, "n"] == 0
