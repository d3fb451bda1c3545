"""SLO math against the Google SRE workbook, chapter 5 "Alerting on SLOs".

Figures: the multiwindow, multi-burn-rate table (page 1h/5m at 14.4 = 2 % of the budget, page 6h/30m
at 6 = 5 %, ticket 3d/6h at 1 = 10 %, plus Sloth's ticket 1d/2h at 3 = 10 %), table 5-4 (burn rate
-> time to exhaust the budget of a 30-day window) and the detection-time formula
(1 - SLO) / error ratio * window * burn rate.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest

from observability_assets.core.slo import (
    EventCounts,
    EventSeries,
    SloStatus,
    alert_windows,
    availability_events,
    budget_exhaustion_time,
    burn_rate,
    detection_time,
    error_budget,
    error_budget_remaining,
    evaluate_alerts,
    evaluate_slo,
    first_alert,
    latency_events,
    predict_alerts,
    required_windows,
    sli,
    slo_summary,
    slo_timeseries,
    to_json_text,
    window_label,
)

H, M, D = timedelta(hours=1), timedelta(minutes=1), timedelta(days=1)
OBJECTIVES = [0.99, 0.995, 0.999, 0.9995]


def test_workbook_table_for_30_days():
    rules = alert_windows(30)
    assert [(r.severity, r.long, r.short) for r in rules] == [
        ("page", 1 * H, 5 * M),
        ("page", 6 * H, 30 * M),
        ("ticket", 1 * D, 2 * H),
        ("ticket", 3 * D, 6 * H),
    ]
    assert [r.burn_rate for r in rules] == pytest.approx([14.4, 6.0, 3.0, 1.0])
    assert [r.budget_consumed for r in rules] == [0.02, 0.05, 0.10, 0.10]
    # The budget consumed is what burning at the rule's rate for its long window costs.
    for rule in rules:
        assert rule.burn_rate * (rule.long / timedelta(days=30)) == pytest.approx(rule.budget_consumed)
    assert [r.name for r in rules] == ["1h/5m", "6h/30m", "1d/2h", "3d/6h"]


@pytest.mark.parametrize(
    ("window_days", "expected"),
    [(30, [14.4, 6.0, 3.0, 1.0]), (28, [13.44, 5.6, 2.8, 0.9333333]), (7, [3.36, 1.4, 0.7, 0.2333333])],
)
def test_burn_rates_scale_with_the_slo_window(window_days, expected):
    rules = alert_windows(window_days)
    assert [r.burn_rate for r in rules] == pytest.approx(expected, rel=1e-6)
    assert [r.budget_consumed for r in rules] == [0.02, 0.05, 0.10, 0.10]
    assert [r.long for r in rules] == [1 * H, 6 * H, 1 * D, 3 * D]
    assert [r.short * 12 for r in rules] == [r.long for r in rules]


@pytest.mark.parametrize(
    ("objective", "budget"), [(0.99, 0.01), (0.995, 0.005), (0.999, 0.001), (0.9995, 0.0005)]
)
def test_error_budget_and_burn_rate(objective, budget):
    assert error_budget(objective) == pytest.approx(budget)
    assert burn_rate(14.4 * budget, objective) == pytest.approx(14.4)
    assert burn_rate(budget, objective) == pytest.approx(1.0)


@pytest.mark.parametrize("objective", [0.0, 1.0, 1.5, -0.1])
def test_objective_must_be_a_fraction(objective):
    with pytest.raises(ValueError, match="between 0 and 1"):
        error_budget(objective)


def test_sli_and_budget_remaining():
    assert sli(999, 1000) == 0.999
    assert sli(0, 0) is None
    assert error_budget_remaining(0.9995, 0.999) == pytest.approx(0.5)
    assert error_budget_remaining(0.999, 0.999) == pytest.approx(0.0)
    assert error_budget_remaining(0.998, 0.999) == pytest.approx(-1.0)  # overspent twice
    assert error_budget_remaining(None, 0.999) == 1.0
    with pytest.raises(ValueError):
        sli(5, 4)


def test_latency_slo_counts_good_events():
    counts = latency_events([120.0, 499.9, 500.0, 500.1, None, 2500.0], threshold_ms=500)
    assert (counts.good, counts.valid, counts.sli) == (3, 6, 0.5)
    assert availability_events([True, True, False, True]) == EventCounts(3, 4)


@pytest.mark.parametrize(
    ("burn", "expected"),
    [
        (1, timedelta(days=30)),
        (2, timedelta(days=15)),
        (10, timedelta(days=3)),
        (1000, timedelta(minutes=43.2)),
    ],
)
def test_workbook_table_5_4_time_to_exhaust_the_budget(burn, expected):
    assert budget_exhaustion_time(burn, 30) == expected


def _ratios(objective: float, window_days: int = 30, **burns: float) -> dict[timedelta, float]:
    """Error ratios per window from burn rates given as e.g. h1=14.4, m5=14.4 (others 0)."""
    names = {"m5": 5 * M, "m30": 30 * M, "h1": H, "h2": 2 * H, "h6": 6 * H, "d1": D, "d3": 3 * D}
    ratios = dict.fromkeys(required_windows(window_days), 0.0)
    for name, burn in burns.items():
        ratios[names[name]] = burn * error_budget(objective)
    return ratios


@pytest.mark.parametrize("objective", OBJECTIVES)
@pytest.mark.parametrize(
    ("burns", "level", "rule"),
    [
        ({"h1": 14.4, "m5": 14.4}, "page", "1h/5m"),
        ({"h1": 14.39, "m5": 100.0}, "none", None),  # long window just below
        ({"h1": 20.0, "m5": 0.5}, "none", None),  # already recovered: the short window resets the alert
        ({"h6": 6.0, "m30": 6.0}, "page", "6h/30m"),
        ({"d1": 3.0, "h2": 3.0}, "ticket", "1d/2h"),
        ({"d3": 1.0, "h6": 1.0}, "ticket", "3d/6h"),
        ({"d3": 0.99, "h6": 5.0, "m30": 5.0, "h1": 5.0}, "none", None),
        # Several rules fire: the page wins.
        ({"h1": 15.0, "m5": 15.0, "h6": 7.0, "m30": 7.0, "d1": 4.0, "h2": 4.0, "d3": 2.0}, "page", "1h/5m"),
    ],
)
def test_evaluate_alerts(objective, burns, level, rule):
    decision = evaluate_alerts(_ratios(objective, **burns), objective, 30)
    assert decision.level == level
    assert (decision.rule.name if decision.rule else None) == rule


def test_evaluate_alerts_uses_the_scaled_thresholds():
    # 28 days: 13.44 pages, 13.4 does not.
    assert evaluate_alerts(_ratios(0.999, 28, h1=13.44, m5=13.44), 0.999, 28).level == "page"
    assert evaluate_alerts(_ratios(0.999, 28, h1=13.4, m5=13.44), 0.999, 28).level == "none"


def test_evaluate_alerts_needs_every_window():
    ratios = _ratios(0.999)
    del ratios[3 * D]
    with pytest.raises(ValueError, match="3d"):
        evaluate_alerts(ratios, 0.999)


@pytest.mark.parametrize(
    ("error_ratio", "objective", "rule_index", "expected"),
    [
        # Workbook formula (1 - SLO) / error ratio * window * burn rate, 99.9 %, 100 % errors:
        (1.0, 0.999, 0, timedelta(minutes=0.864)),  # 0.001 * 60 min * 14.4
        (1.0, 0.999, 1, timedelta(minutes=2.16)),  # 0.001 * 360 min * 6
        (1.0, 0.999, 2, timedelta(minutes=4.32)),  # 0.001 * 1440 min * 3
        (1.0, 0.999, 3, timedelta(minutes=4.32)),  # 0.001 * 4320 min * 1
        (0.0144, 0.999, 0, timedelta(hours=1)),  # exactly the threshold: needs the full hour
        (0.02, 0.999, 0, timedelta(minutes=43.2)),
        (1.0, 0.99, 0, timedelta(minutes=8.64)),
        (1.0, 0.9995, 0, timedelta(minutes=0.432)),
        (0.01, 0.999, 0, None),  # below 14.4x: never pages on the 1h rule
    ],
)
def test_detection_time(error_ratio, objective, rule_index, expected):
    rule = alert_windows(30)[rule_index]
    after = detection_time(rule, error_ratio, objective)
    if expected is None:
        assert after is None
    else:
        assert after.total_seconds() == pytest.approx(expected.total_seconds())


def test_first_alert_prefers_the_earliest_rule():
    assert first_alert(1.0, 0.999).rule.name == "1h/5m"
    slow = first_alert(0.004, 0.999)  # 4x burn: only the 1d/2h and 3d/6h tickets ever fire
    assert slow.rule.name == "1d/2h"
    assert slow.after == timedelta(hours=18)  # 0.003 / 0.004 * 24 h
    assert first_alert(0.0005, 0.999) is None
    assert [p.after is None for p in predict_alerts(0.004, 0.999)] == [True, True, False, False]


def _first_page_after_onset(bad_pattern: list[bool], interval: timedelta, objective: float) -> timedelta:
    """Probe every ``interval``: 3 clean days, then ``bad_pattern`` repeating from t0; evaluate at each probe."""
    t0 = datetime(2026, 1, 10)
    probes_per_3d = int(3 * D / interval)
    events = [(t0 - interval * i, True) for i in range(probes_per_3d, 0, -1)]
    events += [(t0 + interval * i, not bad_pattern[i % len(bad_pattern)]) for i in range(probes_per_3d)]
    series = EventSeries(events)
    for step in range(probes_per_3d):
        at = t0 + interval * step
        if evaluate_alerts(series.error_ratios(at, required_windows(30)), objective).level == "page":
            return at - t0
    raise AssertionError("never paged")


def test_discrete_probes_alert_within_one_interval_of_the_prediction():
    # A probe stands for the interval around it, so the page comes up to one interval either side.
    interval = timedelta(seconds=10)
    predicted = first_alert(1.0, 0.999).after  # 51.84 s
    fired = _first_page_after_onset([True], interval, 0.999)
    assert abs(fired - predicted) < interval
    # Half the probes failing: the prediction doubles, still within one probe interval.
    predicted = first_alert(0.5, 0.999).after
    fired = _first_page_after_onset([True, False], interval, 0.999)
    assert abs(fired - predicted) < interval


def test_event_series_windows_are_half_open():
    t = datetime(2026, 1, 1, 12)
    series = EventSeries([(t - 2 * H, False), (t - H, False), (t - 30 * M, True), (t, True)])
    assert series.counts(t, H) == EventCounts(good=2, valid=2)  # (t - 1h, t]: the event at t - 1h is out
    assert series.error_ratio(t, 2 * H) == pytest.approx(1 / 3)
    assert series.error_ratio(t - 3 * H, H) is None
    assert series.error_ratios(t - 3 * H, [H]) == {H: 0.0}


@pytest.mark.parametrize(("window", "label"), [(5 * M, "5m"), (30 * M, "30m"), (H, "1h"), (3 * D, "3d")])
def test_window_labels(window, label):
    assert window_label(window) == label


def _status(service: str, slo: str, good: int, valid: int, at: datetime, **extra) -> SloStatus:
    return SloStatus(service, slo, 0.999, 30, valid, good, at, **extra)


def test_summary_json_shape():
    at = datetime(2026, 1, 10, 12)
    statuses = [
        evaluate_slo(
            service="checkout",
            slo="availability",
            objective=0.999,
            window_days=30,
            window_counts=EventCounts(9995, 10000),
            error_ratios_by_window=_ratios(0.999, h1=20, m5=20),
            as_of=at,
        ),
        _status("search", "latency", 990, 1000, at, kind="latency", threshold_ms=500.0),
    ]
    doc = slo_summary(statuses)
    assert doc["timestamp"] == "2026-01-10T12:00:00Z"
    assert doc["targets"]["checkout/availability"] == {
        "kind": "availability",
        "objective": 0.999,
        "window_days": 30,
    }
    assert doc["targets"]["search/latency"]["threshold_ms"] == 500.0
    checkout = doc["metrics"]["checkout/availability"]
    assert checkout["sli"] == 0.9995 and checkout["error_budget_remaining"] == 0.5
    assert checkout["alert"] == "page" and checkout["alert_rule"] == "1h/5m"
    assert checkout["burn_rates"]["1h"] == 20.0 and set(checkout["burn_rates"]) == {
        "5m", "30m", "1h", "2h", "6h", "1d", "3d",
    }  # fmt: skip
    assert doc["compliance"] == {"checkout/availability": True, "search/latency": False, "overall": False}
    assert json.loads(to_json_text(doc)) == doc


def test_timeseries_json_shape():
    t1, t2 = datetime(2026, 1, 10), datetime(2026, 1, 11)
    doc = slo_timeseries(
        [
            _status("checkout", "availability", 1000, 1000, t2),
            _status("checkout", "availability", 1000, 1000, t1),
            _status("search", "availability", 900, 1000, t2),
            _status("search", "availability", 0, 0, t1),  # no data: compliant, budget untouched
        ]
    )
    assert doc["timestamp"] == "2026-01-11T00:00:00Z"
    assert [p["timestamp"] for p in doc["series"]["checkout/availability"]] == [
        "2026-01-10T00:00:00Z",
        "2026-01-11T00:00:00Z",
    ]
    assert doc["series"]["search/availability"][0] == {
        "timestamp": "2026-01-10T00:00:00Z", "sli": None, "error_budget_remaining": 1.0, "alert": "none",
        "compliant": True,
    }  # fmt: skip
    assert doc["overall"] == [
        {"timestamp": "2026-01-10T00:00:00Z", "compliant": True},
        {"timestamp": "2026-01-11T00:00:00Z", "compliant": False},
    ]
    assert to_json_text(doc) == to_json_text(json.loads(to_json_text(doc)))
