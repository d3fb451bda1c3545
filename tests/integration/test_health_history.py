"""The simulated demo probe history: deterministic, and its incident labels agree with the SLO mart."""

from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from observability_assets.core.probe_state import HysteresisPolicy
from observability_assets.core.service_catalogue import load_catalogue
from observability_assets.demo.health_history import labels_document, plan_incidents, simulate_day
from observability_assets.derived.slo_compliance import evaluate_at
from observability_assets.ingest.health_probes import SOURCE_SIMULATED, slo_definitions, store_probes
from resources.warehouse import Warehouse

REPO = Path(__file__).resolve().parents[2]
FIRST_DAY = date(2026, 10, 1)
DAYS = 28
SEED = 7
SEVERITY = {"none": 0, "ticket": 1, "page": 2}


def test_plans_three_separate_incidents_per_service_after_a_clean_first_day():
    incidents = plan_incidents(["checkout", "search"], FIRST_DAY, DAYS, SEED)
    assert incidents == plan_incidents(["checkout", "search"], FIRST_DAY, DAYS, SEED)
    assert incidents != plan_incidents(["checkout", "search"], FIRST_DAY, DAYS, SEED + 1)
    for service in ("checkout", "search"):
        mine = sorted((i for i in incidents if i.service == service), key=lambda i: i.start)
        assert sorted(i.kind for i in mine) == ["errors", "latency", "outage"]
        assert mine[0].start >= datetime(2026, 10, 2)
        assert mine[-1].end <= datetime(2026, 10, 29)
        assert all(a.end <= b.start for a, b in zip(mine, mine[1:], strict=False))
    # Adding a service changes nothing for the others.
    more = plan_incidents(["checkout", "search", "auth"], FIRST_DAY, DAYS, SEED)
    assert [i for i in more if i.service != "auth"] == incidents


def test_a_day_is_the_same_whenever_it_is_generated_and_shows_its_incidents():
    endpoints = [("checkout", "demo://checkout/health"), ("checkout", "demo://checkout/api/items")]
    incidents = plan_incidents(["checkout"], FIRST_DAY, DAYS, SEED)
    for incident in incidents:
        day = incident.start.date()
        frame = simulate_day(endpoints, day, incidents, SEED)
        assert frame.equals(simulate_day(endpoints, day, incidents, SEED))
        assert len(frame) == 2 * 1440
        inside = (frame["probed_at"] >= incident.start) & (frame["probed_at"] < incident.end)
        if incident.kind == "outage":
            assert not frame.loc[inside, "ok"].any()
            expected = "connection refused" if incident.refused else "HTTP 503"
            assert set(frame.loc[inside, "error"]) == {expected}
        elif incident.kind == "latency":
            assert (frame.loc[inside, "latency_ms"] > 1200).all() and frame.loc[inside, "ok"].all()
        else:
            share = 1 - frame.loc[inside, "ok"].mean()
            assert share == pytest.approx(incident.failure_ratio, abs=0.12)
            assert set(frame.loc[inside & ~frame["ok"], "error"]) == {"HTTP 500"}
    quiet = simulate_day(endpoints, FIRST_DAY, incidents, SEED)
    assert (1 - quiet["ok"].mean()) < 0.002 and quiet["latency_ms"].median() < 200
    assert np.isnan(quiet["latency_ms"].to_numpy(dtype=float, na_value=np.nan)).sum() == 0


@pytest.fixture(scope="module")
def demo_history(tmp_path_factory):
    """The default catalogue's demo services, 28 simulated days loaded as the asset loads them."""
    catalogue = load_catalogue(REPO / "config" / "services.yaml")
    warehouse = Warehouse(tmp_path_factory.mktemp("history") / "w.duckdb")
    endpoints = [(s.name, url) for s in catalogue for url in s.health_urls]
    incidents = plan_incidents(catalogue.names, FIRST_DAY, DAYS, SEED)
    defs = slo_definitions(catalogue)
    policies = {
        s.name: HysteresisPolicy(latency_threshold_ms=s.thresholds.response_time_ms) for s in catalogue
    }
    for offset in range(DAYS):
        day = FIRST_DAY + timedelta(days=offset)
        frame = simulate_day(endpoints, day, incidents, SEED)
        store_probes(
            warehouse, frame, source=SOURCE_SIMULATED, slo_defs=defs, policies=policies, replace_day=day
        )
    labels = labels_document(incidents, catalogue, seed=SEED, first_day=FIRST_DAY, days=DAYS)
    return warehouse, defs, labels


def test_every_labelled_alert_is_raised_by_the_mart_when_predicted(demo_history):
    """Clean before each incident; the predicted alert within a probe of the prediction when every
    probe is bad, and during the incident when only a share is (a 5-minute window of random draws
    need not hold the average share at the predicted moment)."""
    warehouse, defs, labels = demo_history
    checked = 0
    with warehouse.read() as con:

        def alert(key: str, at: datetime) -> str:
            return {s.key: s for s in evaluate_at(con, defs, at)}[key].alert

        for incident in labels["incidents"]:
            start = datetime.fromisoformat(incident["start"].rstrip("Z"))
            end = datetime.fromisoformat(incident["end"].rstrip("Z"))
            for prediction in incident["predictions"]:
                key = f"{incident['service']}/{prediction['slo']}"
                assert alert(key, start - timedelta(minutes=1)) == "none", (key, incident)
                if not prediction["expected"]:
                    continue
                at = datetime.fromisoformat(prediction["at"].rstrip("Z"))
                first_probe = at.replace(second=0, microsecond=0) + timedelta(minutes=1)
                if prediction["error_ratio"] == 1.0:
                    moments = [first_probe]
                else:
                    moments = [
                        first_probe + timedelta(minutes=m)
                        for m in range(int((end - first_probe).total_seconds() // 60))
                    ]
                assert any(SEVERITY[alert(key, m)] >= SEVERITY[prediction["alert"]] for m in moments), (
                    key,
                    incident,
                )
                checked += 1
    assert checked >= 8


def test_the_simulated_states_follow_the_outages(demo_history):
    warehouse, _, labels = demo_history
    outage = next(i for i in labels["incidents"] if i["kind"] == "outage" and i["minutes"] >= 5)
    start = datetime.fromisoformat(outage["start"].rstrip("Z"))
    states = warehouse.query(
        "SELECT probed_at, state FROM raw.health_probes WHERE service = ? AND probed_at >= ? ORDER BY probed_at LIMIT 4",
        [outage["service"], start],
    )["state"].tolist()
    assert states[2:] == ["down", "down"]  # three failed probes in a row
