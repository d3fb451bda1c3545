"""End to end: an outage and a latency degradation on the demo services raise the SLO alerts when
core.slo's formulas say they should, within one probe interval.

The probes run on a virtual clock: every tick is a real run of the `health_probe` job (the job the
every-minute schedule starts) that probes the demo services over loopback HTTP and evaluates
marts.slo_compliance as of that tick. The minutes between the moments that matter are filled in
bulk with the probe results the same faults produce, so a 14-hour degradation takes seconds.

Predictions come from core.slo.first_alert (the SRE workbook's detection time
``(1 - SLO) / error ratio * long window * burn rate``), for three SLOs whose first alerts fall
at 8.64 minutes (availability 99 %: page), 43.2 minutes (latency p95 <= 50 ms: page) and 864
minutes (latency p80 <= 50 ms: only the ticket rules can ever fire).
"""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from observability_assets.catalog.health import (
    HEALTH_ASSETS,
    HEALTH_CHECKS,
    HEALTH_JOBS,
    SLO_OP,
    tick_run_config,
)
from observability_assets.core.probe_state import HysteresisPolicy
from observability_assets.core.slo import first_alert
from observability_assets.demo.resources import DemoServicesResource
from observability_assets.demo.services import DemoServices
from observability_assets.ingest.health_probes import SOURCE_SIMULATED, slo_definitions, store_probes
from resources.http_probe import HttpProbeResource, ServiceCatalogueResource
from resources.warehouse import Warehouse, WarehouseResource

pytestmark = pytest.mark.slow

INTERVAL = timedelta(minutes=1)
ONSET = datetime.combine(datetime.now(UTC).date() - timedelta(days=1), datetime.min.time()) + timedelta(
    hours=5
)
INJECTED_LATENCY_MS = 80.0  # over the 50 ms latency threshold
CATALOGUE = """
services:
  - name: checkout
    base_url: {checkout}
    slos:
      - {{name: availability, objective: 0.99, window_days: 30}}
  - name: search
    base_url: {search}
    slos:
      - {{name: latency-p95, kind: latency, threshold_ms: 50, objective: 0.95, window_days: 30}}
      - {{name: latency-p80, kind: latency, threshold_ms: 50, objective: 0.8, window_days: 30}}
"""


def _bulk(urls: dict[str, str], start: datetime, end: datetime, degraded: bool) -> pd.DataFrame:
    """The probes the live services would give for ticks in [start, end): healthy, or with the faults."""
    ticks = pd.date_range(start, end - INTERVAL, freq="1min").as_unit("us")
    n = len(ticks)
    down = degraded  # checkout answers 503 while down; search answers, slowly
    frames = [
        pd.DataFrame(
            {
                "service": "checkout",
                "url": urls["checkout"] + "/health",
                "probed_at": ticks,
                "status_code": pd.array([503 if down else 200] * n, dtype="Int32"),
                "latency_ms": pd.array([1.5] * n, dtype="Float64"),
                "ok": pd.array([not down] * n, dtype="boolean"),
                "error": pd.array(["HTTP 503" if down else None] * n, dtype="string"),
            }
        ),
        pd.DataFrame(
            {
                "service": "search",
                "url": urls["search"] + "/health",
                "probed_at": ticks,
                "status_code": pd.array([200] * n, dtype="Int32"),
                "latency_ms": pd.array([INJECTED_LATENCY_MS + 2 if degraded else 2.0] * n, dtype="Float64"),
                "ok": pd.array([True] * n, dtype="boolean"),
                "error": pd.array([None] * n, dtype="string"),
            }
        ),
    ]
    return pd.concat(frames, ignore_index=True).astype({"service": "string", "url": "string"})


@pytest.fixture()
def setup(tmp_path: Path):
    with DemoServices(["checkout", "search"], admin_token="e2e-admin-token") as demo:
        catalogue_path = tmp_path / "services.yaml"
        catalogue_path.write_text(CATALOGUE.format(**demo.urls))
        resources = {
            "warehouse": WarehouseResource(path=str(tmp_path / "w.duckdb")),
            "http_probe": HttpProbeResource(connect_timeout_s=1.0, read_timeout_s=2.0),
            "service_catalogue": ServiceCatalogueResource(path=str(catalogue_path)),
            "service_runtime": DemoServicesResource(labels_path=str(tmp_path / "labels.json")),
        }
        defs = dg.Definitions(
            assets=HEALTH_ASSETS, asset_checks=HEALTH_CHECKS, jobs=HEALTH_JOBS, resources=resources
        )
        catalogue = resources["service_catalogue"].load()
        warehouse = Warehouse(tmp_path / "w.duckdb")

        def fill(start: datetime, end: datetime, degraded: bool) -> None:
            store_probes(
                warehouse,
                _bulk(demo.urls, start, end, degraded),
                source=SOURCE_SIMULATED,
                slo_defs=slo_definitions(catalogue),
                policies={s.name: HysteresisPolicy() for s in catalogue},
            )

        job = defs.resolve_job_def("health_probe")
        ticked: list[datetime] = []

        def tick(at: datetime) -> dict[str, dict]:
            ticked.append(at)
            config = tick_run_config(at)
            config["ops"][SLO_OP]["config"] |= {
                "reports_dir": str(tmp_path / "reports"),
                "timeseries_days": 1,
            }
            result = job.execute_in_process(run_config=config, partition_key=at.date().isoformat())
            assert result.success
            assert all(c.passed for c in result.get_asset_check_evaluations())
            frame = warehouse.query("SELECT * FROM marts.slo_compliance")
            assert set(frame["as_of"]) == {at}
            return {f"{r['service']}/{r['slo']}": r for r in frame.to_dict("records")}

        yield demo, fill, tick, warehouse, ticked


def _first_alert_tick(tick, ticks: range, key: str, level: str) -> tuple[int, list[dict]]:
    """Run the ticks ONSET + k minutes; the first k at which ``key`` raises ``level``."""
    seen = []
    for k in ticks:
        row = tick(ONSET + k * INTERVAL)[key]
        seen.append(row)
        if row["alert"] == level:
            return k, seen
    raise AssertionError(f"{key} never raised {level} in ticks {ticks}: {[r['alert'] for r in seen]}")


def test_outage_and_latency_degradation_alert_when_predicted(setup):
    demo, fill, tick, warehouse, ticked = setup
    fill(ONSET - timedelta(days=3, hours=1), ONSET - 2 * INTERVAL, degraded=False)
    for k in (-2, -1):
        assert {r["alert"] for r in tick(ONSET + k * INTERVAL).values()} == {"none"}

    demo["checkout"].inject(down=True)
    demo["search"].inject(latency_ms=INJECTED_LATENCY_MS)

    # Outage: availability 99 % pages after 8.64 minutes (1h/5m rule).
    predicted = first_alert(1.0, 0.99, 30)
    assert predicted.rule.name == "1h/5m" and predicted.after == timedelta(minutes=8.64)
    fired, seen = _first_alert_tick(tick, range(0, 12), "checkout/availability", "page")
    assert abs(fired * INTERVAL - predicted.after) <= INTERVAL
    assert seen[-1]["alert_rule"] == predicted.rule.name
    assert [r["alert"] for r in seen[:-1]] == ["none"] * fired
    budgets = [r["error_budget_remaining"] for r in seen]
    assert budgets == sorted(budgets, reverse=True) and budgets[-1] < budgets[0]  # the budget burns
    assert seen[-1]["burn_rate_1h"] == pytest.approx((fired + 1) / 60 / 0.01)
    assert seen[-1]["burn_rate_5m"] == pytest.approx(100.0)

    # Latency degradation: p95 <= 50 ms pages after 43.2 minutes (1h/5m rule).
    predicted = first_alert(1.0, 0.95, 30)
    assert predicted.rule.name == "1h/5m" and abs(predicted.after - timedelta(minutes=43.2)) < timedelta(
        milliseconds=1
    )
    fill(ONSET + (fired + 1) * INTERVAL, ONSET + 40 * INTERVAL, degraded=True)
    fired, seen = _first_alert_tick(tick, range(40, 47), "search/latency-p95", "page")
    assert abs(fired * INTERVAL - predicted.after) <= INTERVAL
    assert seen[0]["alert"] == "none" and seen[-1]["alert_rule"] == "1h/5m"

    # p80 <= 50 ms: burn rate 1 / 0.2 = 5 never reaches a page rule (6 and 14.4), so the
    # ticket rules fire, after 864 minutes.
    predicted = first_alert(1.0, 0.8, 30)
    assert predicted.rule.severity == "ticket" and abs(predicted.after - timedelta(minutes=864)) < timedelta(
        milliseconds=1
    )
    fill(ONSET + (fired + 1) * INTERVAL, ONSET + 858 * INTERVAL, degraded=True)
    fired, seen = _first_alert_tick(tick, range(858, 868), "search/latency-p80", "ticket")
    assert abs(fired * INTERVAL - predicted.after) <= INTERVAL
    assert seen[0]["alert"] == "none" and seen[-1]["alert_rule"] == predicted.rule.name
    assert seen[-1]["burn_rate_1d"] == pytest.approx((fired + 1) / 1440 / 0.2)

    # Every probe was stored once: the live ticks, the bulk minutes, no duplicates.
    counts = warehouse.query(
        "SELECT count(*) AS n, count(DISTINCT probe_id) AS ids, count(*) FILTER (WHERE source = 'live') AS live "
        "FROM raw.health_probes"
    )
    assert counts.loc[0, "n"] == counts.loc[0, "ids"]
    assert counts.loc[0, "live"] == 2 * len(ticked)  # two endpoints per tick
