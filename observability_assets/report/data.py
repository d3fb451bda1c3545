"""What the weekly health report reads from the warehouse, in one short locked read.

Each source table may not exist yet (its asset was never materialized, or belongs to a feature not
deployed): the reader looks the tables and columns up first and runs only the queries whose tables
are there, so a section can say plainly what is missing instead of the report failing. Every
query aggregates in DuckDB; what comes back is small (hourly or daily rows, top-N lists).

Identifiers in the SQL below come from the constants of this module, checked against DuckDB's own
catalogue; every value is a parameter.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import duckdb
    import pandas as pd

    from resources.warehouse import Warehouse

PROBES = "raw.health_probes"
PROBES_HOURLY = "staging.health_probes_hourly"
SLO = "marts.slo_compliance"
CANARY = "marts.canary_verdicts"
FLAKY = "marts.flaky_scores"
DRIFT = "marts.regression_drift"
DRIFT_SERIES = "marts.drift_series"
CI_KPIS = "marts.ci_daily_kpis"
CI_COST = "marts.ci_cost_daily"
COST_ANOMALIES = "marts.cost_anomalies"
AUTOMATION = "marts.automation_kpis"
ISSUES = "ops.issues"
LEDGER = "ops.ledger"
CI_RUNS = "raw.ci_runs"
TEST_RESULTS = "raw.test_results"
DATA_TRUST = "marts.data_trust"
COVERAGE = "marts.coverage_daily"
DEPENDENCY_RISK = "marts.dependency_risk"
FAILURES = "marts.failure_clusters"

SOURCE_TABLES: tuple[str, ...] = (
    PROBES,
    PROBES_HOURLY,
    SLO,
    CANARY,
    FLAKY,
    DRIFT,
    DRIFT_SERIES,
    CI_KPIS,
    CI_COST,
    COST_ANOMALIES,
    AUTOMATION,
    FAILURES,
    ISSUES,
    LEDGER,
    DATA_TRUST,
    COVERAGE,
    DEPENDENCY_RISK,
)

# Columns of marts whose exact shape belongs to other features: the report uses each one it finds.
# A status change happened inside the report week when one of these falls in it.
FLAKY_FLAGGED_COLUMNS = ("first_flagged_at", "first_flagged_on", "flagged_since", "flagged_at")
FLAKY_CLEARED_COLUMNS = ("cleared_at", "last_cleared_on", "cleared_on")
FLAKY_QUARANTINED_COLUMNS = ("quarantined_at", "quarantined_since")
FLAKY_STATUS_CHANGED_COLUMNS = ("status_changed_at", "status_since")
FLAKY_CHANGE_COLUMNS = (
    *FLAKY_STATUS_CHANGED_COLUMNS,
    *FLAKY_FLAGGED_COLUMNS,
    *FLAKY_CLEARED_COLUMNS,
    *FLAKY_QUARANTINED_COLUMNS,
)
FLAKY_COLUMNS = (
    "repo",
    "test_id",
    "classname",
    "test_name",
    "runs",
    "failures",
    "flaky_commits",
    "flip_rate",
    "failure_rate",
    "score",
    "status",
    "previous_status",
    *FLAKY_CHANGE_COLUMNS,
    "last_seen_at",
)


@dataclass(frozen=True)
class ReportWindow:
    """The report week: the 7 days up to `as_of`, read against `context_days` of history."""

    as_of: datetime  # UTC, naive like the warehouse's timestamps
    days: int = 7
    context_days: int = 28

    @property
    def start(self) -> datetime:
        return self.as_of - timedelta(days=self.days)

    def in_week(self, days: pd.Series) -> pd.Series:
        """Which of `days` (a DATE column, as midnight timestamps) lie in the report week.

        A day counts once the window holds its start: (as_of - 7 days, as_of] starting at
        midnight holds 7 whole days; starting mid-day, the partial first day is left out.
        """
        return days >= self._first_day(self.start)

    def in_previous_week(self, days: pd.Series) -> pd.Series:
        return (days >= self._first_day(self.previous_start)) & (days < self._first_day(self.start))

    @staticmethod
    def _first_day(start: datetime) -> datetime:
        midnight = start.replace(hour=0, minute=0, second=0, microsecond=0)
        return midnight if midnight == start else midnight + timedelta(days=1)

    @property
    def previous_start(self) -> datetime:
        return self.start - timedelta(days=self.days)

    @property
    def context_start(self) -> datetime:
        return self.as_of - timedelta(days=max(self.context_days, 2 * self.days))

    @property
    def iso_week(self) -> str:
        # The week the window ends in; a report produced on Monday night names the week just begun.
        year, week, _ = (self.as_of - timedelta(microseconds=1)).isocalendar()
        return f"{year}-W{week:02d}"


@dataclass
class ReportData:
    window: ReportWindow
    frames: dict[str, pd.DataFrame] = field(default_factory=dict)
    # Every source table or view that exists, with its columns.
    columns: dict[str, set[str]] = field(default_factory=dict)
    # Row counts of the tables; views are not counted (that would run them), only probed.
    row_counts: dict[str, int] = field(default_factory=dict)
    nonempty: set[str] = field(default_factory=set)
    # Tables whose asset has been materialized on the Dagster instance; None when unknown (a
    # report rendered outside Dagster), and then a table counts as built once it holds rows.
    built: set[str] | None = None

    def has(self, table: str) -> bool:
        return table in self.columns

    def frame(self, name: str) -> pd.DataFrame | None:
        return self.frames.get(name)

    def not_built(self, *tables: str) -> list[str]:
        """Tables among `tables` that were never produced (an empty contract table does not count)."""
        return [t for t in tables if t not in self.nonempty and (self.built is None or t not in self.built)]

    def empty(self, *tables: str) -> list[str]:
        """Tables among `tables` that were built and hold no rows."""
        return [t for t in tables if t not in self.nonempty and t not in self.not_built(t)]


@dataclass(frozen=True)
class Query:
    """One report query: runs only when every table it needs exists."""

    name: str
    tables: tuple[str, ...]
    build: Callable[[ReportWindow, Mapping[str, set[str]]], tuple[str, list]]


def _fixed(sql: str, params: Callable[[ReportWindow], list]) -> Callable:
    return lambda window, _columns: (sql, params(window))


def _week(window: ReportWindow) -> list:
    return [window.start, window.as_of]


def _context(window: ReportWindow) -> list:
    return [window.context_start, window.as_of]


def _context_days(window: ReportWindow) -> list:
    return [window.context_start.date(), window.as_of.date()]


PROBE_HOURLY_SQL = """
SELECT service, date_trunc('hour', probed_at) AS hour, count(*) AS probes,
       count(*) FILTER (WHERE NOT ok) AS failed,
       avg(latency_ms) AS avg_ms,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms) AS p95_ms
FROM raw.health_probes
WHERE probed_at > ? AND probed_at <= ?
GROUP BY service, date_trunc('hour', probed_at)
ORDER BY service, hour
"""

PROBE_DAILY_SQL = """
SELECT service, CAST(probed_at AS DATE) AS day, count(*) AS probes,
       count(*) FILTER (WHERE ok) AS ok_probes
FROM raw.health_probes
WHERE probed_at > ? AND probed_at <= ?
GROUP BY service, CAST(probed_at AS DATE)
ORDER BY service, day
"""

# This week against the week before, per service: the trend figures of the tables.
PROBE_WEEKS_SQL = """
SELECT service, CASE WHEN probed_at > ? THEN 'this' ELSE 'previous' END AS period,
       count(*) AS probes, count(*) FILTER (WHERE ok) AS ok_probes,
       count(*) FILTER (WHERE NOT ok) AS failed,
       avg(latency_ms) AS avg_ms,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms) AS p95_ms
FROM raw.health_probes
WHERE probed_at > ? AND probed_at <= ?
GROUP BY ALL
ORDER BY service, period
"""

# Incidents: maximal stretches of one endpoint in a state other than ok (gaps and islands). The
# state carries the probe hysteresis; rows written without it fall back to the probe outcome.
INCIDENTS_SQL = """
WITH probes AS (
    SELECT service, url, probed_at, error,
           COALESCE(state, CASE WHEN ok THEN 'ok' ELSE 'down' END) AS health
    FROM raw.health_probes
    WHERE probed_at > ? AND probed_at <= ?
), marked AS (
    SELECT *, CASE WHEN health IS DISTINCT FROM lag(health) OVER (PARTITION BY service, url ORDER BY probed_at)
                   THEN 1 ELSE 0 END AS starts
    FROM probes
), numbered AS (
    SELECT *, sum(starts) OVER (PARTITION BY service, url ORDER BY probed_at) AS stretch
    FROM marked
), stretches AS (
    SELECT service, url, stretch, health, min(probed_at) AS started_at, max(probed_at) AS last_bad_at,
           count(*) AS probes, count(error) AS failed_probes, mode(error) AS typical_error
    FROM numbered
    GROUP BY service, url, stretch, health
)
SELECT s.service, s.url, s.health, s.started_at, s.last_bad_at,
       (SELECT min(n.probed_at) FROM numbered n
        WHERE n.service = s.service AND n.url = s.url AND n.stretch = s.stretch + 1) AS recovered_at,
       s.probes, s.failed_probes, s.typical_error
FROM stretches s
WHERE s.health <> 'ok'
ORDER BY s.started_at
"""

# A state timeline per endpoint, hour by hour: the worst state seen in each hour.
STATE_HOURS_SQL = """
SELECT service, date_trunc('hour', probed_at) AS hour,
       max(CASE COALESCE(state, CASE WHEN ok THEN 'ok' ELSE 'down' END)
           WHEN 'down' THEN 2 WHEN 'degraded' THEN 1 ELSE 0 END) AS severity
FROM raw.health_probes
WHERE probed_at > ? AND probed_at <= ?
GROUP BY service, date_trunc('hour', probed_at)
ORDER BY service, hour
"""

# Error-budget burn-down: hourly good/valid counts inside each SLO's own window.
SLO_HOURLY_SQL = """
SELECT h.service, h.slo, h.bucket_end, h.valid, h.good
FROM staging.health_probes_hourly h
JOIN marts.slo_compliance c ON c.service = h.service AND c.slo = h.slo
WHERE h.bucket_end > c.as_of - to_days(CAST(c.window_days AS INTEGER)) AND h.bucket_end <= c.as_of
ORDER BY h.service, h.slo, h.bucket_end
"""

CI_KPIS_SQL = """
SELECT repo, day, sum(runs) AS runs, sum(finished_runs) AS finished_runs,
       sum(successful_runs) AS successful_runs, max(p95_duration_s) AS p95_duration_s,
       sum(p50_duration_s * finished_runs) / nullif(sum(CASE WHEN p50_duration_s IS NOT NULL
                                                        THEN finished_runs END), 0) AS p50_duration_s,
       sum(rerun_runs) AS rerun_runs
FROM marts.ci_daily_kpis
WHERE day > ? AND day <= ?
GROUP BY repo, day
ORDER BY repo, day
"""

CI_COST_SQL = """
SELECT repo, COALESCE(runner_type, 'unknown') AS runner_type, day, sum(jobs) AS jobs,
       sum(billable_minutes) AS billable_minutes, sum(cost_usd) AS cost_usd
FROM marts.ci_cost_daily
WHERE day > ? AND day <= ?
GROUP BY ALL
ORDER BY repo, runner_type, day
"""

COST_ANOMALIES_SQL = """
SELECT *
FROM marts.cost_anomalies
WHERE is_anomaly AND day > ? AND day <= ?
ORDER BY impact_usd DESC NULLS LAST
"""

COST_SCOPE_DAYS_SQL = """
SELECT count(*) AS scope_days FROM marts.cost_anomalies WHERE day > ? AND day <= ?
"""

LEDGER_DAILY_SQL = """
SELECT CAST("at" AS DATE) AS day, action, count(*) AS actions
FROM ops.ledger
WHERE "at" > ? AND "at" <= ?
GROUP BY ALL
ORDER BY day, action
"""

LEDGER_DETAIL_SQL = """
SELECT "at", action, subject FROM ops.ledger WHERE "at" > ? AND "at" <= ? ORDER BY seq LIMIT 5000
"""

ISSUES_SQL = """
SELECT kind, repo, number, url, state, title, occurrences, updated_at
FROM ops.issues
ORDER BY updated_at DESC NULLS LAST
LIMIT 200
"""

CANARY_SQL = """
SELECT replay_id, metric, classification, score, verdict, judged_at, control_mean, experiment_mean
FROM marts.canary_verdicts
WHERE judged_at > ? AND judged_at <= ?
ORDER BY judged_at DESC, replay_id, metric
LIMIT 40
"""


# Default-branch coverage per repository and day over the context window (the section charts it
# and tabulates each repository's latest day).
COVERAGE_SQL = """
SELECT repo, day, head_sha, line_coverage_pct, branch_coverage_pct, line_change_points, biggest_drops
FROM marts.coverage_daily
WHERE day > ? AND day <= ?
ORDER BY repo, day
"""

DEPENDENCY_RISK_SQL = """
SELECT * FROM marts.dependency_risk
ORDER BY repo, CASE severity WHEN 'critical' THEN 0 WHEN 'high' THEN 1 WHEN 'medium' THEN 2 ELSE 3 END
"""


def _present(columns: Mapping[str, set[str]], table: str, wanted: tuple[str, ...]) -> list[str]:
    have = columns.get(table, set())
    return [c for c in wanted if c in have]


def _quoted(names: list[str]) -> str:
    return ", ".join(f'"{n}"' for n in names)


def _flaky_top(window: ReportWindow, columns: Mapping[str, set[str]]) -> tuple[str, list]:
    cols = _present(columns, FLAKY, FLAKY_COLUMNS)
    order = ["CASE WHEN \"status\" = 'stable' THEN 1 ELSE 0 END"] if "status" in cols else []
    order += ['"score" DESC NULLS LAST'] if "score" in cols else []
    order_by = f"ORDER BY {', '.join(order)}" if order else ""
    return f"SELECT {_quoted(cols)} FROM marts.flaky_scores {order_by} LIMIT 20", []  # noqa: S608


def _flaky_changes(window: ReportWindow, columns: Mapping[str, set[str]]) -> tuple[str, list]:
    cols = _present(columns, FLAKY, FLAKY_COLUMNS)
    changes = _present(columns, FLAKY, FLAKY_CHANGE_COLUMNS)
    if not changes:
        return "SELECT NULL AS status WHERE false", []
    condition = " OR ".join(f'("{c}" > ? AND "{c}" <= ?)' for c in changes)
    order_by = 'ORDER BY "score" DESC NULLS LAST' if "score" in cols else ""
    sql = f"SELECT {_quoted(cols)} FROM marts.flaky_scores WHERE {condition} {order_by} LIMIT 50"  # noqa: S608
    return sql, [v for _ in changes for v in (window.start, window.as_of)]


def _flaky_status_counts(window: ReportWindow, columns: Mapping[str, set[str]]) -> tuple[str, list]:
    return (
        'SELECT "status", count(*) AS tests FROM marts.flaky_scores GROUP BY "status" ORDER BY tests DESC',
        [],
    )


# This week's findings first, regressions before improvements, then the largest changes; the
# tie-breakers make the order total, so the findings charted and the points read for them agree.
DRIFT_ORDER = (
    "CASE WHEN change_at > ? THEN 0 ELSE 1 END, CASE WHEN direction = 'regression' THEN 0 ELSE 1 END, "
    "abs(change_pct) DESC NULLS LAST, series_kind, series_key, change_at"
)
DRIFT_CHARTED = 6

DRIFT_POINTS_SQL = f"""
WITH charted AS (
    SELECT DISTINCT series_kind, series_key FROM (
        SELECT series_kind, series_key FROM marts.regression_drift
        WHERE change_at > ? AND change_at <= ? ORDER BY {DRIFT_ORDER} LIMIT {DRIFT_CHARTED}
    )
)
SELECT s.series_kind, s.series_key, s.point_at, s.value, s.unit
FROM marts.drift_series s JOIN charted c ON c.series_kind = s.series_kind AND c.series_key = s.series_key
WHERE s.point_at > ? AND s.point_at <= ?
ORDER BY s.series_kind, s.series_key, s.point_at
"""  # noqa: S608 (constants of this module)


def _drift(window: ReportWindow, columns: Mapping[str, set[str]]) -> tuple[str, list]:
    return (
        f"SELECT * FROM marts.regression_drift WHERE change_at > ? AND change_at <= ? ORDER BY {DRIFT_ORDER} LIMIT 200",  # noqa: S608
        [*_context(window), window.start],
    )


AUTOMATION_SQL = """
SELECT * FROM marts.automation_kpis WHERE day > ? AND day <= ? ORDER BY day
"""

# Sensors act in the present while a backfilled or simulated history ends in the past: when the
# report week holds no automated activity, the report shows the latest week that does, and says so.
DATA_TRUST_SQL = """
SELECT section, source, subject, expected, observed, status, detail, window_start, as_of
FROM marts.data_trust
ORDER BY CASE status WHEN 'fail' THEN 0 WHEN 'warn' THEN 1 WHEN 'ok' THEN 2 ELSE 3 END, section, source, subject
"""

AUTOMATION_LATEST_SQL = """
SELECT * FROM marts.automation_kpis
WHERE day > (SELECT max(day) FROM marts.automation_kpis) - INTERVAL 7 DAY
ORDER BY day
"""

LEDGER_LATEST_SQL = """
SELECT CAST("at" AS DATE) AS day, action, count(*) AS actions
FROM ops.ledger
WHERE "at" > (SELECT max("at") FROM ops.ledger) - INTERVAL 7 DAY
GROUP BY ALL
ORDER BY day, action
"""


# The shortest window of marts.failure_clusters (a week by default) is the report's week.
FAILURE_CLUSTERS_SQL = """
SELECT * FROM marts.failure_clusters
WHERE window_days = (SELECT min(window_days) FROM marts.failure_clusters)
ORDER BY failures DESC, signature
LIMIT 200
"""
FAILURE_TOTALS_SQL = """
SELECT count(*) AS clusters, sum(failures) AS failures,
       count(*) FILTER (WHERE tests > 1) AS shared, sum(failures) FILTER (WHERE tests > 1) AS shared_failures,
       sum(failures * infra_share) / nullif(sum(failures), 0) AS infra_share,
       max(window_days) AS window_days, max(as_of) AS as_of
FROM marts.failure_clusters
WHERE window_days = (SELECT min(window_days) FROM marts.failure_clusters)
"""

QUERIES: tuple[Query, ...] = (
    Query("probe_hourly", (PROBES,), _fixed(PROBE_HOURLY_SQL, _week)),
    Query("probe_daily", (PROBES,), _fixed(PROBE_DAILY_SQL, _context)),
    Query(
        "probe_weeks",
        (PROBES,),
        _fixed(PROBE_WEEKS_SQL, lambda w: [w.start, w.previous_start, w.as_of]),
    ),
    Query("incidents", (PROBES,), _fixed(INCIDENTS_SQL, _week)),
    Query("state_hours", (PROBES,), _fixed(STATE_HOURS_SQL, _week)),
    Query("slo", (SLO,), _fixed("SELECT * FROM marts.slo_compliance ORDER BY service, slo", lambda w: [])),
    Query("slo_hourly", (SLO, PROBES_HOURLY), _fixed(SLO_HOURLY_SQL, lambda w: [])),
    Query("canary", (CANARY,), _fixed(CANARY_SQL, _context)),
    Query("flaky_top", (FLAKY,), _flaky_top),
    Query("flaky_changes", (FLAKY,), _flaky_changes),
    Query("flaky_status", (FLAKY,), _flaky_status_counts),
    Query("failure_clusters", (FAILURES,), _fixed(FAILURE_CLUSTERS_SQL, lambda w: [])),
    Query("failure_totals", (FAILURES,), _fixed(FAILURE_TOTALS_SQL, lambda w: [])),
    Query("drift", (DRIFT,), _drift),
    Query(
        "drift_counts",
        (DRIFT,),
        _fixed(
            "SELECT direction, change_at > ? AS this_week, count(*) AS changes FROM marts.regression_drift "
            "WHERE change_at > ? AND change_at <= ? GROUP BY ALL",
            lambda w: [w.start, *_context(w)],
        ),
    ),
    Query(
        "drift_points",
        (DRIFT, DRIFT_SERIES),
        _fixed(DRIFT_POINTS_SQL, lambda w: [*_context(w), w.start, *_context(w)]),
    ),
    Query("ci_kpis", (CI_KPIS,), _fixed(CI_KPIS_SQL, _context_days)),
    Query("ci_cost", (CI_COST,), _fixed(CI_COST_SQL, _context_days)),
    Query("cost_anomalies", (COST_ANOMALIES,), _fixed(COST_ANOMALIES_SQL, _context_days)),
    Query("cost_scope_days", (COST_ANOMALIES,), _fixed(COST_SCOPE_DAYS_SQL, _context_days)),
    Query("automation", (AUTOMATION,), _fixed(AUTOMATION_SQL, _context_days)),
    Query("automation_latest", (AUTOMATION,), _fixed(AUTOMATION_LATEST_SQL, lambda w: [])),
    Query("ledger_daily", (LEDGER,), _fixed(LEDGER_DAILY_SQL, _context)),
    Query("ledger_latest", (LEDGER,), _fixed(LEDGER_LATEST_SQL, lambda w: [])),
    Query("ledger_detail", (LEDGER,), _fixed(LEDGER_DETAIL_SQL, _week)),
    Query("issues", (ISSUES,), _fixed(ISSUES_SQL, lambda w: [])),
    Query("data_trust", (DATA_TRUST,), _fixed(DATA_TRUST_SQL, lambda w: [])),
    Query("coverage", (COVERAGE,), _fixed(COVERAGE_SQL, _context_days)),
    Query("dependency_risk", (DEPENDENCY_RISK,), _fixed(DEPENDENCY_RISK_SQL, lambda w: [])),
)

# Where "now" is for the report: the newest fact in the warehouse, so a report over a backfilled
# or simulated past describes that past rather than an empty present.
AS_OF_CANDIDATES: tuple[tuple[str, str], ...] = (
    (PROBES, "max(probed_at)"),
    (SLO, "max(as_of)"),
    (CI_RUNS, "max(updated_at)"),
    (TEST_RESULTS, "CAST(max(partition_day) + 1 AS TIMESTAMP)"),
)


def table_columns(con: duckdb.DuckDBPyConnection, tables: tuple[str, ...]) -> dict[str, set[str]]:
    rows = con.execute(
        "SELECT schema_name || '.' || table_name, column_name FROM duckdb_columns() "
        "WHERE list_contains(?, schema_name || '.' || table_name)",
        [list(tables)],
    ).fetchall()
    found: dict[str, set[str]] = {}
    for name, column in rows:
        found.setdefault(name, set()).add(column)
    return found


def latest_fact(con: duckdb.DuckDBPyConnection, columns: Mapping[str, set[str]]) -> datetime | None:
    parts = [f"SELECT {expr} AS latest FROM {name}" for name, expr in AS_OF_CANDIDATES if name in columns]  # noqa: S608
    if not parts:
        return None
    ((latest,),) = con.execute(f"SELECT max(latest) FROM ({' UNION ALL '.join(parts)})").fetchall()  # noqa: S608
    return latest


def read_report_data(
    warehouse: Warehouse,
    as_of: datetime | None = None,
    days: int = 7,
    context_days: int = 28,
    built: set[str] | None = None,
) -> ReportData:
    """Everything the report shows, read under one short hold of the warehouse lock."""
    with warehouse.read("weekly report") as con:
        columns = table_columns(con, (*SOURCE_TABLES, CI_RUNS, TEST_RESULTS))
        window = ReportWindow(
            as_of=as_of or latest_fact(con, columns) or datetime.now(UTC).replace(tzinfo=None),
            days=days,
            context_days=context_days,
        )
        data = ReportData(
            window=window, columns={t: c for t, c in columns.items() if t in SOURCE_TABLES}, built=built
        )
        views = {
            name
            for (name,) in con.execute(
                "SELECT schema_name || '.' || view_name FROM duckdb_views() WHERE NOT internal"
            ).fetchall()
        }
        for name in data.columns:
            if name in views:
                rows = con.execute(f"SELECT count(*) FROM (SELECT 1 FROM {name} LIMIT 1)").fetchall()[0][0]  # noqa: S608
            else:
                rows = data.row_counts[name] = con.execute(f"SELECT count(*) FROM {name}").fetchall()[0][0]  # noqa: S608
            if rows:
                data.nonempty.add(name)
        for query in QUERIES:
            if all(t in data.nonempty for t in query.tables):
                sql, params = query.build(window, data.columns)
                data.frames[query.name] = con.execute(sql, params).df()
    return data
