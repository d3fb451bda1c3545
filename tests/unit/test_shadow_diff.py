from __future__ import annotations

import json

import pytest

from observability_assets.core.shadow_diff import (
    MISSING,
    DifferenceCounter,
    FieldDiff,
    FieldStats,
    compare_responses,
    diff_json,
    flatten_json,
    parse_body,
    shadow_report,
    significant_fields,
    summarize_traffic,
)


def test_flatten_uses_json_pointer_paths():
    doc = {"a": {"b": [1, {"c": None}], "e": {}}, "x/y": {"~k": []}, "s": "t"}
    assert flatten_json(doc) == {"/a/b/0": 1, "/a/b/1/c": None, "/a/e": {}, "/x~1y/~0k": [], "/s": "t"}
    assert flatten_json(5) == {"": 5}
    assert flatten_json([]) == {"": []}


@pytest.mark.parametrize(
    ("baseline", "candidate", "paths"),
    [
        ({"n": 1}, {"n": 1.0}, []),  # same JSON number
        ({"n": 1}, {"n": True}, ["/n"]),  # a boolean is not a number
        ({"n": "1"}, {"n": 1}, ["/n"]),
        ({"n": None, "m": 1}, {"m": 1}, ["/n"]),  # null is not absent
        ({"n": 1}, {}, ["", "/n"]),  # an empty object is a leaf of its own
        ({"a": {"b": 1}}, {"a": 5}, ["/a", "/a/b"]),  # shape change: both paths differ
        ({"l": [1, 2]}, {"l": [1, 2, 3]}, ["/l/2"]),
        ({"l": [1, 2]}, {"l": [2, 1]}, ["/l/0", "/l/1"]),
        ({}, [], [""]),
        ({"x": float("nan")}, {"x": float("nan")}, []),
    ],
)
def test_diff_json(baseline, candidate, paths):
    assert [d.path for d in diff_json(baseline, candidate)] == paths


def test_missing_side_is_explicit():
    (diff,) = diff_json({"a": 1, "b": 2}, {"b": 2})
    assert diff == FieldDiff("/a", 1, MISSING)
    assert diff.to_dict() == {"path": "/a", "baseline": 1}


def _order(request_id: str, served_at: str, total: float, status: str = "created") -> dict:
    return {
        "order": {"id": 42, "total": total, "status": status},
        "request_id": request_id,
        "served_at": served_at,
    }


def test_noise_from_baseline_replay_is_dropped():
    baseline = _order("r-1", "12:00:00", 10.0)
    replay = _order("r-2", "12:00:01", 10.0)
    same = compare_responses(200, baseline, 200, _order("r-3", "12:00:02", 10.0), baseline_replay_body=replay)
    assert same.match and same.diff_json() == "{}"
    assert same.noise_paths == {"/request_id", "/served_at"}
    assert same.raw_paths == {"/request_id", "/served_at"}

    changed = compare_responses(
        200, baseline, 200, _order("r-3", "12:00:02", 12.5), baseline_replay_body=replay
    )
    assert not changed.body_match
    assert [d.path for d in changed.differences] == ["/order/total"]
    assert json.loads(changed.diff_json()) == {
        "fields": [{"path": "/order/total", "baseline": 10.0, "candidate": 12.5}],
        "noise": ["/request_id", "/served_at"],
    }


def test_without_replay_every_difference_counts_unless_ignored():
    baseline, candidate = _order("r-1", "t1", 10.0), _order("r-2", "t2", 10.0)
    assert {d.path for d in compare_responses(200, baseline, 200, candidate).differences} == {
        "/request_id",
        "/served_at",
    }
    ignored = compare_responses(200, baseline, 200, candidate, ignore=["*/request_id", "/served_at"])
    assert ignored.body_match


def test_status_mismatch_is_reported():
    comparison = compare_responses(200, {"ok": True}, 500, {"ok": True})
    assert comparison.body_match and not comparison.status_match and not comparison.match
    assert json.loads(comparison.diff_json()) == {"status": {"baseline": 200, "candidate": 500}}


def test_parse_body():
    assert parse_body(b'{"a": [1]}') == {"a": [1]}
    assert parse_body("plain text") == "plain text"
    assert parse_body(None) is MISSING
    assert [d.path for d in diff_json(parse_body("<html>a"), parse_body("<html>b"))] == [""]


def test_diffy_aggregate_filter():
    counter = DifferenceCounter()
    for i in range(100):
        baseline = {"id": i, "price": 10, "ts": i, "flaky": i % 3}
        replay = {"id": i, "price": 10, "ts": i + 1, "flaky": (i + 1) % 3}  # ts always noisy, flaky 2/3
        candidate = {"id": i, "price": 11 if i % 2 else 10, "ts": i + 2, "flaky": (i + 2) % 3}
        counter.add(
            "GET /api/items", compare_responses(200, baseline, 200, candidate, baseline_replay_body=replay)
        )
    stats = {s.path: s for s in counter.fields("GET /api/items")}
    assert (stats["/price"].raw, stats["/price"].noise, stats["/price"].total) == (50, 0, 100)
    assert (stats["/ts"].raw, stats["/ts"].noise) == (100, 100)
    assert [s.path for s in significant_fields(counter)] == ["/price"]


@pytest.mark.parametrize(
    ("raw", "noise", "total", "absolute", "relative"),
    [(50, 0, 100, 50.0, 100.0), (60, 40, 100, 20.0, 20.0), (1, 0, 10000, 0.01, 100.0), (0, 0, 0, 0.0, 0.0)],
)
def test_field_stats_follow_diffy_formulas(raw, noise, total, absolute, relative):
    stats = FieldStats("e", "/f", raw, noise, total)
    assert stats.absolute_pct == pytest.approx(absolute)
    assert stats.relative_pct == pytest.approx(relative)


def test_thresholds_are_strict():
    counter = DifferenceCounter()
    counter.totals["e"] = 100
    counter.raw["e"] = {"/a": 60, "/b": 61}  # /a: relative exactly 20 % -> not significant
    counter.noise["e"] = {"/a": 40, "/b": 40}
    assert [s.path for s in significant_fields(counter, relative_threshold_pct=20.0)] == ["/b"]


def test_summarize_traffic():
    summary = summarize_traffic(
        [(200, 100.0), (200, 120.0), (503, 5.0), (None, None), (404, 80.0), (200, 1000.0)]
    )
    assert summary.requests == 6
    assert summary.status_counts == {"200": 3, "404": 1, "503": 1, "error": 1}
    assert summary.error_rate == pytest.approx(
        2 / 6
    )  # the 503 and the refused connection; 404 is a client error
    assert summary.mean_latency_ms == pytest.approx(261.0)
    assert summary.p95_latency_ms == pytest.approx(
        1000.0 - 0.2 * (1000.0 - 120.0)
    )  # linear between 4th and 5th
    empty = summarize_traffic([])
    assert (empty.requests, empty.error_rate, empty.p95_latency_ms) == (0, None, None)


def test_shadow_report():
    report = shadow_report(
        [(200, 200, 10.0, 12.0, True), (200, 500, 11.0, 30.0, True), (200, 200, 9.0, 9.0, False)]
    )
    assert report.status_match_rate == pytest.approx(2 / 3)
    assert report.body_match_rate == pytest.approx(2 / 3)
    assert report.baseline.error_rate == 0.0 and report.candidate.error_rate == pytest.approx(1 / 3)
