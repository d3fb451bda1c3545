"""Flaky-test scores: marts.flaky_daily, marts.flaky_scores and the quarantine lists.

The counting is SQL, in incremental models of dbt_like_sql/staging: `test_job_health` marks
infrastructure failures, `test_commit_outcomes` counts each test's outcomes per commit and day without them (default
branch apart), and `test_cases` names the tests. For each day evaluated, `WINDOW_SQL` folds the days of the sliding
window (default 14, env `VIGIL_FLAKY_WINDOW_DAYS`) into one row per test: runs, failures, flaky
commits, isolated default-branch failures, flips, the trailing broken streak, clean runs and
evidence. The window query looks commit by commit only at tests that failed in the window, so its
cost follows the failures, not the suite.

What SQL is clumsy at stays in Python (`core.flaky`): the flag/clear hysteresis that carries from
one day to the next and the status rules. `marts.flaky_daily` keeps every day's decision, so
scoring a new day reads the window and the day before's state, whatever the length of history.

- `marts/flaky_daily` (daily partitions, one run per backfill range): decide each day in order.
- `marts/flaky_scores`: the latest day's rows, with links to the runs that flipped.
- `exports/quarantine_lists`: one JSON file per repository (`data/quarantine/<owner>__<repo>.json`,
  env `VIGIL_QUARANTINE_DIR`) with ids and patterns pytest, jest, JUnit and go test runners use.
"""

import json
import os
import time
import warnings
from collections.abc import Mapping
from dataclasses import fields
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg
from pydantic import Field

from observability_assets.assetkit.metadata import column_schema
from observability_assets.assetkit.partitions import DAILY
from observability_assets.core.contract import FLAKY_DAILY, FLAKY_SCORES
from observability_assets.core.flaky import (
    STATUSES,
    FlakyPolicy,
    FlakyState,
    WindowSignals,
    decide,
)
from observability_assets.core.flaky_quality import frequency_bucket, measure
from observability_assets.core.flaky_quarantine import (
    QuarantinedTest,
    quarantine_document,
    quarantine_file_name,
)
from resources.paths import data_path
from resources.warehouse import Warehouse, WarehouseResource, quote_identifier

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

WINDOW_ENV = "VIGIL_FLAKY_WINDOW_DAYS"
QUARANTINE_DIR_ENV = "VIGIL_QUARANTINE_DIR"
LABELS_ENV = "VIGIL_FLAKY_LABELS"

COMMIT_OUTCOMES_KEY = dg.AssetKey(["staging", "test_commit_outcomes"])
TEST_CASES_KEY = dg.AssetKey(["staging", "test_cases"])
FLAKY_DAILY_KEY = dg.AssetKey(FLAKY_DAILY.qualified_name.split("."))
FLAKY_SCORES_KEY = dg.AssetKey(FLAKY_SCORES.qualified_name.split("."))
QUARANTINE_KEY = dg.AssetKey(["exports", "quarantine_lists"])
RAW_RUNS_KEY = dg.AssetKey(["raw", "ci_runs"])


def window_days_from_env(environ: Mapping[str, str] = os.environ) -> int:
    """`VIGIL_FLAKY_WINDOW_DAYS` (default 14): days in the sliding window of every score."""
    raw = environ.get(WINDOW_ENV, "").strip()
    if not raw:
        return FlakyPolicy.window_days
    days = int(raw)
    if not 1 <= days <= 365:
        raise ValueError(f"{WINDOW_ENV} must be between 1 and 365, got {days}")
    return days


# One statement per evaluated day; parameters $window_start, $lookback_start and $as_of (DATEs,
# inclusive) and $min_window_runs. A test that ran fewer than $min_window_runs times since
# $window_start (a nightly or weekly suite) is judged over the longer lookback instead.
# DuckDB-only: LIST(... ORDER BY ...) FILTER and list slicing build the evidence lists (Spark:
# collect_list over a sorted subquery; Trino: array_agg ... ORDER BY); ARG_MIN is min_by elsewhere.
WINDOW_SQL = """
WITH recent AS (
    SELECT test_id, SUM(executions) AS recent_runs
    FROM staging.test_commit_outcomes
    WHERE partition_day >= $window_start AND partition_day <= $as_of
    GROUP BY test_id
),

rare AS (
    -- Tests run too seldom for the window to hold the evidence: seen in the lookback, but fewer
    -- than $min_window_runs executions in the window.
    SELECT o.test_id
    FROM staging.test_commit_outcomes AS o
    LEFT JOIN recent AS r ON r.test_id = o.test_id
    WHERE o.partition_day >= $lookback_start AND o.partition_day < $window_start
        AND COALESCE(r.recent_runs, 0) < $min_window_runs
    GROUP BY o.test_id
),

window_rows AS (
    SELECT o.*, $window_start AS window_start
    FROM staging.test_commit_outcomes AS o
    WHERE o.partition_day >= $window_start AND o.partition_day <= $as_of
    UNION ALL
    SELECT o.*, $lookback_start AS window_start
    FROM staging.test_commit_outcomes AS o
    INNER JOIN rare AS r ON r.test_id = o.test_id
    WHERE o.partition_day >= $lookback_start AND o.partition_day < $window_start
),

tests AS (
    SELECT
        test_id,
        SUM(executions) AS runs,
        SUM(executions - passes) AS failures,
        MIN(window_start) AS window_start,
        MAX(last_run_id) AS last_run_id,
        MAX(last_failed_run_id) AS last_failed_run_id
    FROM window_rows
    GROUP BY test_id
),

names AS (
    -- The latest name seen in the window (a test_id hashes them, so only the file can differ).
    SELECT
        test_id,
        ARG_MAX(repo, partition_day) AS repo,
        ARG_MAX(classname, partition_day) AS classname,
        ARG_MAX(test_name, partition_day) AS test_name,
        ARG_MAX(file, partition_day) AS file
    FROM staging.test_cases
    WHERE partition_day >= $lookback_start AND partition_day <= $as_of
        AND test_id IN (SELECT test_id FROM tests)
    GROUP BY test_id
),

-- From here on only tests that failed in the window: the others are stable, every execution
-- clean, and need no per-commit work.
commits AS (
    SELECT
        w.test_id,
        w.head_sha,
        SUM(w.executions) AS executions,
        SUM(w.passes) AS passes,
        SUM(CASE WHEN w.on_default_branch THEN w.executions ELSE 0 END) AS default_executions,
        SUM(CASE WHEN w.on_default_branch THEN w.executions - w.passes ELSE 0 END) AS default_failures,
        MAX(CASE WHEN w.on_default_branch THEN w.last_run_id END) AS last_default_run_id,
        MAX(w.last_run_id) AS last_run_id,
        MAX(w.last_failed_run_id) AS last_failed_run_id
    FROM window_rows AS w
    INNER JOIN tests AS t ON t.test_id = w.test_id AND t.failures > 0
    GROUP BY w.test_id, w.head_sha
),

default_sequence AS (
    -- The test's commits on the default branch, in the order they were last built there.
    SELECT
        test_id,
        head_sha,
        last_default_run_id,
        default_failures > 0 AS failed,
        passes = 0 AS failed_only,
        LAG(default_failures > 0) OVER sequence AS previous_failed,
        LEAD(default_failures > 0) OVER sequence AS next_failed
    FROM commits
    WHERE default_executions > 0
    WINDOW sequence AS (PARTITION BY test_id ORDER BY last_default_run_id, head_sha)
),

transitions AS (
    SELECT
        test_id,
        COUNT(*) AS default_commits,
        COUNT(CASE WHEN failed <> previous_failed THEN 1 END) AS flips,
        -- Steps to the next commit: what "deterministic" is tested against (core.flaky).
        COUNT(CASE WHEN NOT failed AND next_failed IS NOT NULL THEN 1 END) AS pass_steps,
        COUNT(CASE WHEN NOT failed AND next_failed THEN 1 END) AS breaks,
        COUNT(CASE WHEN failed AND next_failed IS NOT NULL THEN 1 END) AS fail_steps,
        COUNT(CASE WHEN failed AND NOT next_failed THEN 1 END) AS recoveries,
        -- The last default-branch commit the test did not only fail on; a broken streak follows it.
        MAX(CASE WHEN NOT failed_only THEN last_default_run_id END) AS last_healthy_run_id
    FROM default_sequence
    GROUP BY test_id
),

classified AS (
    SELECT
        c.*,
        c.passes > 0 AND c.passes < c.executions AS flaky_commit,
        COALESCE(s.failed_only AND NOT s.previous_failed AND NOT s.next_failed, FALSE) AS isolated_failure,
        COALESCE(s.failed_only AND s.last_default_run_id > COALESCE(tr.last_healthy_run_id, -1), FALSE)
            AS broken_streak,
        c.passes = c.executions AND c.last_run_id > t.last_failed_run_id AS after_last_failure
    FROM commits AS c
    INNER JOIN tests AS t ON t.test_id = c.test_id
    LEFT JOIN default_sequence AS s ON s.test_id = c.test_id AND s.head_sha = c.head_sha
    LEFT JOIN transitions AS tr ON tr.test_id = c.test_id
),

failing AS (
    SELECT
        test_id,
        COUNT(CASE WHEN passes < executions THEN 1 END) AS failing_commits,
        COUNT(CASE WHEN flaky_commit THEN 1 END) AS flaky_commits,
        COUNT(CASE WHEN isolated_failure THEN 1 END) AS isolated_failures,
        SUM(CASE WHEN flaky_commit OR isolated_failure THEN executions - passes ELSE 0 END)
            AS nondeterministic_failures,
        COUNT(CASE WHEN broken_streak THEN 1 END) AS broken_commits,
        SUM(CASE WHEN broken_streak THEN executions - passes ELSE 0 END) AS broken_failures,
        ARG_MIN(head_sha, last_default_run_id) FILTER (WHERE broken_streak) AS broken_since_sha,
        SUM(CASE WHEN after_last_failure THEN executions ELSE 0 END) AS clean_runs,
        -- Evidence: the latest commits that flipped, the last failing run and the latest run of each.
        LIST(head_sha ORDER BY last_run_id DESC) FILTER (WHERE flaky_commit OR isolated_failure)
            AS evidence_shas,
        LIST(last_failed_run_id ORDER BY last_run_id DESC) FILTER (WHERE flaky_commit OR isolated_failure)
            AS evidence_failed_run_ids,
        LIST(last_run_id ORDER BY last_run_id DESC) FILTER (WHERE flaky_commit OR isolated_failure)
            AS evidence_latest_run_ids
    FROM classified
    GROUP BY test_id
)

SELECT
    n.repo,
    t.test_id,
    n.classname,
    n.test_name,
    n.file,
    CAST(t.runs AS BIGINT) AS runs,
    CAST(t.failures AS BIGINT) AS failures,
    COALESCE(CAST(t.failures AS DOUBLE) / NULLIF(t.runs, 0), 0.0) AS failure_rate,
    CAST(COALESCE(f.failing_commits, 0) AS BIGINT) AS failing_commits,
    CAST(COALESCE(f.flaky_commits, 0) AS BIGINT) AS flaky_commits,
    CAST(COALESCE(f.isolated_failures, 0) AS BIGINT) AS isolated_failures,
    CAST(COALESCE(f.nondeterministic_failures, 0) AS BIGINT) AS nondeterministic_failures,
    CAST(COALESCE(r.flips, 0) AS BIGINT) AS flips,
    COALESCE(CAST(r.flips AS DOUBLE) / NULLIF(r.default_commits - 1, 0), 0.0) AS flip_rate,
    CAST(COALESCE(f.clean_runs, t.runs) AS BIGINT) AS clean_runs,
    CAST(COALESCE(f.broken_commits, 0) AS BIGINT) AS broken_commits,
    CAST(COALESCE(f.broken_failures, 0) AS BIGINT) AS broken_failures,
    f.broken_since_sha,
    CAST(COALESCE(r.pass_steps, 0) AS BIGINT) AS pass_steps,
    CAST(COALESCE(r.breaks, 0) AS BIGINT) AS breaks,
    CAST(COALESCE(r.fail_steps, 0) AS BIGINT) AS fail_steps,
    CAST(COALESCE(r.recoveries, 0) AS BIGINT) AS recoveries,
    t.window_start,
    t.last_run_id,
    f.evidence_shas[1:10] AS evidence_shas,
    f.evidence_failed_run_ids[1:10] AS evidence_failed_run_ids,
    f.evidence_latest_run_ids[1:10] AS evidence_latest_run_ids
FROM tests AS t
INNER JOIN names AS n ON n.test_id = t.test_id
LEFT JOIN failing AS f ON f.test_id = t.test_id
LEFT JOIN transitions AS r ON r.test_id = t.test_id
ORDER BY n.repo, t.test_id
"""

_SIGNAL_FIELDS = [f.name for f in fields(WindowSignals)]


def window_signals(con: "duckdb.DuckDBPyConnection", as_of: date, policy: FlakyPolicy) -> "pa.Table":
    """One row per test seen in its window ending at `as_of`, with the window's signals."""
    params = {
        "window_start": as_of - timedelta(days=policy.window_days - 1),
        "lookback_start": as_of - timedelta(days=max(policy.lookback_days, policy.window_days) - 1),
        "min_window_runs": policy.min_window_runs,
        "as_of": as_of,
    }
    return con.sql(WINDOW_SQL, params=params).to_arrow_table()


def load_states(
    con: "duckdb.DuckDBPyConnection", before: date, window_days: int
) -> tuple[date | None, dict[tuple[str, str], FlakyState]]:
    """The hysteresis state of the latest day scored before `before` (within one window of it)."""
    rows = con.execute(
        "SELECT repo, test_id, as_of, flagged, quarantined, flagged_since, first_flagged_on, last_cleared_on "
        "FROM marts.flaky_daily WHERE as_of = ("
        "  SELECT max(as_of) FROM marts.flaky_daily WHERE as_of < ? AND as_of >= ?)",
        [before, before - timedelta(days=window_days)],
    ).fetchall()
    if not rows:
        return None, {}
    states = {
        (repo, test): FlakyState(bool(flagged), bool(quarantined), since, first, cleared)
        for repo, test, _, flagged, quarantined, since, first, cleared in rows
    }
    return rows[0][2], states


def decide_day(
    signals: "pa.Table", states: Mapping[tuple[str, str], FlakyState], day: date, policy: FlakyPolicy
) -> tuple["pa.Table", dict[tuple[str, str], FlakyState]]:
    """The day's rows of marts.flaky_daily, and the states the next day continues from.

    A test that left the window drops out of the states: it starts afresh if it comes back.
    """
    import pyarrow as pa

    types = _decision_types()
    columns = {name: signals.column(name).to_pylist() for name in ("repo", "test_id", *_SIGNAL_FIELDS)}
    decided: dict[str, list[Any]] = {name: [] for name in types}
    next_states: dict[tuple[str, str], FlakyState] = {}
    for i, key in enumerate(zip(columns["repo"], columns["test_id"], strict=True)):
        window = WindowSignals(*(int(columns[name][i]) for name in _SIGNAL_FIELDS))
        decision = decide(states.get(key, FlakyState()), window, day, policy)
        next_states[key] = state = decision.state
        for name, value in (
            ("score", decision.score),
            ("p_deterministic", decision.p_deterministic),
            ("status", decision.status),
            ("flagged", state.flagged),
            ("quarantined", state.quarantined),
            ("event", decision.event),
            ("flagged_since", state.flagged_since),
            ("first_flagged_on", state.first_flagged_on),
            ("last_cleared_on", state.last_cleared_on),
        ):
            decided[name].append(value)
    rows = signals.num_rows
    out = signals.append_column("as_of", pa.array([day] * rows, pa.date32()))
    out = out.append_column("window_days", pa.array([policy.window_days] * rows, pa.int32()))
    for name, values in decided.items():
        out = out.append_column(name, pa.array(values, types[name]))
    return out, next_states


def _decision_types() -> dict[str, Any]:
    """Arrow types of the columns `decide_day` adds to the window's signals."""
    import pyarrow as pa

    return {
        "score": pa.float64(),
        "p_deterministic": pa.float64(),
        "status": pa.string(),
        "flagged": pa.bool_(),
        "quarantined": pa.bool_(),
        "event": pa.string(),
        "flagged_since": pa.date32(),
        "first_flagged_on": pa.date32(),
        "last_cleared_on": pa.date32(),
    }


def score_days(
    warehouse: Warehouse, first: date, last: date, policy: FlakyPolicy
) -> tuple["pa.Table | None", date | None]:
    """Decide every day of [first, last] in order, starting from the state before `first`.

    Each day's window is one short read; the decisions are computed outside the lock. Returns
    the rows and the day whose state was continued (None: no earlier state, every flag starts
    clear).
    """
    import pyarrow as pa

    with warehouse.read(f"flaky states before {first}") as con:
        continued_from, states = load_states(con, first, policy.window_days)
    tables = []
    day = first
    while day <= last:
        with warehouse.read(f"flaky window {day}") as con:
            signals = window_signals(con, day, policy)
        table, states = decide_day(signals, states, day, policy)
        tables.append(table)
        day += timedelta(days=1)
    return (pa.concat_tables(tables) if tables else None), continued_from


def write_daily(warehouse: Warehouse, first: date, last: date, rows: "pa.Table | None") -> int:
    """Replace the days [first, last] of marts.flaky_daily in one transaction."""
    names = [c.name for c in FLAKY_DAILY.columns if c.name != "computed_at"]
    columns = ", ".join(quote_identifier(n) for n in names)
    with warehouse.write(f"marts.flaky_daily {first}..{last}") as con:
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute("DELETE FROM marts.flaky_daily WHERE as_of >= ? AND as_of <= ?", [first, last])
            if rows is not None and rows.num_rows:
                con.register("flaky_rows", rows)
                # Column names come from the contract; the rows are a registered Arrow table.
                con.execute(
                    f"INSERT INTO marts.flaky_daily ({columns}, computed_at) "  # noqa: S608
                    f"SELECT {columns}, CAST(now() AT TIME ZONE 'UTC' AS TIMESTAMP) FROM flaky_rows"
                )
                con.unregister("flaky_rows")
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    return 0 if rows is None else rows.num_rows


# The latest day of marts.flaky_daily, with the last time each test ran and links to the runs on
# its evidence commits. Run pages are linked without the attempt, so a re-run shows both attempts.
SCORES_SQL = """
WITH latest AS (
    SELECT * FROM marts.flaky_daily WHERE as_of = (SELECT max(as_of) FROM marts.flaky_daily)
),

evidence_runs AS (
    SELECT repo, test_id, UNNEST(evidence_failed_run_ids || evidence_latest_run_ids) AS run_id
    FROM latest
    WHERE evidence_shas IS NOT NULL
),

wanted AS (
    SELECT DISTINCT repo, run_id FROM (
        SELECT repo, last_run_id AS run_id FROM latest
        UNION ALL
        SELECT repo, run_id FROM evidence_runs
    )
),

runs AS (
    SELECT
        r.repo,
        r.run_id,
        MAX(r.updated_at) AS updated_at,
        regexp_replace(ARG_MAX(r.html_url, r.run_attempt), '/attempts/[0-9]+$', '') AS run_url
    FROM raw.ci_runs AS r
    INNER JOIN wanted AS w ON w.repo = r.repo AND w.run_id = r.run_id
    GROUP BY r.repo, r.run_id
),

links AS (
    SELECT e.repo, e.test_id, LIST(DISTINCT r.run_url ORDER BY r.run_url) AS evidence_run_urls
    FROM evidence_runs AS e
    INNER JOIN runs AS r ON r.repo = e.repo AND r.run_id = e.run_id
    GROUP BY e.repo, e.test_id
)

SELECT
    d.repo,
    d.test_id,
    d.classname,
    d.test_name,
    d.file,
    d.runs,
    d.failures,
    COALESCE(CAST(d.failures AS DOUBLE) / NULLIF(d.runs, 0), 0.0) AS failure_rate,
    d.failing_commits,
    d.flaky_commits,
    d.isolated_failures,
    d.flips,
    d.flip_rate,
    d.clean_runs,
    d.score,
    d.p_deterministic,
    d.status,
    d.broken_since_sha,
    d.flagged_since,
    d.first_flagged_on,
    d.last_cleared_on,
    d.evidence_shas,
    l.evidence_run_urls,
    r.updated_at AS last_seen_at,
    d.as_of,
    d.window_days,
    d.window_start,
    CAST(now() AT TIME ZONE 'UTC' AS TIMESTAMP) AS computed_at
FROM latest AS d
LEFT JOIN runs AS r ON r.repo = d.repo AND r.run_id = d.last_run_id
LEFT JOIN links AS l ON l.repo = d.repo AND l.test_id = d.test_id
"""


def refresh_scores(warehouse: Warehouse) -> dict[str, Any]:
    """Replace marts.flaky_scores with the latest scored day; returns counts for metadata."""
    columns = ", ".join(quote_identifier(c) for c in FLAKY_SCORES.column_names)
    with warehouse.write("marts.flaky_scores") as con:
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute("DELETE FROM marts.flaky_scores")
            con.execute(f"INSERT INTO marts.flaky_scores ({columns}) {SCORES_SQL}")
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        by_status = dict(
            con.execute("SELECT status, count(*) FROM marts.flaky_scores GROUP BY status").fetchall()
        )
        ((as_of,),) = con.execute("SELECT max(as_of) FROM marts.flaky_scores").fetchall()
        top = con.execute(
            "SELECT repo, classname, test_name, status, round(score, 4), flaky_commits, runs "
            "FROM marts.flaky_scores WHERE status IN ('flaky', 'quarantined') "
            "ORDER BY score DESC, repo, test_id LIMIT 10"
        ).fetchall()
    return {"as_of": as_of, "by_status": {s: int(by_status.get(s, 0)) for s in STATUSES}, "top": top}


# Distinct workflow runs per day between each test's first and last day in its window (skips
# out): how often it runs, whatever the history the window could see.
RUNS_PER_DAY_SQL = """
SELECT
    s.test_id,
    COUNT(DISTINCT t.run_id) / (date_diff('day', MIN(t.partition_day), MAX(t.partition_day)) + 1)
        AS runs_per_day
FROM marts.flaky_scores AS s
INNER JOIN staging.stg_test_results AS t
    ON t.test_id = s.test_id AND t.partition_day >= s.window_start AND t.partition_day <= s.as_of
WHERE t.outcome <> 'skipped'
GROUP BY s.test_id, s.window_start, s.as_of
"""


def quality_against_labels(warehouse: Warehouse, labels: Mapping[str, Any]) -> dict[str, Any]:
    """Precision, recall and the acceptance checks of the warehouse's scores against `labels`."""
    with warehouse.read("flaky quality") as con:
        final = dict(con.execute("SELECT test_id, status FROM marts.flaky_scores").fetchall())
        failures = dict(con.execute("SELECT test_id, failures FROM marts.flaky_scores").fetchall())
        flagged = con.execute(
            "SELECT test_id, as_of FROM marts.flaky_daily WHERE flagged OR status IN ('flaky', 'quarantined')"
        ).fetchall()
        ((as_of, window_days),) = con.execute(
            "SELECT max(as_of), max(window_days) FROM marts.flaky_scores"
        ).fetchall()
        runs_per_day = dict(con.execute(RUNS_PER_DAY_SQL).fetchall())
    if as_of is None:
        raise ValueError("marts.flaky_scores is empty: score some days first")
    frequency = {test: frequency_bucket(float(rate)) for test, rate in runs_per_day.items()}
    return measure(
        final, flagged, labels, as_of=as_of, window_days=window_days, frequency=frequency, failures=failures
    ).as_dict()


# -- Dagster assets ----------------------------------------------------------------------------


class FlakyDailyConfig(dg.Config):
    """Thresholds of core.flaky.FlakyPolicy; the defaults are the ones docs/quality.md measures."""

    window_days: int = Field(
        default=window_days_from_env(), ge=1, le=365, description=f"Sliding window (env {WINDOW_ENV})."
    )
    lookback_days: int = Field(
        default=FlakyPolicy.lookback_days,
        ge=1,
        le=730,
        description="How far back a test with few executions in the window is judged.",
    )
    min_window_runs: int = Field(
        default=FlakyPolicy.min_window_runs,
        ge=0,
        description="Executions in the window below which a test is judged over the lookback.",
    )
    min_evidence: int = Field(
        default=FlakyPolicy.min_evidence,
        ge=1,
        description="Commits that both passed and failed that flag on their own.",
    )
    significance: float = Field(
        default=FlakyPolicy.significance,
        gt=0,
        lt=1,
        description="Flag when p_deterministic (breaks and recoveries if the code decided) is at most this.",
    )
    break_rate: float = Field(
        default=FlakyPolicy.break_rate,
        gt=0,
        lt=1,
        description="Deterministic: chance a build step breaks it.",
    )
    fix_rate: float = Field(
        default=FlakyPolicy.fix_rate, gt=0, lt=1, description="Deterministic: chance the next build fixes it."
    )
    flag_score: float = Field(default=FlakyPolicy.flag_score, ge=0, le=1, description="Score that flags.")
    clear_score: float = Field(
        default=FlakyPolicy.clear_score, ge=0, le=1, description="Score below which a flag may clear."
    )
    clear_clean_runs: int = Field(
        default=FlakyPolicy.clear_clean_runs,
        ge=0,
        description="Passing executions in a row a clear also needs.",
    )
    quarantine_score: float = Field(
        default=FlakyPolicy.quarantine_score,
        ge=0,
        le=1,
        description="Score that puts a flagged test in quarantine.",
    )

    def policy(self) -> FlakyPolicy:
        return FlakyPolicy(
            window_days=self.window_days,
            lookback_days=self.lookback_days,
            min_window_runs=self.min_window_runs,
            min_evidence=self.min_evidence,
            significance=self.significance,
            break_rate=self.break_rate,
            fix_rate=self.fix_rate,
            flag_score=self.flag_score,
            clear_score=self.clear_score,
            clear_clean_runs=self.clear_clean_runs,
            quarantine_score=self.quarantine_score,
        )


def _decide_partition_days(
    context: dg.AssetExecutionContext, config: FlakyDailyConfig, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    """Decide flaky/broken/stable for every test on each day of the partition range."""
    began = time.perf_counter()
    span = context.partition_time_window
    first, last = span.start.date(), span.end.date() - timedelta(days=1)
    policy = config.policy()
    wh = warehouse.get()
    rows, continued_from = score_days(wh, first, last, policy)
    written = write_daily(wh, first, last, rows)
    events = _count_events(rows)
    return dg.MaterializeResult(
        metadata={
            "dagster/partition_row_count": written,
            "days": (last - first).days + 1,
            "window_days": policy.window_days,
            "continued_from": continued_from.isoformat() if continued_from else "nothing (flags start clear)",
            "flagged_events": events["flagged"],
            "cleared_events": events["cleared"],
            "vigil/seconds_in_asset": round(time.perf_counter() - began, 4),
        }
    )


def _flaky_daily_asset() -> dg.AssetsDefinition:
    with warnings.catch_warnings():
        # Chosen on purpose, as in the SQL layer: single-run backfills (one run decides a range day
        # by day, in order) and a window that may reach before the first partition are "beta".
        warnings.simplefilter("ignore", dg.BetaWarning)
        window = dg.TimeWindowPartitionMapping(
            start_offset=-(window_days_from_env() - 1), allow_nonexistent_upstream_partitions=True
        )
        return dg.asset(
            key=FLAKY_DAILY_KEY,
            description=FLAKY_DAILY.comment,
            group_name="marts",
            kinds={"duckdb", "python"},
            owners=["team:quality"],
            partitions_def=DAILY,
            backfill_policy=dg.BackfillPolicy.single_run(),
            ins={
                key.path[-1]: dg.AssetIn(key=key, partition_mapping=window, dagster_type=dg.Nothing)
                for key in (COMMIT_OUTCOMES_KEY, TEST_CASES_KEY)
            },
            metadata={"dagster/column_schema": column_schema(FLAKY_DAILY), "partition_column": "as_of"},
        )(_decide_partition_days)


flaky_daily = _flaky_daily_asset()


def _count_events(rows: "pa.Table | None") -> dict[str, int]:
    counts = {"flagged": 0, "cleared": 0}
    if rows is not None:
        for event in rows.column("event").to_pylist():
            if event in counts:
                counts[event] += 1
    return counts


class FlakyScoresConfig(dg.Config):
    labels_path: str = Field(
        default="",
        description=(
            "Ground-truth labels file (the simulator's labels.json); when set, precision and recall "
            f"against it go into the metadata. Empty: env {LABELS_ENV}, else none."
        ),
    )


@dg.asset(
    key=FLAKY_SCORES_KEY,
    deps=[FLAKY_DAILY_KEY, RAW_RUNS_KEY],
    description=FLAKY_SCORES.comment,
    group_name="marts",
    kinds={"duckdb", "python"},
    owners=["team:quality"],
    metadata={"dagster/column_schema": column_schema(FLAKY_SCORES)},
)
def flaky_scores(
    context: dg.AssetExecutionContext, config: FlakyScoresConfig, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    """The latest scored day per test, with evidence links; quality figures when labels are given."""
    wh = warehouse.get()
    summary = refresh_scores(wh)
    metadata: dict[str, Any] = {
        "dagster/row_count": sum(summary["by_status"].values()),
        "as_of": summary["as_of"].isoformat() if summary["as_of"] else "nothing scored yet",
        **{f"status/{s}": n for s, n in summary["by_status"].items()},
        "flakiest": dg.MetadataValue.md(_top_markdown(summary["top"])),
    }
    labels_path = config.labels_path or os.environ.get(LABELS_ENV, "")
    if labels_path and summary["as_of"]:
        labels = json.loads(Path(labels_path).read_text(encoding="utf-8"))
        quality = quality_against_labels(wh, labels)
        context.log.info(f"flaky quality against {labels_path}: {quality}")
        metadata.update(quality_metadata(quality))
    return dg.MaterializeResult(metadata=metadata)


def quality_metadata(quality: Mapping[str, Any]) -> dict[str, Any]:
    """The figures of docs/quality.md as `quality/*` metadata entries."""
    out: dict[str, Any] = {}
    for name, value in quality.items():
        if isinstance(value, float):
            out[f"quality/{name}"] = dg.MetadataValue.float(round(value, 4))
        elif isinstance(value, int):
            out[f"quality/{name}"] = dg.MetadataValue.int(value)
        elif isinstance(value, tuple | list):
            out[f"quality/{name}"] = dg.MetadataValue.json(list(value))
        elif isinstance(value, dict):
            out[f"quality/{name}"] = dg.MetadataValue.json(value)
        else:
            out[f"quality/{name}"] = dg.MetadataValue.text(str(value))
    return out


def _top_markdown(rows: list[tuple]) -> str:
    if not rows:
        return "No test is flagged flaky."
    lines = ["| repo | test | status | score | flaky commits | runs |", "|---|---|---|---|---|---|"]
    for repo, classname, name, status, score, flaky_commits, runs in rows:
        test = f"{classname} :: {name}".replace("|", "\\|")
        lines.append(f"| {repo} | {test} | {status} | {score} | {flaky_commits} | {runs} |")
    return "\n".join(lines)


class QuarantineConfig(dg.Config):
    directory: str = Field(
        default_factory=lambda: os.environ.get(QUARANTINE_DIR_ENV) or data_path("quarantine"),
        description=f"Folder of the per-repository JSON files (env {QUARANTINE_DIR_ENV}).",
    )


def read_quarantine(warehouse: Warehouse) -> tuple[dict[str, list[QuarantinedTest]], date | None, int]:
    """Quarantined tests per repository (every scored repository, even with none)."""
    with warehouse.read("quarantine lists") as con:
        rows = con.execute(
            "SELECT repo, test_id, classname, test_name, file, score, status, flagged_since, "
            "evidence_shas, evidence_run_urls, as_of, window_days FROM marts.flaky_scores "
            "ORDER BY repo, test_id"
        ).fetchall()
    lists: dict[str, list[QuarantinedTest]] = {}
    as_of, window_days = None, window_days_from_env()
    for repo, test, classname, name, file, score, status, since, shas, urls, day, days in rows:
        lists.setdefault(repo, [])
        as_of, window_days = day, days
        if status == "quarantined":
            lists[repo].append(
                QuarantinedTest(
                    test_id=test,
                    classname=classname,
                    test_name=name,
                    file=file,
                    score=float(score),
                    flagged_since=since.isoformat() if since else None,
                    evidence_shas=tuple(shas or ()),
                    evidence_run_urls=tuple(urls or ()),
                )
            )
    return lists, as_of, window_days


def write_quarantine_files(
    directory: Path, lists: Mapping[str, list[QuarantinedTest]], as_of: date | None, window_days: int
) -> dict[str, Path]:
    """One JSON file per repository, each written to a temporary name and renamed into place."""
    directory.mkdir(parents=True, exist_ok=True)
    generated_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    paths = {}
    for repo, tests in sorted(lists.items()):
        document = quarantine_document(
            repo,
            tests,
            as_of=as_of.isoformat() if as_of else None,
            generated_at=generated_at,
            window_days=window_days,
        )
        path = directory / quarantine_file_name(repo)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        os.replace(tmp, path)
        paths[repo] = path
    return paths


@dg.asset(
    key=QUARANTINE_KEY,
    deps=[FLAKY_SCORES_KEY],
    description=(
        "Quarantine list per repository: a JSON file with the quarantined tests' ids and the "
        "pytest, jest, JUnit and go test patterns that skip them or make them non-blocking."
    ),
    group_name="exports",
    kinds={"json"},
    owners=["team:quality"],
)
def quarantine_lists(config: QuarantineConfig, warehouse: WarehouseResource) -> dg.MaterializeResult:
    lists, as_of, window_days = read_quarantine(warehouse.get())
    paths = write_quarantine_files(Path(config.directory), lists, as_of, window_days)
    return dg.MaterializeResult(
        metadata={
            "directory": dg.MetadataValue.path(str(Path(config.directory).resolve())),
            "repositories": len(paths),
            "quarantined_tests": sum(len(t) for t in lists.values()),
            "files": dg.MetadataValue.json({repo: str(path) for repo, path in paths.items()}),
        }
    )


# -- checks ------------------------------------------------------------------------------------


@dg.asset_check(asset=FLAKY_SCORES_KEY, description="One row per test, counts and statuses consistent.")
def flaky_scores_consistent(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    with warehouse.get().read("flaky scores check") as con:
        ((bad, duplicates, days, rows),) = con.execute(
            """
            SELECT
                count(*) FILTER (WHERE failures > runs OR flaky_commits > failing_commits
                                 OR score < 0 OR score > 1 OR flip_rate < 0
                                 OR status NOT IN ('stable', 'flaky', 'broken', 'quarantined')
                                 OR (status = 'broken' AND broken_since_sha IS NULL)
                                 OR (status IN ('flaky', 'quarantined') AND flagged_since IS NULL)),
                count(*) - count(DISTINCT (repo, test_id)),
                count(DISTINCT as_of),
                count(*)
            FROM marts.flaky_scores
            """
        ).fetchall()
    return dg.AssetCheckResult(
        passed=bad == 0 and duplicates == 0 and days <= 1,
        metadata={"inconsistent_rows": bad, "duplicate_tests": duplicates, "days": days, "rows": rows},
    )


@dg.asset_check(asset=QUARANTINE_KEY, description="The files list exactly the quarantined tests.")
def quarantine_lists_match(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
) -> dg.AssetCheckResult:
    event = context.instance.get_latest_materialization_event(QUARANTINE_KEY)
    if event is None or event.asset_materialization is None:
        return dg.AssetCheckResult(passed=False, metadata={"reason": "no quarantine lists written yet"})
    # The folder the last materialization wrote to, whatever its configuration was.
    directory = Path(str(event.asset_materialization.metadata["directory"].value))
    lists, _, _ = read_quarantine(warehouse.get())
    wrong = []
    for repo, tests in lists.items():
        path = directory / quarantine_file_name(repo)
        listed = (
            {t["test_id"] for t in json.loads(path.read_text(encoding="utf-8"))["tests"]}
            if path.exists()
            else None
        )
        if listed != {t.test_id for t in tests}:
            wrong.append(repo)
    return dg.AssetCheckResult(
        passed=not wrong,
        metadata={"directory": str(directory), "repositories_out_of_date": dg.MetadataValue.json(wrong)},
    )
