"""Benchmark: flaky-test scoring over 10 million test results, and the cost of scoring a new day.

Synthetic CI history is generated inside DuckDB (10 repositories, 500 tests each; commits built
by two jobs each, 40 % on the default branch, re-run attempts, 1 % flaky and
0.5 % broken tests, 0.5 % of jobs failing for infrastructure reasons) straight into raw.test_results
and raw.ci_runs, then deduplicated into staging.stg_test_results by its model.

1. **Scoring vs GROUP BY** (goal <= 3x): 10 million results over 14 days. Scoring is what a full
   rebuild runs after staging: the models staging.test_job_health, staging.test_commit_outcomes and
   staging.test_cases over every day (the model layer's own incremental build), the window query and hysteresis for
   the last day, and marts.flaky_scores. The baseline is DuckDB's bare
   `SELECT test_id, head_sha, count(*) ... GROUP BY test_id, head_sha` over the same
   staging.stg_test_results, materialized as a table, on the same connection; medians, alternating.
2. **A new day with 1 month or 1 year of history** (goal: same cost): histories of 30 and 365 days
   at the same daily volume are built and scored; then each new day runs the four staging models
   for that day, decides it (window + the day before's state) and refreshes marts.flaky_scores.

Both parts run on one DuckDB connection with the Warehouse's lock and analyst-snapshot copy left
out (they cost the same for any SQL; bench_sql_models measures them).

    .venv/bin/python bench/bench_flaky.py [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import duckdb

from observability_assets.core.flaky import FlakyPolicy
from observability_assets.derived.flaky_scores import refresh_scores, score_days, write_daily
from observability_assets.sql_layer.build import load_sql_project
from observability_assets.sql_layer.materialize import Window, build_model, load_seed
from resources.warehouse import STORAGE_COMPATIBILITY_VERSION, create_schema

START = date(2025, 1, 1)
REPOS, TESTS_PER_REPO = 10, 500
STAGING = (
    "staging.stg_test_results",
    "staging.test_job_health",
    "staging.test_commit_outcomes",
    "staging.test_cases",
)
SCORING_MODELS = STAGING[1:]


class DirectWarehouse:
    """The Warehouse interface over one open connection: no lock, no snapshot copy."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con

    @contextmanager
    def read(self, purpose: str = "") -> Iterator[duckdb.DuckDBPyConnection]:
        yield self.con

    @contextmanager
    def write(self, purpose: str = "", publish: bool = True) -> Iterator[duckdb.DuckDBPyConnection]:
        yield self.con


# One job executes every test of its repository. Jobs are numbered in creation order, so run ids
# grow with time; two jobs of a repository in a row build the same commit (40 % of commits on the
# default branch), and about 5 % of jobs are a re-run attempt of the job before.
GENERATE_SQL = """
CREATE OR REPLACE TEMP TABLE bench_jobs AS
WITH numbered AS (
    SELECT
        j,
        $first_job + j AS job_no,
        CAST($start_day AS DATE) + CAST(j // $jobs_per_day AS INTEGER) AS day,
        CAST(($first_job + j) % $repos AS INTEGER) AS repo_no
    FROM range($jobs) AS t(j)
)
SELECT
    *,
    job_no // ($repos * 2) AS commit_no,
    hash(job_no // ($repos * 2), repo_no) % 5 < 2 AS on_main,
    -- The second job of a commit is sometimes a re-run attempt of the first.
    job_no % ($repos * 2) >= $repos AND hash(job_no, 'rerun') % 100 < 10 AS rerun,
    hash(job_no, 'infra') % 200 = 0 AS infra
FROM numbered;

INSERT INTO raw.test_results (repo, run_id, run_attempt, job_id, head_sha, branch, test_id, suite,
    classname, test_name, file, outcome, duration_s, attempt, message, stack_trace, report_path,
    partition_day, ingested_at)
SELECT
    'acme/repo' || j.repo_no,
    CASE WHEN j.rerun THEN j.job_no - $repos ELSE j.job_no END,
    CASE WHEN j.rerun THEN 2 ELSE 1 END,
    j.job_no,
    md5('commit' || j.commit_no || '/' || j.repo_no),
    CASE WHEN j.on_main THEN 'main' ELSE 'feature/' || j.commit_no END,
    md5('acme/repo' || j.repo_no || '|' || t.t),
    'com.acme.Suite' || (t.t % 40),
    'com.acme.repo' || j.repo_no || '.Class' || (t.t % 40) || 'Test',
    'shouldHandleCase' || t.t,
    NULL,
    CASE
        WHEN j.infra AND hash(j.job_no, t.t, 'i') % 100 < 95 THEN 'error'
        WHEN t.t % 100 = 7 AND hash(j.job_no, t.t) % 100 < 10 THEN 'failed'
        WHEN t.t % 200 = 13 AND j.commit_no % 400 BETWEEN 100 AND 140 THEN 'failed'
        WHEN t.t % 50 = 3 THEN 'skipped'
        ELSE 'passed'
    END,
    (hash(j.job_no, t.t, 'd') % 1000) / 1000.0,
    0,
    NULL,
    NULL,
    'target/surefire-reports/TEST-Class' || (t.t % 40) || '.xml',
    j.day,
    TIMESTAMP '2026-01-01'
FROM bench_jobs AS j
CROSS JOIN range($tests) AS t(t);

INSERT INTO raw.ci_runs (repo, run_id, run_attempt, head_sha, head_branch, status, conclusion,
    created_at, updated_at, html_url, partition_day, ingested_at)
SELECT
    'acme/repo' || repo_no,
    job_no,
    1,
    md5('commit' || commit_no || '/' || repo_no),
    CASE WHEN on_main THEN 'main' ELSE 'feature/' || commit_no END,
    'completed',
    'success',
    CAST(day AS TIMESTAMP),
    CAST(day AS TIMESTAMP) + INTERVAL 20 MINUTE,
    'https://github.com/acme/repo' || repo_no || '/actions/runs/' || job_no || '/attempts/1',
    day,
    TIMESTAMP '2026-01-01'
FROM bench_jobs
WHERE NOT rerun
"""


def connect(path: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(path), config={"storage_compatibility_version": STORAGE_COMPATIBILITY_VERSION})
    create_schema(con)
    return con


def generate(
    con: duckdb.DuckDBPyConnection, first_day: date, days: int, rows_per_day: int, first_job: int
) -> int:
    """Append `days` days of history from `first_day`; returns the next job number."""
    jobs_per_day = max(REPOS, rows_per_day // TESTS_PER_REPO)
    jobs = jobs_per_day * days
    params = {
        "first_job": first_job,
        "start_day": first_day,
        "jobs_per_day": jobs_per_day,
        "jobs": jobs,
        "repos": REPOS,
        "tests": TESTS_PER_REPO,
    }
    for statement in GENERATE_SQL.split(";\n\n"):
        used = {k: v for k, v in params.items() if f"${k}" in statement}
        con.execute(statement, used)
    return first_job + jobs


@dataclass
class Cost:
    """Wall seconds, and CPU seconds of this process (DuckDB's threads included)."""

    wall: float = 0.0
    cpu: float = 0.0

    def __add__(self, other: Cost) -> Cost:
        return Cost(self.wall + other.wall, self.cpu + other.cpu)


@contextmanager
def timed() -> Iterator[Cost]:
    cost = Cost()
    wall, cpu = time.perf_counter(), time.process_time()
    yield cost
    cost.wall, cost.cpu = time.perf_counter() - wall, time.process_time() - cpu


def median(costs: list[Cost]) -> Cost:
    return Cost(statistics.median(c.wall for c in costs), statistics.median(c.cpu for c in costs))


@dataclass
class Pipeline:
    con: duckdb.DuckDBPyConnection
    models: dict

    @classmethod
    def open(cls, path: Path) -> Pipeline:
        con = connect(path)
        project = load_sql_project()
        for seed in project.seeds:
            load_seed(con, seed)
        return cls(con, {m.qualified_name: m for m in project.models})

    def build(self, names: tuple[str, ...], first: date, last: date) -> Cost:
        """The models through the model layer (staged window, delete and insert, comments)."""
        with timed() as cost:
            for name in names:
                build_model(self.con, self.models[name], Window(first, last + timedelta(days=1)))
        return cost

    def bare(self, names: tuple[str, ...], first: date, last: date) -> Cost:
        """The same SELECTs as plain CREATE TABLE AS statements, without the model layer."""
        window = Window(first, last + timedelta(days=1)).parameters()
        with timed() as cost:
            for name in names:
                self.con.execute(
                    f"CREATE OR REPLACE TABLE main.bench_bare AS {self.models[name].query}", window
                )
        return cost

    def decide(self, first: date, last: date, policy: FlakyPolicy) -> Cost:
        with timed() as cost:
            warehouse = DirectWarehouse(self.con)
            rows, _ = score_days(warehouse, first, last, policy)
            write_daily(warehouse, first, last, rows)
            refresh_scores(warehouse)
        return cost


def baseline(con: duckdb.DuckDBPyConnection) -> Cost:
    with timed() as cost:
        con.execute(
            "CREATE OR REPLACE TABLE main.bench_group_by AS "
            "SELECT test_id, head_sha, count(*) AS n FROM staging.stg_test_results GROUP BY test_id, head_sha"
        )
    return cost


def scoring_vs_group_by(workdir: Path, rows: int, repeats: int) -> dict:
    days = 14
    policy = FlakyPolicy(window_days=days)
    pipe = Pipeline.open(workdir / "ratio.duckdb")
    with timed() as generating:
        generate(pipe.con, START, days, rows // days, 0)
    last = START + timedelta(days=days - 1)
    staging = pipe.build(STAGING[:1], START, last)
    ((results, commits),) = pipe.con.execute(
        "SELECT count(*), count(DISTINCT (test_id, head_sha)) FROM staging.stg_test_results"
    ).fetchall()
    baseline(pipe.con)  # warm both sides alike
    base, models, bare, deciding = [], [], [], []
    for _ in range(repeats):
        base.append(baseline(pipe.con))
        models.append(pipe.build(SCORING_MODELS, START, last))
        bare.append(pipe.bare(SCORING_MODELS, START, last))
        deciding.append(pipe.decide(last, last, policy))
    ((scored, flagged),) = pipe.con.execute(
        "SELECT count(*), count(*) FILTER (WHERE status IN ('flaky', 'quarantined')) FROM marts.flaky_scores"
    ).fetchall()
    pipe.con.close()
    return {
        "results": results,
        "groups": commits,
        "generate": generating,
        "staging": staging,
        "baseline": median(base),
        "models": median(models),
        "bare": median(bare),
        "decide": median(deciding),
        "scoring": median([m + d for m, d in zip(models, deciding, strict=True)]),
        "tests": scored,
        "flagged": flagged,
    }


def new_day_cost(workdir: Path, history_days: int, rows_per_day: int, new_days: int) -> dict:
    policy = FlakyPolicy()
    pipe = Pipeline.open(workdir / f"history-{history_days}.duckdb")
    next_job = generate(pipe.con, START, history_days, rows_per_day, 0)
    last = START + timedelta(days=history_days - 1)
    pipe.build(STAGING, START, last)
    # The state the new days continue from: the last window of history, decided day by day.
    pipe.decide(last - timedelta(days=policy.window_days - 1), last, policy)
    costs = []
    for n in range(1, new_days + 1):
        day = last + timedelta(days=n)
        next_job = generate(pipe.con, day, 1, rows_per_day, next_job)  # ingestion, not timed
        pipe.con.execute("CHECKPOINT")
        costs.append(pipe.build(STAGING, day, day) + pipe.decide(day, day, policy))
    ((results,),) = pipe.con.execute("SELECT count(*) FROM raw.test_results").fetchall()
    pipe.con.close()
    return {"results": results, "day": median(costs)}


def run(quick: bool) -> str:
    rows = 1_000_000 if quick else 10_000_000
    repeats = 3 if quick else 5
    rows_per_day = 10_000 if quick else 40_000
    histories = (30, 120) if quick else (30, 365)
    with tempfile.TemporaryDirectory(prefix="vigil-bench-flaky-") as tmp:
        workdir = Path(tmp)
        r = scoring_vs_group_by(workdir, rows, repeats)
        month = new_day_cost(workdir, histories[0], rows_per_day, repeats)
        year = new_day_cost(workdir, histories[1], rows_per_day, repeats)
    base, score, m, y = r["baseline"], r["scoring"], month["day"], year["day"]
    bare = r["bare"] + r["decide"]
    return textwrap.dedent(
        f"""
        ### Flaky-test scoring (`bench/bench_flaky.py`{" --quick" if quick else ""})

        | figure | wall | CPU |
        |---|---|---|
        | staging.stg_test_results rows (14 days) / distinct (test_id, head_sha) | {r["results"]:,} / {r["groups"]:,} | |
        | setup: generate raw rows in DuckDB | {r["generate"].wall:.1f} s | {r["generate"].cpu:.1f} s |
        | setup: build staging.stg_test_results (not counted: every test mart reads it) | {r["staging"].wall:.1f} s | {r["staging"].cpu:.1f} s |
        | baseline: `GROUP BY test_id, head_sha` into a table (median of {repeats}) | {base.wall:.2f} s | {base.cpu:.2f} s |
        | scoring: test_job_health, test_commit_outcomes, test_cases over 14 days through the model layer (median) | {r["models"].wall:.2f} s | {r["models"].cpu:.2f} s |
        | the same three SELECTs as bare `CREATE TABLE AS` (median) | {r["bare"].wall:.2f} s | {r["bare"].cpu:.2f} s |
        | scoring: window, hysteresis and marts.flaky_scores for the last day (median) | {r["decide"].wall:.2f} s | {r["decide"].cpu:.2f} s |
        | **scoring / GROUP BY** (goal ≤ 3×) | **{score.wall / base.wall:.2f}×** | **{score.cpu / base.cpu:.2f}×** |
        | scoring with the bare SELECTs / GROUP BY (the model layer's share left out) | {bare.wall / base.wall:.2f}× | {bare.cpu / base.cpu:.2f}× |
        | tests scored / flagged flaky (50 planted) | {r["tests"]:,} / {r["flagged"]} | |
        | new day with {histories[0]} days of history ({month["results"]:,} results), median of {repeats} days | {m.wall:.2f} s | {m.cpu:.2f} s |
        | new day with {histories[1]} days of history ({year["results"]:,} results), median of {repeats} days | {y.wall:.2f} s | {y.cpu:.2f} s |
        | **new day, {histories[1]} / {histories[0]} days of history** (goal ≈ 1×) | **{y.wall / m.wall:.2f}×** | **{y.cpu / m.cpu:.2f}×** |

        A new day is {rows_per_day:,} results: the four staging models for that day (stg_test_results
        included), the window and hysteresis for it, and marts.flaky_scores. Timed on one DuckDB
        connection; the warehouse's lock and analyst-snapshot copy are left out on both sides. CPU is
        this process's CPU time (DuckDB's threads included): on a 2-core machine shared with other
        work it moves far less than wall time, so read the ratios from it when the two disagree.
        """
    ).strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 million results, shorter histories")
    print(run(parser.parse_args().quick))


if __name__ == "__main__":
    main()
