"""raw.health_probes through Dagster, over real HTTP to the demo services on loopback, into DuckDB."""

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest

from observability_assets.catalog.health import (
    HEALTH_ASSETS,
    HEALTH_CHECKS,
    HEALTH_JOBS,
    HEALTH_SCHEDULES,
    health_probe_schedule,
)
from observability_assets.demo.resources import DemoServicesResource
from observability_assets.demo.services import DemoServices
from observability_assets.ingest.health_probes import (
    PROBE_ID_SQL,
    health_probes,
    health_probes_checks,
    probe_id,
)
from resources.http_probe import HttpProbeResource, ServiceCatalogueResource
from resources.warehouse import Warehouse, WarehouseResource

TOKEN = "admin-token-for-tests"
# Yesterday: a valid partition whatever day the tests run on (partitions end today).
DAY = datetime.now(UTC).date() - timedelta(days=1)
TICK = datetime.combine(DAY, datetime.min.time()) + timedelta(hours=9)


def _catalogue(path: Path, urls: dict[str, str], extra: str = "") -> Path:
    path.write_text(
        f"""
services:
  - name: checkout
    base_url: {urls["checkout"]}
    health_paths: [/health, /api/items]
    slos:
      - name: availability
        objective: 0.999
        window_days: 30
  - name: search
    base_url: {urls["search"]}
    slos:
      - name: availability
        objective: 0.995
        window_days: 28
{extra}"""
    )
    return path


@pytest.fixture()
def demo():
    with DemoServices(["checkout", "search"], admin_token=TOKEN, restart_delay_s=0.05) as services:
        yield services


def _resources(tmp_path: Path, catalogue: Path, read_timeout_s: float = 2.0, **demo_settings) -> dict:
    return {
        "warehouse": WarehouseResource(path=str(tmp_path / "w.duckdb")),
        "http_probe": HttpProbeResource(connect_timeout_s=1.0, read_timeout_s=read_timeout_s),
        "service_catalogue": ServiceCatalogueResource(path=str(catalogue)),
        "service_runtime": DemoServicesResource(labels_path=str(tmp_path / "labels.json"), **demo_settings),
    }


def _probe(resources: dict, tick: datetime) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [health_probes, health_probes_checks],
        partition_key=tick.date().isoformat(),
        resources=resources,
        run_config={"ops": {"health_probes": {"config": {"tick": tick.isoformat() + "Z"}}}},
    )


def _probes(tmp_path: Path) -> list[dict]:
    frame = Warehouse(tmp_path / "w.duckdb").query(
        "SELECT * FROM raw.health_probes ORDER BY probed_at, service, url"
    )
    return frame.astype(object).where(frame.notna(), None).to_dict("records")


def test_a_tick_probes_every_endpoint_once_even_when_retried(demo, tmp_path):
    resources = _resources(tmp_path, _catalogue(tmp_path / "services.yaml", demo.urls))
    first = _probe(resources, TICK)
    again = _probe(resources, TICK)
    assert first.success and again.success
    rows = _probes(tmp_path)
    assert [(r["service"], r["url"]) for r in rows] == [
        ("checkout", demo.urls["checkout"] + "/api/items"),
        ("checkout", demo.urls["checkout"] + "/health"),
        ("search", demo.urls["search"] + "/health"),
    ]
    for row in rows:
        assert row["probed_at"] == TICK and row["partition_day"].date() == DAY
        assert row["ok"] and row["status_code"] == 200 and row["error"] is None
        assert 0 < row["latency_ms"] < 2000
        assert row["state"] == "ok" and row["source"] == "live"
        assert row["probe_id"] == probe_id(row["service"], row["url"], TICK)
    metadata = again.asset_materializations_for_node("health_probes")[0].metadata
    assert metadata["probes_inserted"].value == 0 and metadata["probes_skipped"].value == 3
    assert all(c.passed for c in again.get_asset_check_evaluations())
    assert {c.check_name for c in again.get_asset_check_evaluations()} == {
        "latency_non_negative", "ok_consistent_with_status", "probe_id_unique", "hourly_matches_raw",
    }  # fmt: skip


def test_outage_goes_down_after_three_failures_and_recovers_after_two_successes(demo, tmp_path):
    catalogue = _catalogue(tmp_path / "services.yaml", demo.urls)
    resources = _resources(tmp_path, catalogue)
    script = [{}, {"down": True}, {"down": True, "down_mode": "refuse"}, {}, {}, {}]
    for minute, faults in enumerate(script):
        demo["search"].clear_faults()
        if faults:
            demo["search"].inject(**faults)
        assert _probe(resources, TICK + timedelta(minutes=minute)).success
    search = [r for r in _probes(tmp_path) if r["service"] == "search"]
    assert [r["ok"] for r in search] == [True, False, False, True, True, True]
    assert [r["error"] for r in search] == [None, "HTTP 503", "connection refused", None, None, None]
    assert [r["status_code"] for r in search][:3] == [200, 503, None]
    assert search[2]["latency_ms"] is None
    # 2 failures: degraded (2 of the last 5 bad); a third would be down; recovery after 2 successes.
    assert [r["state"] for r in search] == ["ok", "ok", "degraded", "degraded", "degraded", "degraded"]

    demo["search"].inject(down=True)
    for minute in range(6, 9):
        _probe(resources, TICK + timedelta(minutes=minute))
    demo["search"].clear_faults()
    for minute in range(9, 11):
        _probe(resources, TICK + timedelta(minutes=minute))
    states = [r["state"] for r in _probes(tmp_path) if r["service"] == "search"][6:]
    # Down after 3 failures; back after 2 successes, judged by those recovery probes alone.
    assert states == ["degraded", "degraded", "down", "down", "ok"]
    current = Warehouse(tmp_path / "w.duckdb").query(
        "SELECT * FROM ops.probe_states WHERE service = 'search'"
    )
    assert current.loc[0, "health"] == "ok" and current.loc[0, "recent_bad"] == "00"
    assert current.loc[0, "last_probed_at"] == TICK + timedelta(minutes=10)
    assert current.loc[0, "consecutive_successes"] == 2 and current.loc[0, "probes"] == 11


def test_a_slow_endpoint_fails_on_the_read_timeout(demo, tmp_path):
    resources = _resources(tmp_path, _catalogue(tmp_path / "services.yaml", demo.urls), read_timeout_s=0.3)
    demo["search"].inject(latency_ms=1000)
    assert _probe(resources, TICK).success
    search = [r for r in _probes(tmp_path) if r["service"] == "search"]
    assert search[0]["ok"] is False and search[0]["error"] == "read timeout after 0.3 s"
    assert search[0]["status_code"] is None and search[0]["latency_ms"] is None


def test_a_tick_outside_the_partition_is_refused(demo, tmp_path):
    resources = _resources(tmp_path, _catalogue(tmp_path / "services.yaml", demo.urls))
    result = dg.materialize(
        [health_probes],
        partition_key=(DAY - timedelta(days=1)).isoformat(),
        resources=resources,
        run_config={"ops": {"health_probes": {"config": {"tick": TICK.isoformat()}}}},
        raise_on_error=False,
    )
    assert not result.success
    assert "does not belong to partition" in str(result.all_events)


def test_an_invalid_catalogue_fails_with_every_problem_named(demo, tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        "services:\n  - name: Checkout\n    base_url: ftp://x\n    slos: [{name: a, objective: 2}]\n"
    )
    result = dg.materialize(
        [health_probes],
        partition_key=DAY.isoformat(),
        resources=_resources(tmp_path, broken),
        run_config={"ops": {"health_probes": {"config": {"tick": TICK.isoformat()}}}},
        raise_on_error=False,
    )
    assert not result.success
    failure = str(result.all_events)
    assert "name must be lower-case" in failure and "base_url must be" in failure and "objective" in failure


def test_probe_identity_is_the_same_in_python_and_in_duckdb():
    import duckdb

    at = datetime(2026, 10, 5, 12, 34, 0, 500)
    (sql_id,) = (
        duckdb.connect()
        .execute(
            f"SELECT {PROBE_ID_SQL} FROM (SELECT ? AS service, ? AS url, CAST(? AS TIMESTAMP) AS probed_at)",
            ["checkout", "demo://checkout/health", at],
        )
        .fetchall()[0]
    )
    assert sql_id == probe_id("checkout", "demo://checkout/health", at)
    assert probe_id("checkout", "demo://checkout/health", at + timedelta(minutes=1)) != sql_id


def test_demo_days_load_the_simulated_history_once_and_deterministically(tmp_path):
    catalogue = tmp_path / "services.yaml"
    catalogue.write_text(
        "services:\n"
        "  - name: checkout\n    base_url: demo://checkout\n"
        "    slos: [{name: availability, objective: 0.999, window_days: 30},"
        " {name: latency-p95, kind: latency, threshold_ms: 500, objective: 0.95, window_days: 30}]\n"
        "  - name: search\n    base_url: demo://search\n    health_paths: [/health, /api/items]\n"
    )
    first_day = DAY - timedelta(days=3)
    resources = _resources(tmp_path, catalogue, start_date=first_day.isoformat(), days=3, seed=11)

    def backfill() -> dg.ExecuteInProcessResult:
        return dg.materialize(
            [health_probes, health_probes_checks],
            resources=resources,
            tags={
                "dagster/asset_partition_range_start": first_day.isoformat(),
                "dagster/asset_partition_range_end": (first_day + timedelta(days=2)).isoformat(),
            },
        )

    # A live probe taken inside a demo day keeps its place: the simulated minute with the same
    # identity is not added, now or when the day is reloaded.
    live_tick = datetime.combine(first_day + timedelta(days=1), datetime.min.time()) + timedelta(hours=3)
    live = dg.materialize(
        [health_probes],
        partition_key=live_tick.date().isoformat(),
        resources=resources,
        run_config={"ops": {"health_probes": {"config": {"tick": live_tick.isoformat()}}}},
    )
    assert live.success
    wh = Warehouse(tmp_path / "w.duckdb")
    checksum = "SELECT count(*), sum(hash(COLUMNS(* EXCLUDE (ingested_at)))) FROM raw.health_probes"
    expected_sources = [{"source": "live", "n": 3}, {"source": "simulated", "n": 3 * 1440 * 3 - 3}]
    checksums = []
    for _ in range(2):
        result = backfill()
        assert result.success and all(c.passed for c in result.get_asset_check_evaluations())
        sources = wh.query(
            "SELECT source, count(*) AS n FROM raw.health_probes GROUP BY source ORDER BY source"
        )
        assert sources.to_dict("records") == expected_sources
        checksums.append(wh.query(checksum).iloc[0].tolist())
    assert checksums[0] == checksums[1]  # reloading the days gives the very same rows
    assert wh.query("SELECT count(DISTINCT probe_id) AS n FROM raw.health_probes").loc[0, "n"] == 3 * 1440 * 3
    live_urls = set(wh.query("SELECT url FROM raw.health_probes WHERE source = 'live'")["url"])
    assert live_urls == {"demo://checkout/health", "demo://search/health", "demo://search/api/items"}

    labels = json.loads((tmp_path / "labels.json").read_text())
    assert labels["seed"] == 11 and labels["days"] == 3
    assert {i["kind"] for i in labels["incidents"]} == {"outage", "latency", "errors"}
    outage = next(i for i in labels["incidents"] if i["service"] == "checkout" and i["kind"] == "outage")
    availability = next(p for p in outage["predictions"] if p["slo"] == "availability")
    assert availability["alert"] == "page" and availability["rule"] == "1h/5m"
    assert availability["after_minutes"] == pytest.approx(0.864)
    hourly = wh.query("SELECT sum(valid) AS n FROM staging.health_probes_hourly WHERE slo = 'availability'")
    assert hourly.loc[0, "n"] == 3 * 1440 * 1  # checkout: one endpoint; search has no SLO


def test_the_schedule_probes_the_tick_it_was_due_for(demo, tmp_path):
    catalogue = _catalogue(tmp_path / "services.yaml", demo.urls)
    defs = dg.Definitions(
        assets=HEALTH_ASSETS,
        asset_checks=HEALTH_CHECKS,
        jobs=HEALTH_JOBS,
        schedules=HEALTH_SCHEDULES,
        resources=_resources(tmp_path, catalogue),
    )
    due = datetime.combine(DAY, datetime.min.time(), tzinfo=UTC) + timedelta(hours=7, minutes=3)
    request = health_probe_schedule(dg.build_schedule_context(scheduled_execution_time=due))
    assert request.run_key == f"{DAY.isoformat()}T07:03Z" and request.partition_key == DAY.isoformat()
    result = defs.resolve_job_def("health_probe").execute_in_process(
        run_config=request.run_config, partition_key=request.partition_key
    )
    assert result.success
    wh = Warehouse(tmp_path / "w.duckdb")
    assert set(wh.query("SELECT DISTINCT probed_at FROM raw.health_probes")["probed_at"]) == {
        due.replace(tzinfo=None)
    }
    slos = wh.query("SELECT service, slo, as_of, alert FROM marts.slo_compliance ORDER BY service")
    assert slos.to_dict("records") == [
        {"service": "checkout", "slo": "availability", "as_of": due.replace(tzinfo=None), "alert": "none"},
        {"service": "search", "slo": "availability", "as_of": due.replace(tzinfo=None), "alert": "none"},
    ]
    assert date.fromisoformat(request.partition_key) == DAY


def test_today_without_a_tick_probes_the_embedded_demo_services_now(tmp_path):
    default_catalogue = Path(__file__).resolve().parents[2] / "config" / "services.yaml"
    before = datetime.now(UTC).replace(tzinfo=None, second=0, microsecond=0)
    result = dg.materialize(
        [health_probes],
        partition_key=datetime.now(UTC).date().isoformat(),
        resources=_resources(tmp_path, default_catalogue),
    )
    assert result.success
    rows = _probes(tmp_path)
    assert {(r["service"], r["url"]) for r in rows} == {
        (name, f"demo://{name}/health") for name in ("checkout", "search", "payments", "auth")
    }
    assert all(r["ok"] and r["source"] == "live" and r["probed_at"] >= before for r in rows)
    assert not (tmp_path / "labels.json").exists()  # no simulated history outside the demo window
