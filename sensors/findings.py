"""New flaky tests, performance regressions and cost anomalies → deduplicated issues.

Each tick reads, in one short read, only what is new since the cursor (bounded by
`MAX_FINDINGS_PER_TICK` per source): flagged tests seen again (`marts.flaky_scores.last_seen_at`,
status `flaky` or `quarantined`), regressions detected (`marts.regression_drift.change_at`),
anomalous cost days (`marts.cost_anomalies.day`). The issue tracker then opens at most its
per-tick limit of issues (the rest wait, queued in ops.issues, for the next ticks), announces a
storm with one summary issue (its findings still get their own issues from the queue), and
comments on recurrences.

When a finding is over follows core.issue_lifecycle, judged on the warehouse (`judge_findings`):
a flaky-test issue closes when the test is no longer flagged, a regression issue when the series
is back within tolerance of its old level or the new level was accepted, a cost-anomaly issue
after N clean days of data. A finding already over when first seen (or while it waits in the
queue) is recorded as `resolved-unopened` and never opened, so a backfill of old history does not
open and close issues for what ended weeks ago. Nothing Vigil opened in a tick is closed in the
same tick. Marts that do not exist yet are skipped (and judge nothing over).
"""

import json
import os
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time
from typing import Any

import dagster as dg

from observability_assets.core.changepoints import DriftSettings
from observability_assets.core.issue_lifecycle import (
    FLAGGED_STATUSES,
    LEVEL_POINTS,
    current_level,
    event_over,
    flaky_over,
    regression_over,
)
from observability_assets.core.ledger import format_at
from resources.github import GitHubResource
from resources.issue_tracker import Finding, IssueTrackerResource, fingerprint_of
from resources.ledger import LedgerResource
from resources.warehouse import Warehouse, WarehouseResource
from sensors.common import existing_tables, open_issue_tracker
from sensors.gate_findings import KIND as GATE_KIND
from sensors.gate_findings import read_gate_breaches

MAX_FINDINGS_PER_TICK = 200
EVIDENCE_RUNS = 10
FLAKY, DRIFT, COST = "marts.flaky_scores", "marts.regression_drift", "marts.cost_anomalies"
CLUSTERS, MEMBERS = "marts.failure_clusters", "marts.failure_cluster_members"
CLUSTER_TESTS_LISTED = 30


def cluster_thresholds(environ: Mapping[str, str] = os.environ) -> tuple[int, int]:
    """(tests, failures) a failure cluster needs in its week to get an issue of its own.

    `VIGIL_CLUSTER_MIN_TESTS` (default 5) and `VIGIL_CLUSTER_MIN_FAILURES` (default 20). A flaky
    test whose failures mostly belong to such a cluster gets no issue of its own: the cluster's
    issue lists it (and links the issue it already had).
    """
    return (
        int(environ.get("VIGIL_CLUSTER_MIN_TESTS") or 5),
        int(environ.get("VIGIL_CLUSTER_MIN_FAILURES") or 20),
    )


# The kinds this sensor reports, so its ticks drain their queued findings (the tracker opens
# queued findings only for the sensor that reports their kind).
FINDING_KINDS = ("flaky-test", "failure-cluster", "perf-regression", "cost-anomaly", GATE_KIND)
_REPO_PREFIX = re.compile(r"^([A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+)")


def repo_of(row: Mapping[str, Any], key_column: str) -> str | None:
    """The repository a drift or cost row belongs to: its `repo` column, else an owner/name prefix of its key."""
    if row.get("repo"):
        return str(row["repo"])
    match = _REPO_PREFIX.match(str(row.get(key_column) or ""))
    return match.group(1) if match else None


def flaky_finding(row: Mapping[str, Any]) -> Finding:
    name = ".".join(part for part in (row.get("classname"), row["test_name"]) if part)
    seen: datetime = row["last_seen_at"]
    iso = seen.isocalendar()
    cause = row.get("cluster_signature")
    return Finding(
        kind="flaky-test",
        key=row["test_id"],
        repo=row["repo"],
        title=f"Flaky test: {name}",
        summary=(
            f"`{name}` both passed and failed on the same commit in {row.get('flaky_commits') or 0} commits. "
            f"Flaky score {float(row.get('score') or 0):.2f}. A re-run hides it; a quarantine or a fix removes it."
            + (
                f" Most of its failures belong to failure cluster `{cause}` ({row.get('cluster_tests')} tests): "
                f"{row.get('cluster_message')}"
                if cause
                else ""
            )
        ),
        observed_at=seen,
        # At most one recurrence comment per ISO week while the test stays flaky.
        occurrence=f"{iso.year}-W{iso.week:02d}",
        figures={
            "runs": row.get("runs"),
            "failures": row.get("failures"),
            "failure rate": row.get("failure_rate"),
            "flaky commits": row.get("flaky_commits"),
            "flip rate": row.get("flip_rate"),
            "score": row.get("score"),
            "flagged since": str(row.get("flagged_since") or ""),
            "last seen": format_at(seen)[:16],
            **({"failure cluster": cause} if cause else {}),
        },
        runs=tuple((_run_label(url), url) for url in (row.get("evidence_run_urls") or ())[:EVIDENCE_RUNS]),
        commits=tuple(row.get("evidence_shas") or ()),
    )


def cluster_finding(row: Mapping[str, Any]) -> Finding:
    """One issue for a cause that fails many tests, listing them and linking their own issues."""
    seen: datetime = row["last_seen"]
    iso = seen.isocalendar()
    where = row.get("probable_file") or "an unknown place"
    repos = list(row.get("repo_list") or [])
    tests = row.get("member_tests") or []
    listed = "; ".join(f"`{t}`" for t in tests[:CLUSTER_TESTS_LISTED])
    more = f" and {len(tests) - CLUSTER_TESTS_LISTED} more" if len(tests) > CLUSTER_TESTS_LISTED else ""
    return Finding(
        kind="failure-cluster",
        key=str(row["signature"]),
        # A cause spanning repositories is filed where incidents go; a single repository's in it.
        repo=repos[0] if len(repos) == 1 else None,
        title=f"Failure cause: {str(row.get('example_message') or row['signature_text'])[:90]} ({row['tests']} tests)",
        summary=(
            f"{row['failures']} failures of {row['tests']} tests in {row['repos']} repositories "
            f"({', '.join(repos)}) share one cause since {format_at(row['first_seen'])[:16]} UTC: "
            f"`{row.get('example_message')}`, probably in `{where}` ({row.get('example_frame')}). "
            f"Signature `{row['signature_text']}`. Tests: {listed}{more}."
        ),
        observed_at=seen,
        occurrence=f"{iso.year}-W{iso.week:02d}",
        figures={
            "failures": row.get("failures"),
            "tests": row.get("tests"),
            "runs": row.get("runs"),
            "repositories": row.get("repos"),
            "infrastructure share": row.get("infra_share"),
            "probable file": where,
            "tests flaky / broken": f"{row.get('flaky_tests')} / {row.get('broken_tests')}",
            "first seen": format_at(row["first_seen"])[:16],
            "last seen": format_at(seen)[:16],
        },
        links=tuple(row.get("test_issue_links") or ()),
    )


def _run_label(url: str) -> str:
    tail = url.rstrip("/").rsplit("/", 1)[-1]
    return f"run {tail}" if tail.isdigit() else url


def regression_finding(row: Mapping[str, Any]) -> Finding:
    change_at: datetime = row["change_at"]
    pct = float(row.get("change_pct") or 0.0)
    subject = row.get("subject") or row["series_key"]
    return Finding(
        kind="perf-regression",
        key=f"{row['series_kind']}:{row['series_key']}",
        repo=repo_of(row, "series_key"),
        title=f"Performance regression: {row['series_kind']} of {subject} ({pct:+.1f}%)",
        summary=(
            f"`{row['series_kind']}` of `{subject}` went from {_figure(row.get('before_value'))} to "
            f"{_figure(row.get('after_value'))} {row.get('unit') or ''} ({pct:+.1f}%) at {format_at(change_at)[:16]} UTC"
            + (
                f"; the change lies in commits ({str(row.get('previous_commit_sha') or '?')[:12]}, "
                f"{str(row['commit_sha'])[:12]}]."
                if row.get("commit_sha")
                else "."
            )
        ),
        observed_at=change_at,
        occurrence=format_at(change_at),
        figures={
            "before": row.get("before_value"),
            "after": row.get("after_value"),
            "unit": row.get("unit") or "",
            "change %": pct,
            "p-value": row.get("p_value"),
            "points before / after": f"{row.get('points_before')} / {row.get('points_after')}",
            "change at": format_at(change_at)[:16],
        },
        commits=tuple(str(row[c]) for c in ("commit_sha", "previous_commit_sha") if row.get(c)),
    )


def cost_finding(row: Mapping[str, Any]) -> Finding:
    day = row["day"]
    observed = (
        datetime.combine(day, time()) if isinstance(day, date) and not isinstance(day, datetime) else day
    )
    impact = float(row.get("impact_usd") or 0.0)
    return Finding(
        kind="cost-anomaly",
        key=str(row["scope"]),
        repo=repo_of(row, "scope"),
        title=f"CI cost anomaly: {row['scope']} on {observed:%Y-%m-%d} (+${impact:,.2f})",
        summary=(
            f"CI spend of `{row['scope']}` on {observed:%Y-%m-%d} was ${float(row.get('actual_usd') or 0):,.2f} "
            f"against ${float(row.get('expected_usd') or 0):,.2f} expected."
            + (f" Driven by: {row['root_cause']}." if row.get("root_cause") else "")
        ),
        observed_at=observed,
        occurrence=f"{observed:%Y-%m-%d}",
        figures={
            "expected USD": row.get("expected_usd"),
            "actual USD": row.get("actual_usd"),
            "impact USD": impact,
            "impact %": row.get("impact_pct"),
            "jobs / expected": f"{row.get('jobs')} / {_figure(row.get('expected_jobs'))}",
            "top branch": f"{row.get('top_branch') or ''} (${float(row.get('top_branch_usd') or 0):,.2f})",
        },
    )


def _figure(value: Any) -> str:
    return f"{value:,.4g}" if isinstance(value, float) else str(value)


def _records(cursor: Any) -> list[dict[str, Any]]:
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _read_new(con: Any, state: Mapping[str, Any]) -> dict[str, Any]:
    """Everything new since the cursor, in one read under the warehouse lock."""
    tables = existing_tables(con)
    found: dict[str, Any] = {"flaky": [], "drift": [], "cost": [], "as_of": {}}
    if FLAKY in tables:
        flaky_at = state.get("flaky_at") or "1970-01-01T00:00:00.000000"
        found["flaky"] = _records(
            con.execute(
                "SELECT * FROM marts.flaky_scores WHERE status IN (SELECT unnest(CAST(? AS VARCHAR[]))) "
                "AND last_seen_at IS NOT NULL "
                "AND (last_seen_at > CAST(? AS TIMESTAMP) OR (last_seen_at = CAST(? AS TIMESTAMP) "
                "AND test_id NOT IN (SELECT unnest(CAST(? AS VARCHAR[]))))) "
                "ORDER BY last_seen_at, test_id LIMIT ?",
                [
                    list(FLAGGED_STATUSES),
                    flaky_at,
                    flaky_at,
                    state.get("flaky_ids", []),
                    MAX_FINDINGS_PER_TICK,
                ],
            )
        )
    if CLUSTERS in tables and MEMBERS in tables:
        _read_clusters(con, state, found)
    if DRIFT in tables:
        drift_at, drift_key = state.get("drift", ["1970-01-01T00:00:00.000000", ""])
        found["drift"] = _records(
            con.execute(
                "SELECT * FROM marts.regression_drift WHERE direction = 'regression' "
                "AND (change_at > CAST(? AS TIMESTAMP) OR (change_at = CAST(? AS TIMESTAMP) "
                "AND series_kind || ':' || series_key > ?)) "
                "ORDER BY change_at, series_kind || ':' || series_key LIMIT ?",
                [drift_at, drift_at, drift_key, MAX_FINDINGS_PER_TICK],
            )
        )
    if COST in tables:
        cost_day, cost_scope = state.get("cost", ["1970-01-01", ""])
        found["cost"] = _records(
            con.execute(
                "SELECT * FROM marts.cost_anomalies WHERE is_anomaly "
                "AND (day > CAST(? AS DATE) OR (day = CAST(? AS DATE) AND scope > ?)) ORDER BY day, scope LIMIT ?",
                [cost_day, cost_day, cost_scope, MAX_FINDINGS_PER_TICK],
            )
        )
        found["as_of"]["cost-anomaly"] = con.execute("SELECT max(day) FROM marts.cost_anomalies").fetchall()[
            0
        ][0]
    # Breached policy gates are states, reported every tick (the tracker deduplicates them).
    found["gates"], found["as_of"][GATE_KIND] = read_gate_breaches(con, tables)
    return found


# The newest points of each series since its change, for the current level (one short read).
_LEVEL_SQL = """
WITH wanted AS (
    SELECT unnest(CAST($keys AS VARCHAR[])) AS series, unnest(CAST($since AS TIMESTAMP[])) AS since
)
SELECT w.series, d.point_at, d.value, d.bigger_is_better
FROM marts.drift_series AS d
INNER JOIN wanted AS w ON d.series_kind || ':' || d.series_key = w.series AND d.point_at >= w.since
WHERE d.value IS NOT NULL AND NOT isnan(d.value)
QUALIFY row_number() OVER (PARTITION BY w.series ORDER BY d.point_at DESC) <= $points
ORDER BY w.series, d.point_at
"""


def judge_findings(warehouse: Warehouse, findings: Sequence[Finding], clean_days: int) -> dict[str, str]:
    """Which `findings` are over, and why (core.issue_lifecycle), from one short read.

    Without the mart a kind is judged on, nothing of that kind is over: Vigil never closes on
    missing data.
    """
    by_kind: dict[str, list[Finding]] = {}
    for finding in findings:
        by_kind.setdefault(finding.kind, []).append(finding)
    flaky, regressions, costs = (
        by_kind.get(k, []) for k in ("flaky-test", "perf-regression", "cost-anomaly")
    )
    over: dict[str, str] = {}
    with warehouse.read("findings: are they over") as con:
        tables = existing_tables(con)
        statuses: dict[str, str] = {}
        if flaky and FLAKY in tables:
            statuses = dict(
                con.execute(
                    "SELECT test_id, status FROM marts.flaky_scores "
                    "WHERE test_id IN (SELECT unnest(CAST(? AS VARCHAR[])))",
                    [[f.key for f in flaky]],
                ).fetchall()
            )
        points: dict[str, list[tuple[float, bool]]] = {}
        accepted: dict[str, list[float]] = {}
        if regressions and "marts.drift_series" in tables:
            rows = con.execute(
                _LEVEL_SQL,
                {
                    "keys": [f.key for f in regressions],
                    "since": [_naive(f.observed_at) for f in regressions],
                    "points": LEVEL_POINTS,
                },
            ).fetchall()
            for series, _, value, bigger in rows:
                points.setdefault(series, []).append((float(value), bool(bigger)))
            for subject, detail in con.execute(
                "SELECT subject, detail FROM ops.ledger WHERE action = 'regression.accepted' "
                "AND subject IN (SELECT unnest(CAST(? AS VARCHAR[]))) ORDER BY seq",
                [[f.key for f in regressions]],
            ).fetchall():
                level = json.loads(detail).get("level")
                if isinstance(level, int | float):
                    accepted.setdefault(subject, []).append(float(level))
        cost_as_of = None
        if costs and COST in tables:
            cost_as_of = con.execute("SELECT max(day) FROM marts.cost_anomalies").fetchall()[0][0]
    if FLAKY in tables:
        for finding in flaky:
            why = flaky_over(statuses.get(finding.key))
            if why:
                over[finding.fingerprint] = why
    tolerance = DriftSettings().min_relative_change
    for finding in regressions:
        why = _regression_over(finding, points.get(finding.key, []), accepted.get(finding.key, []), tolerance)
        if why:
            over[finding.fingerprint] = why
    if cost_as_of is not None:
        as_of = datetime.combine(cost_as_of, time()) if not isinstance(cost_as_of, datetime) else cost_as_of
        for finding in costs:
            why = event_over(_naive(finding.observed_at), as_of, clean_days)
            if why:
                over[finding.fingerprint] = why
    return over


def _regression_over(
    finding: Finding, points: list[tuple[float, bool]], accepted_levels: list[float], tolerance: float
) -> str | None:
    before, after = finding.figures.get("before"), finding.figures.get("after")
    if not isinstance(before, int | float) or not isinstance(after, int | float):
        return None
    bigger = points[-1][1] if points else False
    for level in accepted_levels:
        # An accepted level covers this change unless the series moved on beyond it since.
        if regression_over(level, after, after, bigger, tolerance):
            return f"the new level ({level:,.4g}) was accepted (vigil baselines update or the issue label)"
    level = current_level([value for value, _ in points])
    return regression_over(float(before), float(after), level, bigger, tolerance)


def _naive(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


_LARGE_CLUSTERS_SQL = """
SELECT * FROM marts.failure_clusters
WHERE window_days = (SELECT min(window_days) FROM marts.failure_clusters) AND NOT per_test
  AND tests >= ? AND failures >= ? AND last_seen > CAST(? AS TIMESTAMP)
ORDER BY last_seen, signature LIMIT ?
"""
_TEST_CLUSTERS_SQL = """
WITH per_test AS (
    SELECT repo, test_id, signature, count(*) AS n, sum(count(*)) OVER (PARTITION BY repo, test_id) AS total
    FROM marts.failure_cluster_members
    WHERE list_contains(CAST(? AS VARCHAR[]), test_id) GROUP BY repo, test_id, signature
)
SELECT p.repo, p.test_id, arg_max(p.signature, p.n) AS signature, max(p.n) / any_value(p.total) AS share
FROM per_test AS p GROUP BY p.repo, p.test_id
"""


def _read_clusters(con: Any, state: Mapping[str, Any], found: dict[str, Any]) -> None:
    """Large clusters with failures since the cursor (with their tests and the tests' own issues),
    and the cluster each new flaky test mostly fails in."""
    min_tests, min_failures = cluster_thresholds()
    clusters = _records(
        con.execute(
            _LARGE_CLUSTERS_SQL,
            [
                min_tests,
                min_failures,
                state.get("cluster_at") or "1970-01-01T00:00:00",
                MAX_FINDINGS_PER_TICK,
            ],
        )
    )
    for row in clusters:
        tests = con.execute(
            "SELECT DISTINCT repo, test_id, concat_ws('.', classname, test_name) AS name "
            "FROM marts.failure_cluster_members WHERE signature = ? ORDER BY repo, name",
            [row["signature"]],
        ).fetchall()
        row["member_tests"] = [f"{repo}: {name}" for repo, _, name in tests]
        fingerprints = [fingerprint_of("flaky-test", repo, test_id) for repo, test_id, _ in tests]
        row["test_issue_links"] = [
            (f"#{number}" if number else title, url)
            for number, title, url in con.execute(
                "SELECT number, title, url FROM ops.issues WHERE list_contains(CAST(? AS VARCHAR[]), fingerprint) "
                "AND url IS NOT NULL ORDER BY number",
                [fingerprints],
            ).fetchall()
        ]
    found["clusters"] = clusters
    if found["flaky"]:
        large = {
            signature: (tests, message)
            for signature, tests, message in con.execute(
                "SELECT signature, tests, example_message FROM marts.failure_clusters "
                "WHERE window_days = (SELECT min(window_days) FROM marts.failure_clusters) AND NOT per_test "
                "AND tests >= ? AND failures >= ?",
                [min_tests, min_failures],
            ).fetchall()
        }
        dominant = con.execute(_TEST_CLUSTERS_SQL, [[r["test_id"] for r in found["flaky"]]]).fetchall()
        for row in found["flaky"]:
            for repo, test_id, signature, share in dominant:
                if (repo, test_id) == (row["repo"], row["test_id"]):
                    row["cluster_signature"] = signature
                    cluster = large.get(signature)
                    row["cluster_tests"], row["cluster_message"] = cluster or (1, "")
                    # Covered by the cluster's issue: no issue of its own.
                    row["in_large_cluster"] = cluster is not None and share >= 0.8


def _advance(state: Mapping[str, Any], found: Mapping[str, Any]) -> dict[str, Any]:
    new = dict(state)
    if found.get("clusters"):
        new["cluster_at"] = format_at(max(r["last_seen"] for r in found["clusters"]))
    if found["flaky"]:
        last = found["flaky"][-1]["last_seen_at"]
        same = [r["test_id"] for r in found["flaky"] if r["last_seen_at"] == last]
        stamp = format_at(last)
        new["flaky_ids"] = same + (state.get("flaky_ids", []) if stamp == state.get("flaky_at") else [])
        new["flaky_at"] = stamp
    if found["drift"]:
        last = found["drift"][-1]
        new["drift"] = [format_at(last["change_at"]), f"{last['series_kind']}:{last['series_key']}"]
    if found["cost"]:
        last = found["cost"][-1]
        new["cost"] = [str(last["day"]), str(last["scope"])]
    return new


@dg.sensor(
    name="findings_sensor",
    minimum_interval_seconds=120,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Flagged tests (flaky or quarantined), performance regressions and cost anomalies → one issue each "
        "(deduplicated by fingerprint; a per-tick creation limit and a storm summary queue the rest, never "
        "drop them); comments on recurrence. Closes a flaky-test issue when the flag clears, a regression "
        "when the series is back to its old level or the new level is accepted, a cost anomaly after clean "
        "days; a finding already over is recorded as resolved-unopened, never opened. Issues open on GitHub "
        "only with VIGIL_ISSUES=github; otherwise ops.issues records them as would_open."
    ),
    tags={
        "vigil/issues": "github"
        if os.environ.get("VIGIL_ISSUES", "").strip().lower() == "github"
        else "record"
    },
)
def findings_sensor(
    context: dg.SensorEvaluationContext,
    warehouse: WarehouseResource,
    ledger: LedgerResource,
    issue_tracker: IssueTrackerResource,
    github: GitHubResource,
) -> dg.SkipReason:
    state = json.loads(context.cursor) if context.cursor else {}
    with warehouse.get().read("findings sensor") as con:
        found = _read_new(con, state)
    findings = [flaky_finding(r) for r in found["flaky"] if not r.get("in_large_cluster")]
    findings += [cluster_finding(r) for r in found.get("clusters", [])]
    findings += [regression_finding(r) for r in found["drift"]]
    findings += [cost_finding(r) for r in found["cost"]]
    findings += found["gates"]
    the_ledger = ledger.get()
    settings = issue_tracker.settings()

    def judge(candidates: Sequence[Finding]) -> dict[str, str]:
        return judge_findings(the_ledger.warehouse, candidates, settings.close_after_clean_days)

    with open_issue_tracker(issue_tracker, the_ledger, github) as tracker:
        report = tracker.report(findings, judge=judge, drains=FINDING_KINDS)
        report.closed += tracker.close_resolved(["flaky-test", "perf-regression"], judge).closed
        # Cost anomalies and breached gates close after clean days of data (flaky tests and
        # regressions close by their state, above).
        for kind in ("cost-anomaly", GATE_KIND):
            as_of = found["as_of"].get(kind)
            if as_of is not None:
                as_of_time = datetime.combine(as_of, time()) if not isinstance(as_of, datetime) else as_of
                report.closed += tracker.close_clean([kind], as_of_time).closed
        report.closed += tracker.close_drained_storms().closed
    context.update_cursor(json.dumps(_advance(state, found), sort_keys=True))
    return dg.SkipReason(f"{len(findings)} new findings: {report.describe()} ({tracker.mode} mode)")
