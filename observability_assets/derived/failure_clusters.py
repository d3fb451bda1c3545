"""marts.failure_clusters and marts.failure_cluster_members: failures grouped by root cause.

How a day of 100,000 failures is clustered without reading each one in Python:

1. one short read: DuckDB masks every failure's text in a single regex pass (`SHAPE_PATTERN`) and
   hashes it into a *shape*; failures that read the same apart from numbers, addresses, UUIDs and
   temporary paths share a shape. The rows come out as Arrow with their job's infrastructure flag
   (staging.test_job_health) and run time, plus one example text per shape;
2. Python parses only the examples (`core.failure_signatures.describe_failure`): signature,
   root-cause headline, probable in-repository frame;
3. a private in-memory DuckDB joins the examples back and aggregates each window (default the last
   7 and 28 days, env `VIGIL_FAILURE_WINDOWS`), with the tests' flaky-score status;
4. one write replaces both marts in a transaction.

Clusters span tests, runs and repositories: the signature carries no test, repository or line,
except for assertions raised in a test's own code, which are that test's own cluster.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import dagster as dg

from observability_assets.assetkit.metadata import column_schema
from observability_assets.core.contract import FAILURE_CLUSTER_MEMBERS, FAILURE_CLUSTERS, FLAKY_SCORES
from observability_assets.core.failure_signatures import (
    CLUSTER_SIGNATURE_SQL,
    SHAPE_PATTERN,
    describe_failure,
    digest,
    identity_blank_sql,
    identity_columns_sql,
    identity_fill_sql,
    identity_tokens,
    templated,
)
from resources.warehouse import Warehouse, WarehouseResource, quote_identifier

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

WINDOWS_ENV = "VIGIL_FAILURE_WINDOWS"
DEFAULT_WINDOWS = (7, 28)
FAILURE_CLUSTERS_KEY = dg.AssetKey(FAILURE_CLUSTERS.qualified_name.split("."))
FAILURE_MEMBERS_KEY = dg.AssetKey(FAILURE_CLUSTER_MEMBERS.qualified_name.split("."))


def windows_from_env(environ: Mapping[str, str] = os.environ) -> tuple[int, ...]:
    """`VIGIL_FAILURE_WINDOWS` (default "7,28"): the window lengths, in days, clusters are counted over."""
    raw = environ.get(WINDOWS_ENV, "").strip()
    if not raw:
        return DEFAULT_WINDOWS
    days = sorted({int(part) for part in raw.split(",") if part.strip()})
    if not days or days[0] < 1:
        raise ValueError(f"{WINDOWS_ENV} must list positive day counts, got {raw!r}")
    return tuple(days)


_RAW_TEXT = "coalesce(t.message, '') || chr(10) || coalesce(t.stack_trace, '')"
# The f-string parts are SQL built from constants of core.failure_signatures, never from data.
_FAILING_SQL = f"""
CREATE TEMP TABLE failing AS
SELECT * EXCLUDE (raw_text), hash(regexp_replace({identity_blank_sql("raw_text")}, ?, '#', 'g')) AS shape
FROM (
    SELECT t.repo, t.run_id, t.run_attempt, t.job_id, t.report_path, t.test_id, t.classname, t.test_name,
           t.file, t.suite, t.attempt, t.outcome, t.partition_day,
           coalesce(r.created_at, CAST(t.partition_day AS TIMESTAMP)) AS failed_at,
           t.message, t.stack_trace, {_RAW_TEXT} AS raw_text, {identity_columns_sql()}
    FROM raw.test_results AS t
    LEFT JOIN raw.ci_runs AS r USING (repo, run_id, run_attempt)
    WHERE t.outcome IN ('failed', 'error') AND t.partition_day >= ? AND t.partition_day <= ?
)
"""  # noqa: S608
_INFRA_SQL = """
SELECT repo, run_id, run_attempt, job_key, bool_or(infra_failure) AS infra_failure
FROM staging.test_job_health WHERE partition_day >= ? AND partition_day <= ?
GROUP BY ALL
"""
# One example per shape (the same row's columns: a struct, not any_value column by column).
_EXAMPLES_SQL = """
SELECT shape, unnest(any_value(struct_pack(message, stack_trace, classname, test_name, file, suite)))
FROM failing GROUP BY shape
"""
_MEMBERS_SQL = """
SELECT repo, run_id, run_attempt, job_id, report_path, test_id, classname, test_name, file, suite, attempt,
       outcome, failed_at, partition_day, shape, COLUMNS('^id_')
FROM failing
"""


def read_failures(con: duckdb.DuckDBPyConnection, first: date, last: date) -> dict[str, pa.Table]:
    """The failing executions of [first, last], one example per shape, infrastructure-failed jobs."""
    con.execute(_FAILING_SQL, [SHAPE_PATTERN, first, last])
    out = {
        "members": con.sql(_MEMBERS_SQL).to_arrow_table(),
        "examples": con.sql(_EXAMPLES_SQL).to_arrow_table(),
    }
    ((has_health,),) = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'staging' AND table_name = 'test_job_health'"
    ).fetchall()
    if has_health:
        out["infra"] = con.sql(_INFRA_SQL, params=[first, last]).to_arrow_table()
    else:
        out["infra"] = con.sql(
            "SELECT NULL::VARCHAR AS repo, NULL::BIGINT AS run_id, NULL::INTEGER AS run_attempt, "
            "NULL::BIGINT AS job_key, NULL::BOOLEAN AS infra_failure WHERE false"
        ).to_arrow_table()
    con.execute("DROP TABLE failing")
    return out


_DESCRIBED = (
    ("shape", "uint64"),
    ("base_digest", "string"),
    ("per_test", "bool_"),
    ("signature_text", "string"),
    ("headline", "string"),
    ("dialect", "string"),
    ("frame_file", "string"),
    ("frame_function", "string"),
    ("frame_line", "int64"),
    ("frame_source", "string"),
)


def describe_shapes(examples: pa.Table) -> pa.Table:
    """Signature and probable frame of each shape's example: the only per-failure Python.

    What names the example's own test (its file, class, function) is turned into placeholders, so
    every member gets its own test back (`identity_fill_sql`); a signature that names its test is
    that test's own (`per_test`).
    """
    import pyarrow as pa

    columns: dict[str, list[Any]] = {name: [] for name, _ in _DESCRIBED}
    names = ("shape", "message", "stack_trace", "classname", "test_name", "file", "suite")
    for shape, message, stack, classname, test_name, file, suite in zip(
        *(examples.column(n).to_pylist() for n in names), strict=True
    ):
        d = describe_failure(message, stack, test_classname=classname)
        tokens = identity_tokens(classname, test_name, file, suite)
        base, in_base = templated(d.base, tokens)
        headline, _ = templated(d.headline, tokens)
        frame_file, in_file = templated(d.frame_file, tokens)
        frame_function, in_function = templated(d.frame_function, tokens)
        own = in_base or in_file or in_function
        for name, value in (
            ("shape", shape),
            ("base_digest", digest(base) if own else d.base_digest),
            ("per_test", d.per_test or own),
            ("signature_text", base),
            ("headline", headline),
            ("dialect", d.dialect),
            ("frame_file", frame_file),
            ("frame_function", frame_function),
            ("frame_line", d.frame_line),
            ("frame_source", d.frame_source if d.frame_file else "none"),
        ):
            columns[name].append(value)
    return pa.table(columns, schema=pa.schema([(name, getattr(pa, kind)()) for name, kind in _DESCRIBED]))


_ASSIGN_SQL = f"""
CREATE TEMP TABLE members AS
SELECT *, {CLUSTER_SIGNATURE_SQL} AS signature
FROM (
    SELECT m.*, s.base_digest, s.per_test, s.dialect, s.frame_line,
           CASE WHEN s.per_test AND contains(s.signature_text, chr(1)) THEN {identity_fill_sql("s.signature_text")} ELSE s.signature_text END AS signature_text,
           CASE WHEN s.per_test AND contains(s.headline, chr(1)) THEN {identity_fill_sql("s.headline")} ELSE s.headline END AS headline,
           CASE WHEN s.per_test AND contains(s.frame_function, chr(1)) THEN {identity_fill_sql("s.frame_function")} ELSE s.frame_function END AS frame_function,
           coalesce(CASE WHEN s.per_test AND contains(s.frame_file, chr(1)) THEN {identity_fill_sql("s.frame_file")}
                         ELSE s.frame_file END, m.file) AS probable_file,
           CASE WHEN s.frame_file IS NOT NULL THEN s.frame_source
                WHEN m.file IS NOT NULL THEN 'test_file' ELSE 'none' END AS frame_source,
           coalesce(i.infra_failure, false) AS infra_failure
    FROM member_rows AS m
    JOIN shapes AS s USING (shape)
    LEFT JOIN infra AS i
      ON i.repo = m.repo AND i.run_id = m.run_id AND i.run_attempt = m.run_attempt
     AND i.job_key = coalesce(m.job_id, -1)
)
"""  # noqa: S608

_CLUSTERS_SQL = """
WITH w AS (
    SELECT * FROM members WHERE partition_day >= $window_start
), statuses AS (
    SELECT DISTINCT w.signature, w.repo, w.test_id, f.status FROM w
    LEFT JOIN flaky AS f USING (repo, test_id)
), status_counts AS (
    SELECT signature,
           count(*) FILTER (WHERE status IN ('flaky', 'quarantined')) AS flaky_tests,
           count(*) FILTER (WHERE status = 'broken') AS broken_tests
    FROM statuses GROUP BY signature
), days AS (
    SELECT CAST(d AS DATE) AS day FROM range(CAST($window_start AS TIMESTAMP),
                                            CAST($as_of AS TIMESTAMP) + INTERVAL 1 DAY, INTERVAL 1 DAY) AS t(d)
), per_day AS (
    SELECT signature, partition_day AS day, count(*) AS n FROM w GROUP BY ALL
), sparkline AS (
    SELECT s.signature, list(coalesce(p.n, 0) ORDER BY d.day) AS daily_failures
    FROM (SELECT DISTINCT signature FROM w) AS s CROSS JOIN days AS d
    LEFT JOIN per_day AS p ON p.signature = s.signature AND p.day = d.day
    GROUP BY s.signature
), ever AS (
    SELECT signature, min(partition_day) AS first_seen_ever FROM members GROUP BY signature
), clusters AS (
    SELECT signature,
           any_value(signature_text) AS signature_text,
           bool_or(per_test) AS per_test,
           arg_max(headline, failed_at) AS example_message,
           arg_max(struct_pack(probable_file, frame_line, frame_function), failed_at) AS example,
           mode(probable_file) AS probable_file,
           any_value(frame_source) AS frame_source,
           any_value(dialect) AS dialect,
           min(failed_at) AS first_seen, max(failed_at) AS last_seen,
           count(*) AS failures, count(DISTINCT test_id) AS tests,
           count(DISTINCT (repo, run_id, run_attempt)) AS runs, count(DISTINCT repo) AS repos,
           list_sort(list(DISTINCT repo)) AS repo_list,
           avg(CASE WHEN infra_failure THEN 1.0 ELSE 0.0 END) AS infra_share
    FROM w GROUP BY signature
)
SELECT $window_days AS window_days, $window_start AS window_start, $as_of AS as_of,
       c.signature, c.signature_text, c.per_test, c.example_message,
       coalesce(c.example.probable_file, '?') || coalesce(':' || c.example.frame_line, '')
           || coalesce(' in ' || c.example.frame_function, '') AS example_frame,
       c.probable_file,
       CASE WHEN contains(c.probable_file, '/') THEN regexp_replace(c.probable_file, '/[^/]*$', '') ELSE '' END
           AS probable_module,
       c.frame_source, c.dialect, c.first_seen, c.last_seen, e.first_seen_ever,
       c.failures, c.tests, c.runs, c.repos, c.repo_list, c.infra_share,
       coalesce(s.flaky_tests, 0) AS flaky_tests, coalesce(s.broken_tests, 0) AS broken_tests,
       CASE WHEN coalesce(s.flaky_tests, 0) = c.tests THEN 'flaky'
            WHEN coalesce(s.broken_tests, 0) = c.tests THEN 'broken'
            WHEN coalesce(s.flaky_tests, 0) + coalesce(s.broken_tests, 0) > 0 THEN 'mixed'
            ELSE 'stable' END AS test_status,
       p.daily_failures,
       CAST(now() AT TIME ZONE 'UTC' AS TIMESTAMP) AS computed_at
FROM clusters AS c
JOIN ever AS e USING (signature)
JOIN sparkline AS p USING (signature)
LEFT JOIN status_counts AS s USING (signature)
ORDER BY c.failures DESC, c.signature
"""


def cluster(
    member_rows: pa.Table,
    shapes: pa.Table,
    infra: pa.Table,
    flaky: pa.Table,
    as_of: date,
    windows: Sequence[int],
) -> tuple[pa.Table, pa.Table]:
    """(members of the longest window, clusters of every window), computed in memory."""
    import duckdb
    import pyarrow as pa

    with duckdb.connect() as con:
        tables = {"member_rows": member_rows, "shapes": shapes, "infra": infra, "flaky": flaky}
        for name, frame in tables.items():
            con.register(name, frame)
        con.execute(_ASSIGN_SQL)
        per_window = []
        for days in windows:
            start = as_of - timedelta(days=days - 1)
            per_window.append(
                con.sql(
                    _CLUSTERS_SQL, params={"window_days": days, "window_start": start, "as_of": as_of}
                ).to_arrow_table()
            )
        member_columns = ", ".join(quote_identifier(c) for c in FAILURE_CLUSTER_MEMBERS.column_names)
        members = con.sql(f"SELECT {member_columns} FROM members").to_arrow_table()  # noqa: S608 - contract names
    clusters = pa.concat_tables(per_window) if per_window else None
    return members, clusters


def refresh_failure_clusters(
    warehouse: Warehouse, windows: Sequence[int] = DEFAULT_WINDOWS
) -> dict[str, Any]:
    """Recompute both marts as of the latest day with test results; returns timings and counts."""
    timings: dict[str, float] = {}
    started = time.perf_counter()
    with warehouse.read("failure clusters: read failures") as con:
        ((as_of,),) = con.execute("SELECT max(partition_day) FROM raw.test_results").fetchall()
        if as_of is None:
            read = flaky = None
        else:
            first = as_of - timedelta(days=max(windows) - 1)
            read = read_failures(con, first, as_of)
            flaky = con.sql(
                f"SELECT repo, test_id, status FROM {FLAKY_SCORES.qualified_name}"  # noqa: S608 - contract name
            ).to_arrow_table()
    timings["read_s"] = time.perf_counter() - started
    if as_of is None:
        _write(warehouse, None, None)
        return {"as_of": None, "failures": 0, "clusters": 0, "shapes": 0, **timings}
    mark = time.perf_counter()
    shapes = describe_shapes(read["examples"])
    timings["describe_s"] = time.perf_counter() - mark
    mark = time.perf_counter()
    members, clusters = cluster(read["members"], shapes, read["infra"], flaky, as_of, windows)
    timings["cluster_s"] = time.perf_counter() - mark
    mark = time.perf_counter()
    _write(warehouse, members, clusters)
    timings["write_s"] = time.perf_counter() - mark
    return {
        "as_of": as_of.isoformat(),
        "failures": members.num_rows,
        "shapes": shapes.num_rows,
        "clusters": clusters.num_rows,
        **timings,
    }


def _write(warehouse: Warehouse, members: pa.Table | None, clusters: pa.Table | None) -> None:
    with warehouse.write("failure clusters") as con:
        con.execute("BEGIN TRANSACTION")
        try:
            for spec, frame in ((FAILURE_CLUSTERS, clusters), (FAILURE_CLUSTER_MEMBERS, members)):
                con.execute(f"DELETE FROM {spec.qualified_name}")  # noqa: S608 - contract name
                if frame is not None and frame.num_rows:
                    names = ", ".join(quote_identifier(c) for c in spec.column_names)
                    con.register("incoming_rows", frame)
                    # Table and column names come from contract.py, never from data.
                    insert = f"INSERT INTO {spec.qualified_name} ({names}) SELECT {names} FROM incoming_rows"  # noqa: S608
                    con.execute(insert)
                    con.unregister("incoming_rows")
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            FAILURE_CLUSTERS_KEY,
            description=FAILURE_CLUSTERS.comment,
            group_name="marts",
            kinds={"duckdb", "python"},
            owners=["team:quality"],
            deps=[
                dg.AssetKey(["raw", "test_results"]),
                dg.AssetKey(["raw", "ci_runs"]),
                dg.AssetKey(["staging", "test_job_health"]),
                dg.AssetKey(FLAKY_SCORES.qualified_name.split(".")),
            ],
            metadata={"dagster/column_schema": column_schema(FAILURE_CLUSTERS)},
        ),
        dg.AssetSpec(
            FAILURE_MEMBERS_KEY,
            description=FAILURE_CLUSTER_MEMBERS.comment,
            group_name="marts",
            kinds={"duckdb", "python"},
            owners=["team:quality"],
            deps=[dg.AssetKey(["raw", "test_results"])],
            metadata={"dagster/column_schema": column_schema(FAILURE_CLUSTER_MEMBERS)},
        ),
    ],
)
def failure_clusters(warehouse: WarehouseResource):
    """Cluster the windows' failures by normalised signature; probable module from the stack trace."""
    windows = windows_from_env()
    figures = refresh_failure_clusters(warehouse.get(), windows)
    timings = {k: round(v, 3) for k, v in figures.items() if k.endswith("_s")}
    yield dg.MaterializeResult(
        asset_key=FAILURE_CLUSTERS_KEY,
        metadata={
            "dagster/row_count": figures["clusters"],
            "as_of": figures["as_of"] or "",
            "windows_days": dg.MetadataValue.json(list(windows)),
            "distinct_shapes": figures["shapes"],
            **timings,
        },
    )
    yield dg.MaterializeResult(
        asset_key=FAILURE_MEMBERS_KEY, metadata={"dagster/row_count": figures["failures"]}
    )


@dg.asset_check(
    asset=FAILURE_CLUSTERS_KEY,
    description="One row per window and signature; counts add up to the members; shares and counts in range.",
)
def failure_clusters_consistent(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    with warehouse.get().read("failure clusters check") as con:
        ((duplicates, bad, rows),) = con.execute(
            """
            SELECT count(*) - count(DISTINCT (window_days, signature)),
                   count(*) FILTER (WHERE tests > failures OR repos > tests OR runs > failures
                                    OR infra_share < 0 OR infra_share > 1 OR first_seen > last_seen
                                    OR flaky_tests + broken_tests > tests
                                    OR list_sum(daily_failures) <> failures
                                    OR len(daily_failures) <> window_days),
                   count(*)
            FROM marts.failure_clusters
            """
        ).fetchall()
        ((longest_failures, members, orphans),) = con.execute(
            """
            SELECT (SELECT coalesce(sum(failures), 0) FROM marts.failure_clusters
                    WHERE window_days = (SELECT max(window_days) FROM marts.failure_clusters)),
                   (SELECT count(*) FROM marts.failure_cluster_members),
                   (SELECT count(*) FROM marts.failure_cluster_members AS m
                    WHERE NOT EXISTS (SELECT 1 FROM marts.failure_clusters AS c WHERE c.signature = m.signature))
            """
        ).fetchall()
    return dg.AssetCheckResult(
        passed=duplicates == 0 and bad == 0 and longest_failures == members and orphans == 0,
        metadata={
            "duplicate_rows": duplicates,
            "inconsistent_rows": bad,
            "rows": rows,
            "members": members,
            "failures_in_longest_window": int(longest_failures),
            "members_without_cluster": orphans,
        },
    )


@dg.asset_check(
    asset=FAILURE_MEMBERS_KEY,
    description="Every failed or errored execution of the longest window is a member of exactly one cluster.",
)
def failure_members_complete(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    with warehouse.get().read("failure members check") as con:
        ((members, distinct, failures),) = con.execute(
            """
            WITH bounds AS (SELECT min(window_start) AS first, max(as_of) AS last FROM marts.failure_clusters)
            SELECT (SELECT count(*) FROM marts.failure_cluster_members),
                   (SELECT count(DISTINCT (repo, run_id, run_attempt, job_id, report_path, test_id, attempt))
                    FROM marts.failure_cluster_members),
                   (SELECT count(*) FROM raw.test_results, bounds
                    WHERE outcome IN ('failed', 'error') AND partition_day BETWEEN bounds.first AND bounds.last)
            """
        ).fetchall()
    return dg.AssetCheckResult(
        passed=members == distinct == failures,
        metadata={"members": members, "distinct_executions": distinct, "failures_in_raw": failures},
    )
